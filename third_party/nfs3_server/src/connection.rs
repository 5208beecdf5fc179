//! One connection, served by one task: records are parsed from the bytes
//! received, each call is polled once right there and answered in place
//! when it completes at once (nearly every call: gomodfs answers from its
//! store and caches), and the replies waiting leave together in one
//! vectored write. A call that does not complete at once (it waits for a
//! download, for the connection's budget, or for a thread; a filesystem
//! that blocks must yield first) goes on in a task of its own, and its
//! reply comes back through a channel. So do the calls of a batch (calls
//! received together, as a client with several in flight sends them) once
//! the calls answered in place have taken [`IN_PLACE_BUDGET`]: the
//! runtime's other workers may then take them.
//!
//! With no call going on and every reply sent, a connection closes when
//! its listener, at its cap on connections, asks it to make room
//! ([`crate::activity`]).
//!
//! Until 2026-12-04 (afternoon) every call with more received behind it
//! went to a task of its own: each a wake-up of another worker and a reply
//! handed back through the channel. Reading spf13/cobra's 66 files over
//! one connection with 4 READs in flight took 2.0 ms that way and 0.8 ms
//! answered in place (a 4-reader FUSE walk of it: 1.0 ms).
//!
//! This replaced a pipeline of tasks per connection (a socket reader
//! feeding an in-memory pipe, a record reader spawning a task per call,
//! and a writer fed by a channel): three task hand-offs per call. NULL
//! calls from 16 connections cost the server 8 us of CPU each instead of
//! 10 (125,000 a second against 104,000 on two vCPUs).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use nfs3_types::rpc::fragment_header;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tracing::debug;

use crate::activity::Activity;
use crate::client_log::warn_client;
use crate::context::RPCContext;
use crate::limits::{CallBudget, ConnectionBudget, RecordTooLarge};
use crate::rpcwire::messages::{CompleteRpcMessage, HandleResult, ReplyRecord};
use crate::rpcwire::{MAX_BATCH_BYTES, MAX_BATCH_REPLIES, handle_rpc_message, write_records};
use crate::units::KIBIBYTE;
use crate::vfs::NfsFileSystem;

/// What a call holds of its connection's budget at least: its reply may be
/// a little larger than the call.
pub const MIN_CALL_BYTES: usize = KIBIBYTE as usize;

/// The size of the receive buffer at first.
const RECEIVE_BYTES: usize = 64 * KIBIBYTE as usize;

/// The least room offered to one receive.
const MIN_ROOM: usize = 16 * KIBIBYTE as usize;

/// How long the calls of one batch are answered in place before the rest
/// of the batch goes to tasks of their own (where the runtime's other
/// workers can take them): long enough for dozens of calls answered from
/// memory, short against reading a large file from the store.
const IN_PLACE_BUDGET: Duration = Duration::from_micros(250);

/// A reply, with what its call holds of the connection's budget (released
/// once the reply is sent); an error closes the connection.
type Answer = Result<(ReplyRecord, Option<OwnedSemaphorePermit>), anyhow::Error>;

/// Bytes received and not yet parsed, and the fragments of a record that
/// is not complete yet.
#[derive(Debug, Default)]
struct Incoming {
    buf: Vec<u8>,
    /// Where the unparsed bytes begin and end in `buf`.
    start: usize,
    end: usize,
    /// The fragments of the current record received so far, without their
    /// markers.
    partial: Vec<u8>,
}

impl Incoming {
    /// The next complete record among the bytes received, if there is one.
    /// A record (all its fragments) larger than `max_record_size` is an
    /// error as soon as the marker that makes it so is received.
    fn next_record(
        &mut self,
        max_record_size: usize,
    ) -> Result<Option<CompleteRpcMessage>, RecordTooLarge> {
        loop {
            let Some(header) = self.marker() else {
                return Ok(None);
            };
            let len = header.fragment_length() as usize;
            let size = self.partial.len().saturating_add(len);
            if size > max_record_size {
                return Err(RecordTooLarge {
                    size,
                    limit: max_record_size,
                });
            }
            if self.end - self.start - 4 < len {
                return Ok(None);
            }
            let fragment = self.start + 4..self.start + 4 + len;
            self.start = fragment.end;
            if header.eof() {
                let mut record = std::mem::take(&mut self.partial);
                record.extend_from_slice(&self.buf[fragment]);
                return Ok(Some(CompleteRpcMessage::new(record)));
            }
            self.partial.extend_from_slice(&self.buf[fragment]);
        }
    }

