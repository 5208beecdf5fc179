use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tracing::{debug, info, warn};

use crate::activity::{Activity, Live};
use crate::client_log::warn_client;
use crate::connection::MIN_CALL_BYTES;
use crate::context::RPCContext;
use crate::limits::Limits;
use crate::transaction_tracker::TransactionTracker;
use crate::vfs::adapters::ReadOnlyAdapter;
use crate::vfs::{NfsFileSystem, NfsReadFileSystem};

/// A NFS Tcp Connection Handler
pub struct NFSTcpListener<T: NfsFileSystem + 'static> {
    listener: TcpListener,
    port: u16,
    arcfs: Arc<T>,
    mount_signal: Option<mpsc::Sender<bool>>,
    export_name: Arc<String>,
    file_handle_converter: crate::vfs::handle::FileHandleConverter,
    limits: Limits,
}

#[must_use]
pub fn generate_host_ip(hostnum: u16) -> String {
    format!(
        "127.88.{}.{}",
        ((hostnum >> 8) & 0xFF) as u8,
        (hostnum & 0xFF) as u8
    )
}

/// processes an established socket (see [`crate::connection`])
pub(crate) async fn process_socket<IO, T>(
    socket: IO,
    context: RPCContext<T>,
    activity: &Arc<Activity>,
) -> Result<(), anyhow::Error>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
    T: NfsFileSystem + 'static,
{
    crate::connection::serve(socket, context, activity).await
}

pub trait NFSTcp: Send + Sync {
    /// Gets the true listening port. Useful if the bound port number is 0
    fn get_listen_port(&self) -> u16;

    /// Gets the true listening IP. Useful on windows when the IP may be random
    fn get_listen_ip(&self) -> IpAddr;

    /// Sets a mount listener. A "true" signal will be sent on a mount
    /// and a "false" will be sent on an unmount
    fn set_mount_listener(&mut self, signal: mpsc::Sender<bool>);

    /// Loops forever and never returns handling all incoming connections.
    fn handle_forever(&self) -> impl Future<Output = io::Result<()>> + Send;
}

impl<RO> NFSTcpListener<ReadOnlyAdapter<RO>>
where
    RO: NfsReadFileSystem + 'static,
{
    /// Create a new `NFSTcpListener` with a read-only file system.
    ///
    /// It binds to a ipstr of the form [ip address]:port. For instance,
    /// "127.0.0.1:12000". `fs` is an instance of an implementation
    /// of [`NfsReadFileSystem`].
    pub async fn bind_ro(ipstr: &str, fs: RO) -> io::Result<Self> {
        Self::bind(ipstr, ReadOnlyAdapter::new(fs)).await
    }
}

