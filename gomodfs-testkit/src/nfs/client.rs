//! A blocking NFSv3 test client over `nfs3_client`. Its calls panic when
//! the RPC itself fails (a broken connection fails the test); NFS error
//! statuses are returned.

use nfs3_client::Nfs3ConnectionBuilder;
use nfs3_client::nfs3_types::nfs3::{
    self, Nfs3Result, cookieverf3, diropargs3, fattr3, filename3, nfs_fh3, nfsstat3, post_op_attr,
    post_op_fh3,
};
use nfs3_client::nfs3_types::xdr_codec::Opaque;
use nfs3_client::tokio::TokioConnector;

type Conn = nfs3_client::Nfs3Connection<nfs3_client::tokio::TokioIo<tokio::net::TcpStream>>;

/// One entry of a READDIRPLUS reply.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The name (lossily decoded: gomodfs names are UTF-8).
    pub name: String,
    /// The cookie to continue after this entry.
    pub cookie: u64,
    /// The file id.
    pub fileid: u64,
    /// The attributes, when sent.
    pub attr: Option<fattr3>,
    /// The handle, when sent.
    pub handle: Option<nfs_fh3>,
}

/// A mounted NFSv3 connection with blocking calls.
pub struct Client {
    rt: tokio::runtime::Runtime,
    conn: Conn,
    /// READDIRPLUS requests sent.
    pub readdir_requests: usize,
}

impl Client {
    /// Mounts `export` from the server on 127.0.0.1:`port`, finding MOUNT
    /// and NFS through the server's own portmapper on the same port.
    pub fn connect(port: u16, export: &str) -> Client {
        Self::try_connect(port, export).expect("NFS mount")
    }