    /// The record marker at the start of the unparsed bytes, once its four
    /// bytes are received.
    fn marker(&self) -> Option<fragment_header> {
        let word: [u8; 4] = self
            .buf
            .get(self.start..self.end)?
            .get(..4)?
            .try_into()
            .ok()?;
        Some(word.into())
    }

    /// Whether a whole fragment is already received after the record
    /// just taken (another call waits behind it).
    fn more_waiting(&self) -> bool {
        self.marker()
            .is_some_and(|header| self.end - self.start >= 4 + header.fragment_length() as usize)
    }

    /// Room after the unparsed bytes to receive into (at least
    /// [`MIN_ROOM`]): the unparsed bytes are moved to the front when the
    /// room runs short, and the buffer grows (doubling, from
    /// [`RECEIVE_BYTES`]) only when they fill it, so it holds at most about
    /// twice what was received of one record.
    fn room(&mut self) -> &mut [u8] {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        if self.buf.len() - self.end < MIN_ROOM && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.buf.len() - self.end < MIN_ROOM {
            let grown = (self.buf.len() * 2).max(RECEIVE_BYTES);
            self.buf.resize(grown, 0);
        }
        &mut self.buf[self.end..]
    }
}

/// The replies waiting to be written, with the budget they hold.
#[derive(Default)]
struct Outgoing {
    records: Vec<ReplyRecord>,
    permits: Vec<Option<OwnedSemaphorePermit>>,
    bytes: usize,
}

impl Outgoing {
    /// Whether the batch is as large as one write takes.
    const fn full(&self) -> bool {
        self.records.len() >= MAX_BATCH_REPLIES || self.bytes >= MAX_BATCH_BYTES
    }

    /// Queues a reply; a failed call's error is returned (the connection
    /// closes once the replies queued before it are written).
    fn push(&mut self, answer: Answer) -> anyhow::Result<()> {
        let (record, permit) = answer?;
        self.bytes += record.len();
        self.records.push(record);
        self.permits.push(permit);
        Ok(())
    }

    /// Writes the replies waiting, in one vectored write where the socket
    /// takes them, and gives their budget back. A write the client does
    /// not take (it stopped reading: the socket's buffers are full) ends
    /// with an error when the listener asks the connection to close to
    /// make room ([`crate::activity`]): such a connection would otherwise
    /// hold its place as long as its client does not read.
    async fn flush(
        &mut self,
        writer: &mut (impl AsyncWrite + Unpin),
        activity: &Activity,
    ) -> anyhow::Result<()> {
        if self.records.is_empty() {
            return Ok(());
        }
        // Nearly every write completes at once: no eviction signal then.
        let written = {
            let mut write = std::pin::pin!(write_records(writer, &self.records));
            match poll_once(write.as_mut()).await {
                Poll::Ready(written) => written,
                Poll::Pending => {
                    activity.write_waits(true);
                    let written = tokio::select! {
                        biased;
                        written = &mut write => written,
                        () = activity.evicted() => Err(anyhow!(
                            "closed to make room for a new connection: the client \
                             had not taken its replies"
                        )),
                    };
                    activity.write_waits(false);
                    written
                }
            }
        };
        self.records.clear();
        self.permits.clear();
        self.bytes = 0;
        written
    }
}

/// Answers one call: its reply with the budget it holds, nothing for a
/// retransmission, or an error that closes the connection.
async fn answer<T: NfsFileSystem>(
    context: RPCContext<T>,
    message: CompleteRpcMessage,
    budget: CallBudget,
) -> Option<Answer> {
    let peer = context.client_addr.clone();
    match handle_rpc_message(context, message).await {
        Ok(HandleResult::Reply(reply)) => Some(Ok((reply, budget.take_held()))),
        Ok(HandleResult::NoReply) => None,
        Err(err) => {
            warn_client(&peer, format_args!("error handling RPC message: {err}"));
            Some(Err(anyhow!("Error handling RPC message")))
        }
    }
}