impl<T: NfsFileSystem + 'static> NFSTcpListener<T> {
    /// Create a new `NFSTcpListener`.
    ///
    /// It binds to a ipstr of the form [ip address]:port. For instance,
    /// "127.0.0.1:12000". `fs` is an instance of an implementation
    /// of [`NfsFileSystem`].
    pub async fn bind(ipstr: &str, fs: T) -> io::Result<Self> {
        Self::bind_inner(ipstr, fs, None).await
    }

    /// Create a new `NFSTcpListener` with a specific generation number.
    ///
    /// The generation number is embedded in file handles and used to detect
    /// stale handles from previous server instances. When multiple NFS server
    /// instances share the same generation number, file handles remain valid
    /// across all instances (e.g. behind a load balancer).
    pub async fn bind_with_generation(
        ipstr: &str,
        fs: T,
        generation_number: u64,
    ) -> io::Result<Self> {
        Self::bind_inner(ipstr, fs, Some(generation_number)).await
    }

    async fn bind_inner(ipstr: &str, fs: T, generation_number: Option<u64>) -> io::Result<Self> {
        let (ip, port) = ipstr.split_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "IP Address must be of form ip:port",
            )
        })?;
        let port = port.parse::<u16>().map_err(|_| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "Port not in range 0..=65535",
            )
        })?;

        let arcfs: Arc<T> = Arc::new(fs);

        if ip == "auto" {
            let mut num_tries_left = 32;

            for try_ip in 1u16.. {
                let ip = generate_host_ip(try_ip);

                let result = Self::bind_internal(&ip, port, arcfs.clone(), generation_number).await;

                match result {
                    Err(_) => {
                        if num_tries_left == 0 {
                            return result;
                        }
                        num_tries_left -= 1;
                    }
                    Ok(_) => {
                        return result;
                    }
                }
            }
            unreachable!(); // Does not detect automatically that loop above never terminates.
        } else {
            // Otherwise, try this.
            Self::bind_internal(ip, port, arcfs, generation_number).await
        }
    }

    async fn bind_internal(
        ip: &str,
        port: u16,
        arcfs: Arc<T>,
        generation_number: Option<u64>,
    ) -> io::Result<Self> {
        let ipstr = format!("{ip}:{port}");
        let listener = TcpListener::bind(&ipstr).await?;
        info!("Listening on {:?}", &ipstr);

        let port = match listener.local_addr().expect("failed to get local address") {
            SocketAddr::V4(s) => s.port(),
            SocketAddr::V6(s) => s.port(),
        };

        let file_handle_converter = generation_number.map_or_else(
            crate::vfs::handle::FileHandleConverter::new,
            crate::vfs::handle::FileHandleConverter::with_generation_number,
        );

        Ok(Self {
            listener,
            port,
            arcfs,
            mount_signal: None,
            export_name: Arc::from("/".to_string()),
            file_handle_converter,
            limits: Limits::default(),
        })
    }

    /// The duplicate-request tracker of one connection. A retransmission
    /// is dropped only when its original came on the same connection,
    /// whose reply reaches the client; one keyed by the client's address
    /// across connections dropped a call from a client that reconnected
    /// from the same address and port (as the Linux client does) with an
    /// xid its earlier connection had used: the reply went to a connection
    /// that is gone, and the client waited for it forever. Every call is
    /// executed again on a new connection, which a read-only filesystem
    /// (all gomodfs serves) answers the same. The tracker goes with its
    /// connection, so nothing has to sweep trackers of closed ones.
    ///
    /// It admits as many calls in progress as the connection's byte budget
    /// does (each call holds at least [`MIN_CALL_BYTES`] of it until its
    /// reply is sent), so the budget's back-pressure is what bounds them:
    /// a fixed cap of 256 answered the 257th call in progress (misses
    /// waiting on downloads, as a kernel client multiplexing many processes
    /// sends them) `SYSTEM_ERR`, an I/O error in the application.
    fn new_transaction_tracker(limits: &Limits) -> Arc<TransactionTracker> {
        const TRANSACTION_LIFETIME: Duration = Duration::from_secs(60);
        /// Completed xids kept beyond the calls in progress.
        const TRANSACTION_TRIM_MARGIN: usize = 2048;
        let in_progress = u16::try_from(limits.max_connection_bytes / MIN_CALL_BYTES)
            .unwrap_or(u16::MAX)
            .clamp(1, u16::MAX - 1);
        Arc::new(TransactionTracker::new(
            TRANSACTION_LIFETIME,
            in_progress,
            usize::from(in_progress) + TRANSACTION_TRIM_MARGIN,
        ))
    }

    /// Sets the limits on record sizes, bytes per connection and
    /// connections (see [`Limits`] for the defaults).
    pub const fn with_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Sets an optional NFS export name.
    ///
    /// - `export_name`: The desired export name without slashes.
    ///
    /// Example: Name `foo` results in the export path `/foo`.
    /// Default path is `/` if not set.
    pub fn with_export_name<S: AsRef<str>>(&mut self, export_name: S) {
        self.export_name = Arc::new(format!(
            "/{}",
            export_name
                .as_ref()
                .trim_end_matches('/')
                .trim_start_matches('/')
        ));
    }
}

impl<T: NfsFileSystem + 'static> NFSTcp for NFSTcpListener<T> {
    /// Gets the true listening port. Useful if the bound port number is 0
    fn get_listen_port(&self) -> u16 {
        let addr = self
            .listener
            .local_addr()
            .expect("failed to get local address");
        addr.port()
    }

    fn get_listen_ip(&self) -> IpAddr {
        let addr = self
            .listener
            .local_addr()
            .expect("failed to get local address");
        addr.ip()
    }

    /// Sets a mount listener. A "true" signal will be sent on a mount
    /// and a "false" will be sent on an unmount
    fn set_mount_listener(&mut self, signal: mpsc::Sender<bool>) {
        self.mount_signal = Some(signal);
    }

    /// Loops forever and never returns handling all incoming connections.
    async fn handle_forever(&self) -> io::Result<()> {
        let connections = Arc::new(Semaphore::new(self.limits.max_connections));
        let live = Live::new();
        loop {
            let (socket, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: keep listening.
                    warn!("accepting an NFS connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let context = RPCContext {
                local_port: self.port,
                client_addr: peer.to_string(),
                auth: nfs3_types::rpc::auth_unix::default(),
                vfs: self.arcfs.clone(),
                mount_signal: self.mount_signal.clone(),
                export_name: self.export_name.clone(),
                transaction_tracker: Self::new_transaction_tracker(&self.limits),
                file_handle_converter: self.file_handle_converter,
                limits: self.limits,
                call_budget: None,
            };
            let (connections, live) = (connections.clone(), live.clone());
            let max_connections = self.limits.max_connections;
            // Admitted in the connection's task: waiting for a place to be
            // made does not hold up accepting the next connection.
            tokio::spawn(async move {
                let Some(connection) = admit(&connections, &live).await else {
                    warn_client(
                        &context.client_addr,
                        format_args!(
                            "refusing the connection: {max_connections} connections are \
                             open (the limit), none of them idle"
                        ),
                    );
                    return;
                };
                let registered = live.register();
                info!("Accepting connection from {}", context.client_addr);
                debug!("Accepting socket {:?} {:?}", socket, context);
                let _ = socket.set_nodelay(true);
                if let Err(e) = keep_alive(&socket) {
                    debug!("TCP keepalive on a connection from {peer}: {e}");
                }
                let _ = process_socket(socket, context, &registered.activity).await;
                drop(registered);
                drop(connection);
            });
        }
    }
}

