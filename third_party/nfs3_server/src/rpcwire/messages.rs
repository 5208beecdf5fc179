use std::io::Cursor;

use anyhow::bail;
use nfs3_types::rpc::{
    accept_stat_data, accepted_reply, auth_stat, call_body, msg_body, opaque_auth, rejected_reply,
    reply_body, rpc_msg,
};
use nfs3_types::xdr_codec::{Pack, Unpack, Void};

#[derive(Debug)]
pub struct CompleteRpcMessage(Vec<u8>);

impl CompleteRpcMessage {
    /// A record's bytes (all its fragments, without their markers).
    pub const fn new(record: Vec<u8>) -> Self {
        Self(record)
    }

    pub const fn len(&self) -> usize {
        self.0.len()
    }

    /// The record's bytes.
    #[cfg(test)]
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

pub struct IncomingRpcMessage {
    xid: u32,
    body: call_body<'static>,
    data: Option<Vec<u8>>,
    message_start: usize, // offset of the start of the message in the data buffer
}

impl TryFrom<CompleteRpcMessage> for IncomingRpcMessage {
    type Error = anyhow::Error;

    fn try_from(packed: CompleteRpcMessage) -> Result<Self, Self::Error> {
        let packed = packed.0;
        let (rpc, pos) = match rpc_msg::unpack(&mut Cursor::new(&packed)) {
            Ok(ok) => ok,
            Err(err) => {
                bail!("Failed to unpack RPC message: {err}");
            }
        };

        let xid = rpc.xid;
        let body = match rpc.body {
            msg_body::CALL(call) => call,
            msg_body::REPLY(_) => {
                bail!("Expected a CALL message, got REPLY. XID: {xid}");
            }
        };

        Ok(Self {
            xid,
            body,
            data: Some(packed),
            message_start: pos,
        })
    }
}

impl IncomingRpcMessage {
    pub const fn xid(&self) -> u32 {
        self.xid
    }
    pub const fn body(&self) -> &call_body<'static> {
        &self.body
    }

    pub const fn take_data(&mut self) -> Cursor<Vec<u8>> {
        let data = self.data.take().expect("Data already taken");
        let mut cursor = Cursor::new(data);
        cursor.set_position(self.message_start as u64);
        cursor
    }

    pub fn into_success_reply<T>(self, message: &T) -> anyhow::Result<HandleResult>
    where
        T: Pack + 'static,
    {
        self.into_success_reply_with_data(message, None)
    }

    /// A success reply whose `message` ends with an empty opaque that is
    /// to carry `data` (see [`ReplyRecord::with_opaque_tail`]); without
    /// `data`, the reply as packed.
    pub fn into_success_reply_with_data<T>(
        self,
        message: &T,
        data: Option<bytes::Bytes>,
    ) -> anyhow::Result<HandleResult>
    where
        T: Pack + 'static,
    {
        let rpc = rpc_msg {
            xid: self.xid,
            body: msg_body::REPLY(reply_body::MSG_ACCEPTED(accepted_reply {
                verf: opaque_auth::default(),
                reply_data: accept_stat_data::SUCCESS,
            })),
        };
        let packed = pack(&rpc, message)?;
        match data {
            None => Ok(HandleResult::Reply(packed)),
            Some(data) => ReplyRecord::with_opaque_tail(packed.head, data).map(HandleResult::Reply),
        }
    }

    pub fn into_rpc_mismatch(self) -> anyhow::Result<HandleResult> {
        use nfs3_types::rpc::RPC_VERSION_2;

        let reply =
            reply_body::MSG_DENIED(rejected_reply::rpc_mismatch(RPC_VERSION_2, RPC_VERSION_2));

        let rpc = rpc_msg {
            xid: self.xid,
            body: msg_body::REPLY(reply),
        };
        pack(&rpc, &Void).map(HandleResult::Reply)
    }

    pub fn into_auth_error(self, stat: auth_stat) -> anyhow::Result<HandleResult> {
        let rpc = rpc_msg {
            xid: self.xid,
            body: msg_body::REPLY(reply_body::MSG_DENIED(rejected_reply::auth_error(stat))),
        };
        pack(&rpc, &Void).map(HandleResult::Reply)
    }

    pub fn into_error_reply(self, err: accept_stat_data) -> anyhow::Result<HandleResult> {
        let rpc = rpc_msg {
            xid: self.xid,
            body: msg_body::REPLY(reply_body::MSG_ACCEPTED(accepted_reply {
                verf: opaque_auth::default(),
                reply_data: err,
            })),
        };
        pack(&rpc, &Void).map(HandleResult::Reply)
    }
}

pub enum HandleResult {
    Reply(ReplyRecord),
    NoReply,
}

/// A reply record to send: its packed `head` and, for a READ, the file's
/// bytes as the node API returned them (`data`, padded to four bytes on
/// the wire), so the data is written to the socket without being copied
/// into the record first.
#[derive(Debug)]
pub struct ReplyRecord {
    head: Vec<u8>,
    data: bytes::Bytes,
}

/// Zero bytes to pad opaque data to a multiple of four (XDR).
const PADDING: [u8; 4] = [0; 4];

impl ReplyRecord {
    /// A reply packed whole.
    pub const fn packed(head: Vec<u8>) -> Self {
        Self {
            head,
            data: bytes::Bytes::new(),
        }
    }

    /// A reply whose packed `head` ends with an empty variable-length
    /// opaque (its four-byte length, zero), which is to carry `data`: the
    /// length is set to the data's, and the data and its padding follow
    /// the head when the record is written.
    pub fn with_opaque_tail(mut head: Vec<u8>, data: bytes::Bytes) -> anyhow::Result<Self> {
        let len = u32::try_from(data.len())?;
        let at = head
            .len()
            .checked_sub(4)
            .filter(|&at| head[at..] == [0; 4])
            .ok_or_else(|| anyhow::anyhow!("reply does not end with an empty opaque"))?;
        head[at..].copy_from_slice(&len.to_be_bytes());
        Ok(Self { head, data })
    }

    /// The record's length on the wire, padding included.
    pub fn len(&self) -> usize {
        self.head.len() + self.data.len() + self.padding().len()
    }

    /// The record's pieces in order: head, data, padding (some empty).
    pub fn pieces(&self) -> [&[u8]; 3] {
        [&self.head, &self.data, self.padding()]
    }

    fn padding(&self) -> &'static [u8] {
        &PADDING[..(4 - self.data.len() % 4) % 4]
    }
}

fn pack<T>(rpc: &rpc_msg, message: &T) -> anyhow::Result<ReplyRecord>
where
    T: Pack + 'static,
{
    let size = rpc
        .packed_size()
        .checked_add(message.packed_size())
        .expect("Failed to calculate size");

    let mut cursor = Cursor::new(Vec::with_capacity(size));
    rpc.pack(&mut cursor)?;
    message.pack(&mut cursor)?;
    Ok(ReplyRecord::packed(cursor.into_inner()))
}