/// Serves one connection until the client closes it, sends too large a
/// record, or a call fails, or, idle, the listener asks it to close
/// (`activity`: see [`crate::activity`]).
pub async fn serve<IO, T>(
    socket: IO,
    context: RPCContext<T>,
    activity: &Arc<Activity>,
) -> anyhow::Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    T: NfsFileSystem + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(socket);
    let budget = ConnectionBudget::new(&context.limits);
    let max_record_size = context.limits.max_record_size;
    // The replies of calls that went on in tasks of their own.
    let (slow_done, mut slow) = mpsc::unbounded_channel::<Answer>();
    let mut incoming = Incoming::default();
    let mut out = Outgoing::default();
    // Queues a reply; on a failed call, writes what is queued and ends.
    macro_rules! queue {
        ($reply:expr) => {
            if let Err(failed) = out.push($reply) {
                out.flush(&mut writer, activity).await?;
                return Err(failed);
            }
        };
    }
    loop {
        let batch = Instant::now();
        loop {
            let message = match incoming.next_record(max_record_size) {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(too_large) => {
                    warn_client(
                        &context.client_addr,
                        format_args!("{too_large}; closing the connection"),
                    );
                    out.flush(&mut writer, activity).await?;
                    return Err(too_large.into());
                }
            };
            // Stops reading this connection while it holds its whole
            // budget: the replies waiting are sent (giving theirs back),
            // and the replies of calls still going on are sent as they
            // come, until the call's bytes are free.
            let need = message.len().max(MIN_CALL_BYTES);
            let held = if let Some(held) = budget.try_take(need) {
                Some(held)
            } else {
                out.flush(&mut writer, activity).await?;
                loop {
                    tokio::select! {
                        biased;
                        reply = slow.recv() => {
                            // `slow_done` is held here, so the channel stays open.
                            if let Some(reply) = reply {
                                queue!(reply);
                                out.flush(&mut writer, activity).await?;
                            }
                        }
                        held = budget.take(need) => break held,
                    }
                }
            };
            let call_budget = CallBudget::new(budget.clone(), held);
            let mut call_context = context.clone();
            call_context.call_budget = Some(call_budget.clone());
            let mut call = Box::pin(answer(call_context, message, call_budget));
            // Once the batch has taken its time in place, a call with more
            // received behind it goes to a task of its own, where the
            // runtime's other workers can take it; the last is polled here
            // first.
            let polled = if incoming.more_waiting() && batch.elapsed() >= IN_PLACE_BUDGET {
                Poll::Pending
            } else {
                poll_once(call.as_mut()).await
            };
            match polled {
                Poll::Ready(Some(reply)) => queue!(reply),
                Poll::Ready(None) => {}
                Poll::Pending => {
                    let done = slow_done.clone();
                    let activity = Arc::clone(activity);
                    activity.call_started();
                    // The call ends here, not when the connection takes
                    // its reply: a connection stuck writing to a client
                    // that stopped reading has no call going on.
                    tokio::spawn(async move {
                        let answer = call.await;
                        activity.call_ended();
                        if let Some(reply) = answer {
                            let _ = done.send(reply);
                        }
                    });
                }
            }
            if out.full() {
                out.flush(&mut writer, activity).await?;
            }
        }
        while let Ok(reply) = slow.try_recv() {
            queue!(reply);
        }
        out.flush(&mut writer, activity).await?;
        let event = next_event(&mut reader, &mut incoming, &mut slow, activity).await?;
        match event {
            Event::Received => {}
            Event::Replied(reply) => queue!(reply),
            Event::Closed => return Ok(()),
        }
    }
}

/// What [`serve`] waits for once every reply waiting is sent.
enum Event {
    /// Bytes were received into the buffer.
    Received,
    /// A call that went on in a task of its own answered.
    Replied(Answer),
    /// The client closed the connection, or the listener asked this idle
    /// connection to close.
    Closed,
}