/// How long a connection may be silent before TCP probes its client.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);

/// Time between TCP's probes of a silent client.
#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// Unanswered probes after which the connection is closed.
#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
const KEEPALIVE_PROBES: u32 = 4;

/// How long data sent may stay unacknowledged (a client gone while
/// replies were on their way) before the connection is closed.
#[cfg(target_os = "linux")]
const UNACKNOWLEDGED_LIMIT: Duration = Duration::from_secs(120);

/// Lets TCP find out that a client is gone: a connection silent for
/// [`KEEPALIVE_IDLE`] is probed, and closed once
/// [`KEEPALIVE_PROBES`] probes went unanswered (two minutes in all), or,
/// on Linux, once data sent has gone unacknowledged for
/// [`UNACKNOWLEDGED_LIMIT`] (without it, TCP retries for about 15
/// minutes). A client that vanished without closing its connection (a
/// virtual machine killed, a network gone) then frees its place and its
/// buffers without waiting for a new client to need the place
/// ([`crate::activity`]). A live client answers the probes from its
/// kernel, idle or not: a mount that sits unused for hours keeps its
/// connection.
fn keep_alive(socket: &tokio::net::TcpStream) -> io::Result<()> {
    let keepalive = socket2::TcpKeepalive::new().with_time(KEEPALIVE_IDLE);
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
    let keepalive = keepalive
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    let socket = socket2::SockRef::from(socket);
    socket.set_tcp_keepalive(&keepalive)?;
    #[cfg(target_os = "linux")]
    socket.set_tcp_user_timeout(Some(UNACKNOWLEDGED_LIMIT))?;
    Ok(())
}

/// How long a new connection waits for the slot of an idle one asked to
/// close (it closes as soon as its task runs).
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// A slot for a connection just accepted: a free one, or, at the cap, the
/// slot of the connection idle the longest, which is asked to close; none
/// if every connection has a call going on.
async fn admit(connections: &Arc<Semaphore>, live: &Live) -> Option<OwnedSemaphorePermit> {
    if let Ok(free) = connections.clone().try_acquire_owned() {
        return Some(free);
    }
    if !live.evict_longest_idle() {
        return None;
    }
    tokio::time::timeout(EVICTION_WAIT, connections.clone().acquire_owned())
        .await
        .ok()?
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener at its cap of one connection, held by `registered`.
    fn at_the_cap() -> (Arc<Semaphore>, Arc<Live>, OwnedSemaphorePermit) {
        let connections = Arc::new(Semaphore::new(1));
        let held = connections
            .clone()
            .try_acquire_owned()
            .unwrap_or_else(|_| unreachable!("one permit, none taken"));
        (connections, Live::new(), held)
    }

    #[tokio::test]
    async fn a_free_place_is_taken_at_once() {
        let connections = Arc::new(Semaphore::new(1));
        assert!(admit(&connections, &Live::new()).await.is_some());
    }

    #[tokio::test]
    async fn at_the_cap_with_every_connection_busy_a_new_one_is_refused_at_once() {
        let (connections, live, _held) = at_the_cap();
        let busy = live.register();
        busy.activity.call_started();
        let asked = tokio::time::Instant::now();
        assert!(admit(&connections, &live).await.is_none());
        assert!(asked.elapsed() < EVICTION_WAIT / 10);
    }

    #[tokio::test]
    async fn the_place_of_the_idle_connection_asked_to_close_is_taken() {
        let (connections, live, held) = at_the_cap();
        let idle = live.register();
        // The idle connection closes when asked, giving its place back.
        let closing = tokio::spawn(async move {
            idle.activity.evicted().await;
            drop(held);
        });
        assert!(admit(&connections, &live).await.is_some());
        closing.await.unwrap_or_else(|e| panic!("{e}"));
    }

    /// Whether `activity` has been asked to close (a request not yet
    /// seen is kept for it).
    async fn asked(activity: &Activity) -> bool {
        tokio::time::timeout(Duration::from_millis(20), activity.evicted())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_connection_that_does_not_close_when_asked_costs_one_refusal_after_the_wait() {
        let (connections, live, _held) = at_the_cap();
        let first = live.register();
        tokio::time::sleep(Duration::from_millis(2)).await;
        let second = live.register();
        // Neither closes: the first (idle the longest) is asked and waited
        // for, then the new connection is refused.
        let started = tokio::time::Instant::now();
        assert!(admit(&connections, &live).await.is_none());
        assert!(started.elapsed() >= EVICTION_WAIT);
        assert!(asked(&first.activity).await && !asked(&second.activity).await);
        // The next arrival asks the other one, not the first again.
        assert!(admit(&connections, &live).await.is_none());
        assert!(asked(&second.activity).await && !asked(&first.activity).await);
    }
}
