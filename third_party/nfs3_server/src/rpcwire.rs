use std::io::Cursor;

use messages::{CompleteRpcMessage, HandleResult, IncomingRpcMessage, ReplyRecord};
use nfs3_types::rpc::{
    RPC_VERSION_2, accept_stat_data, auth_flavor, auth_stat, auth_unix, call_body, fragment_header,
};
use nfs3_types::xdr_codec::{Pack, Unpack};
use nfs3_types::{nfs3 as nfs, portmap};
use tokio::io::AsyncWriteExt;
use tracing::{info, trace, warn};

use crate::client_log::warn_client;
use crate::context::RPCContext;
use crate::transaction_tracker::{self, TransactionError, TransactionLock};
use crate::vfs::NfsFileSystem;
use crate::{mount_handlers, nfs_handlers, portmap_handlers};

pub mod messages;

// Information from RFC 5531
// https://datatracker.ietf.org/doc/html/rfc5531

const NFS_ACL_PROGRAM: u32 = 100_227;
const NFS_ID_MAP_PROGRAM: u32 = 100_270;
const NFS_METADATA_PROGRAM: u32 = 200_024;

/// Answers one call (a complete record).
pub async fn handle_rpc_message<T>(
    mut context: RPCContext<T>,
    message: CompleteRpcMessage,
) -> anyhow::Result<HandleResult>
where
    T: NfsFileSystem,
{
    let message = IncomingRpcMessage::try_from(message)?;
    let xid = message.xid();
    let call = message.body();
    let prog = call.prog;

    if call.rpcvers != RPC_VERSION_2 {
        warn!("Invalid RPC version {} != {RPC_VERSION_2}", call.rpcvers);
        return message.into_rpc_mismatch();
    }

    let unix = call.cred.flavor == auth_flavor::AUTH_UNIX;
    if unix {
        let auth = auth_unix::unpack(&mut Cursor::new(&call.cred.body.0))?.0;
        context.auth = auth;
    }
    if prog != portmap::PROGRAM && !context.vfs.authorize(unix.then_some(&context.auth)) {
        warn!(
            "refusing a call from uid {} on {}",
            context.auth.uid, context.client_addr
        );
        return message.into_auth_error(auth_stat::AUTH_TOOWEAK);
    }

    let transaction = lock_transaction(
        &context.transaction_tracker,
        &context.client_addr,
        xid,
        call,
    );
    if let Err(msg) = transaction {
        match msg {
            Some(err) => return message.into_error_reply(err),
            None => {
                // This is a retransmission, so we don't need to do anything
                return Ok(HandleResult::NoReply);
            }
        }
    }

    match prog {
        portmap::PROGRAM => portmap_handlers::handle_portmap(context, message).await,
        nfs3_types::mount::PROGRAM => mount_handlers::handle_mount(context, message).await,
        nfs::PROGRAM => nfs_handlers::handle_nfs(context, message).await,
        NFS_ACL_PROGRAM | NFS_ID_MAP_PROGRAM | NFS_METADATA_PROGRAM => {
            trace!("ignoring NFS_ACL packet");
            message.into_error_reply(accept_stat_data::PROG_UNAVAIL)
        }
        _ => {
            warn!("Unknown RPC Program number {prog} != {}", nfs::PROGRAM);
            message.into_error_reply(accept_stat_data::PROG_UNAVAIL)
        }
    }
}

/// Handles the RPC message and returns a result. The handler is an async function
pub async fn handle<I, O, T>(
    context: RPCContext<T>,
    mut message: IncomingRpcMessage,
    handler: impl AsyncFnOnce(RPCContext<T>, u32, I) -> O,
) -> anyhow::Result<HandleResult>
where
    I: Unpack,
    O: Pack + Send + 'static,
    T: NfsFileSystem,
{
    let Some(args) = unpack_args(&context, &mut message) else {
        return message.into_error_reply(accept_stat_data::GARBAGE_ARGS);
    };
    let result = handler(context, message.xid(), args).await;
    message.into_success_reply(&result)
}