/// Waits for bytes from the client, a reply from a call in its own task, or,
/// when no call is going on (every reply is sent), the listener asking the
/// connection to close: the client reconnects on its next call (and sends
/// again there a record it was still sending).
async fn next_event(
    reader: &mut (impl AsyncRead + Unpin),
    incoming: &mut Incoming,
    slow: &mut mpsc::UnboundedReceiver<Answer>,
    activity: &Activity,
) -> anyhow::Result<Event> {
    // Biased: a reply that came back is queued before the connection
    // reads more or closes (replies are finite, reads are not).
    tokio::select! {
        biased;
        // `serve` holds a sender, so the channel stays open.
        Some(reply) = slow.recv() => Ok(Event::Replied(reply)),
        received = reader.read(incoming.room()) => match received {
            Ok(0) => Ok(Event::Closed),
            Ok(n) => {
                incoming.end += n;
                activity.touch();
                Ok(Event::Received)
            }
            Err(e) => {
                debug!("Message handling closed : {e}");
                Err(e.into())
            }
        },
        () = activity.evicted(), if activity.idle() => {
            debug!("closing an idle connection to make room for a new one");
            Ok(Event::Closed)
        }
    }
}

/// Polls `call` once in the current task: its output if it completed, or
/// `Pending` (it registered this task's waker, and the task it is moved to
/// polls it again at once, so a spurious wake-up here is all it costs).
async fn poll_once<F: Future + ?Sized>(mut call: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Puts `bytes` into `incoming` as if received.
    fn receive(incoming: &mut Incoming, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = incoming.room();
            let n = room.len().min(bytes.len());
            room[..n].copy_from_slice(&bytes[..n]);
            incoming.end += n;
            bytes = &bytes[n..];
        }
    }

    fn fragment(last: bool, data: &[u8]) -> Vec<u8> {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let mut out = (len | if last { 1 << 31 } else { 0 })
            .to_be_bytes()
            .to_vec();
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn records_come_whole_from_fragments_and_partial_receives() {
        let mut incoming = Incoming::default();
        let mut bytes = fragment(true, b"one!");
        bytes.extend(fragment(false, b"tw"));
        bytes.extend(fragment(true, b"o!"));
        bytes.extend(fragment(true, &vec![7; 100_000]));
        // The first record and half of the rest.
        receive(&mut incoming, &bytes[..30]);
        let first = incoming.next_record(1 << 20).ok().flatten();
        assert_eq!(
            first.map(CompleteRpcMessage::into_bytes),
            Some(b"one!".to_vec())
        );
        let second = incoming.next_record(1 << 20).ok().flatten();
        assert_eq!(
            second.map(CompleteRpcMessage::into_bytes),
            Some(b"two!".to_vec())
        );
        assert!(matches!(incoming.next_record(1 << 20), Ok(None)));
        receive(&mut incoming, &bytes[30..]);
        let third = incoming.next_record(1 << 20).ok().flatten();
        assert_eq!(
            third.map(CompleteRpcMessage::into_bytes),
            Some(vec![7; 100_000])
        );
        assert!(matches!(incoming.next_record(1 << 20), Ok(None)));
        assert!(
            incoming.buf.len() <= 4 * RECEIVE_BYTES,
            "{}",
            incoming.buf.len()
        );
    }

    #[test]
    fn a_marker_over_the_limit_is_refused_before_its_data() {
        let mut incoming = Incoming::default();
        receive(&mut incoming, &(0x8000_0000_u32 | (1 << 30)).to_be_bytes());
        let refused = incoming.next_record(1 << 20);
        assert!(matches!(refused, Err(RecordTooLarge { size, .. }) if size == 1 << 30));
        assert!(incoming.buf.len() <= RECEIVE_BYTES);
        // Fragments that add up past the limit.
        let mut incoming = Incoming::default();
        let mut bytes = fragment(false, &[1; 600]);
        bytes.extend(fragment(false, &[2; 600]));
        receive(&mut incoming, &bytes);
        assert!(matches!(
            incoming.next_record(1000),
            Err(RecordTooLarge { size: 1200, .. })
        ));
    }
}