    /// Like [`Client::connect`], returning the error.
    pub fn try_connect(port: u16, export: &str) -> Result<Client, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let conn = rt
            .block_on(
                Nfs3ConnectionBuilder::new(TokioConnector, "127.0.0.1", export)
                    .portmapper_port(port)
                    .connect_from_privileged_port(false)
                    .mount(),
            )
            .map_err(|e| format!("{e:?}"))?;
        Ok(Client {
            rt,
            conn,
            readdir_requests: 0,
        })
    }

    /// The handle MOUNT gave.
    pub fn root(&self) -> nfs_fh3 {
        self.conn.root_nfs_fh3()
    }

    /// LOOKUP: the handle and attributes of `name` in `dir`.
    pub fn lookup(&mut self, dir: &nfs_fh3, name: &str) -> Result<(nfs_fh3, fattr3), nfsstat3> {
        let args = nfs3::LOOKUP3args {
            what: diropargs3 {
                dir: dir.clone(),
                name: filename3(Opaque::owned(name.as_bytes().to_vec())),
            },
        };
        match self.rt.block_on(self.conn.lookup(&args)).expect("rpc") {
            Nfs3Result::Ok(ok) => {
                let attr = match ok.obj_attributes {
                    post_op_attr::Some(a) => a,
                    post_op_attr::None => panic!("LOOKUP {name} without attributes"),
                };
                Ok((ok.object, attr))
            }
            Nfs3Result::Err((stat, _)) => Err(stat),
        }
    }

    /// LOOKUP of every element of a `/`-separated path from the root.
    pub fn walk(&mut self, path: &str) -> Result<(nfs_fh3, fattr3), nfsstat3> {
        let mut fh = self.root();
        let mut attr = self.getattr(&fh)?;
        for name in path.split('/').filter(|s| !s.is_empty()) {
            (fh, attr) = self.lookup(&fh, name)?;
        }
        Ok((fh, attr))
    }

    /// GETATTR.
    pub fn getattr(&mut self, fh: &nfs_fh3) -> Result<fattr3, nfsstat3> {
        let args = nfs3::GETATTR3args { object: fh.clone() };
        match self.rt.block_on(self.conn.getattr(&args)).expect("rpc") {
            Nfs3Result::Ok(ok) => Ok(ok.obj_attributes),
            Nfs3Result::Err((stat, _)) => Err(stat),
        }
    }

    /// One READ: the bytes and the eof flag.
    pub fn read(
        &mut self,
        fh: &nfs_fh3,
        offset: u64,
        count: u32,
    ) -> Result<(Vec<u8>, bool), nfsstat3> {
        let args = nfs3::READ3args {
            file: fh.clone(),
            offset,
            count,
        };
        match self.rt.block_on(self.conn.read(&args)).expect("rpc") {
            Nfs3Result::Ok(ok) => Ok((ok.data.0.into_owned(), ok.eof)),
            Nfs3Result::Err((stat, _)) => Err(stat),
        }
    }

    /// READs of `chunk` bytes until eof.
    pub fn read_all(&mut self, fh: &nfs_fh3, chunk: u32) -> Result<Vec<u8>, nfsstat3> {
        let mut out = vec![];
        loop {
            let (data, eof) = self.read(fh, out.len() as u64, chunk)?;
            if eof && out.is_empty() {
                // A file read in one READ: its bytes as they came.
                return Ok(data);
            }
            out.extend_from_slice(&data);
            if eof {
                return Ok(out);
            }
            assert!(!data.is_empty(), "READ returned nothing before eof");
        }
    }

    /// One READDIRPLUS page: entries, eof, and the verifier.
    pub fn readdirplus(
        &mut self,
        dir: &nfs_fh3,
        cookie: u64,
        verf: cookieverf3,
        maxcount: u32,
    ) -> Result<(Vec<Entry>, bool, cookieverf3), nfsstat3> {
        self.readdir_requests += 1;
        let args = nfs3::READDIRPLUS3args {
            dir: dir.clone(),
            cookie,
            cookieverf: verf,
            dircount: maxcount,
            maxcount,
        };
        match self.rt.block_on(self.conn.readdirplus(&args)).expect("rpc") {
            Nfs3Result::Ok(ok) => {
                let entries = ok
                    .reply
                    .entries
                    .0
                    .into_iter()
                    .map(|e| Entry {
                        name: String::from_utf8_lossy(e.name.as_ref()).into_owned(),
                        cookie: e.cookie,
                        fileid: e.fileid,
                        attr: match e.name_attributes {
                            post_op_attr::Some(a) => Some(a),
                            post_op_attr::None => None,
                        },
                        handle: match e.name_handle {
                            post_op_fh3::Some(h) => Some(h),
                            post_op_fh3::None => None,
                        },
                    })
                    .collect();
                Ok((entries, ok.reply.eof, ok.cookieverf))
            }
            Nfs3Result::Err((stat, _)) => Err(stat),
        }
    }

    /// A whole directory by READDIRPLUS pages of at most `maxcount` bytes;
    /// also returns the number of pages.
    pub fn list(&mut self, dir: &nfs_fh3, maxcount: u32) -> Result<(Vec<Entry>, usize), nfsstat3> {
        let mut all: Vec<Entry> = vec![];
        let mut verf = cookieverf3::default();
        let mut pages = 0;
        loop {
            let cookie = all.last().map_or(0, |e| e.cookie);
            let (entries, eof, v) = self.readdirplus(dir, cookie, verf, maxcount)?;
            pages += 1;
            verf = v;
            all.extend(entries);
            if eof {
                return Ok((all, pages));
            }
        }
    }

    /// Runs one raw request future on the client's runtime (for write
    /// operations and other calls without a helper).
    pub fn nfs(
        &mut self,
    ) -> (
        &tokio::runtime::Runtime,
        &mut nfs3_client::Nfs3Client<nfs3_client::tokio::TokioIo<tokio::net::TcpStream>>,
    ) {
        (&self.rt, &mut self.conn.nfs3_client)
    }
}

/// A handle's bytes, to keep across a server restart.
pub fn handle_bytes(fh: &nfs_fh3) -> Vec<u8> {
    fh.data.to_vec()
}

/// A handle from kept bytes.
pub fn handle_from(bytes: &[u8]) -> nfs_fh3 {
    nfs_fh3 {
        data: Opaque::owned(bytes.to_vec()),
    }
}

/// Attributes in a comparable form (`fattr3` has no `PartialEq`).
pub fn a(attr: &fattr3) -> String {
    format!("{attr:?}")
}