/// The call's arguments, or `None` (reported as the client's fault) when
/// they do not unpack, or leave bytes over: the caller answers
/// `GARBAGE_ARGS`.
fn unpack_args<I: Unpack, T: NfsFileSystem>(
    context: &RPCContext<T>,
    message: &mut IncomingRpcMessage,
) -> Option<I> {
    let mut cursor = message.take_data();
    let (args, _) = match I::unpack(&mut cursor) {
        Ok(ok) => ok,
        Err(err) => {
            warn_client(
                &context.client_addr,
                format_args!("failed to unpack message: {err}"),
            );
            return None;
        }
    };
    if cursor.position() != cursor.get_ref().len() as u64 {
        warn_client(
            &context.client_addr,
            format_args!("unpacked message size does not match expected size"),
        );
        return None;
    }
    Some(args)
}

/// [`handle`] for a handler whose reply ends with an empty opaque and
/// comes with the bytes it carries (a READ's data), which are written
/// after the packed reply without being copied into it.
pub async fn handle_with_data<I, O, T>(
    context: RPCContext<T>,
    mut message: IncomingRpcMessage,
    handler: impl AsyncFnOnce(RPCContext<T>, u32, I) -> (O, Option<bytes::Bytes>),
) -> anyhow::Result<HandleResult>
where
    I: Unpack,
    O: Pack + Send + 'static,
    T: NfsFileSystem,
{
    let Some(args) = unpack_args(&context, &mut message) else {
        return message.into_error_reply(accept_stat_data::GARBAGE_ARGS);
    };
    let (result, data) = handler(context, message.xid(), args).await;
    message.into_success_reply_with_data(&result, data)
}

fn lock_transaction(
    transaction_tracker: &transaction_tracker::TransactionTracker,
    client_addr: &str,
    xid: u32,
    call: &call_body<'_>,
) -> Result<TransactionLock, Option<accept_stat_data>> {
    let transaction = transaction_tracker.start_transaction(xid);

    match transaction {
        Ok(lock) => Ok(lock),
        Err(TransactionError::AlreadyExists) => {
            info!(
                "Retransmission detected, xid: {xid}, client_addr: {client_addr}, call: {call:?}",
            );
            Err(None)
        }
        Err(TransactionError::TooManyRequests) => {
            warn!("Too many requests, xid: {xid}, client_addr: {client_addr}, call: {call:?}",);

            Err(Some(accept_stat_data::SYSTEM_ERR))
        }
    }
}

/// The most replies [`write_records`] is handed at once, and the most bytes
/// it gathers before writing (the replies already waiting are sent
/// together; one that would pass the byte cap starts the next batch).
pub const MAX_BATCH_REPLIES: usize = 64;
/// See [`MAX_BATCH_REPLIES`].
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// Writes `records`, each as one last fragment, with vectored writes: a
/// record marker and its record leave in the same write (one TCP segment
/// for a small reply, where two writes with `TCP_NODELAY` sent two and woke
/// the client twice), and the replies waiting together leave in one
/// system call.
#[allow(clippy::cast_possible_truncation)]
pub async fn write_records<IO: tokio::io::AsyncWrite + Unpin>(
    socket: &mut IO,
    records: &[ReplyRecord],
) -> Result<(), anyhow::Error> {
    let headers: Vec<[u8; 4]> = records
        .iter()
        .map(|r| {
            assert!(r.len() < (1 << 31));
            trace!("Writing fragment length: {}", r.len());
            fragment_header::new(r.len() as u32, true).into_xdr_buf()
        })
        .collect();
    let mut slices: Vec<std::io::IoSlice<'_>> = headers
        .iter()
        .zip(records)
        .flat_map(|(h, r)| {
            let [head, data, padding] = r.pieces();
            [h.as_slice(), head, data, padding].map(std::io::IoSlice::new)
        })
        .filter(|s| !s.is_empty())
        .collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = socket.write_vectored(rest).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
        }
        std::io::IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}
