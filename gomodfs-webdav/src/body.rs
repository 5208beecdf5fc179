//! The response body type: whole buffers, streams from a channel, and
//! dav-server's bodies, boxed into one type.

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// The body of every response this crate produces.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// A whole body.
pub(crate) fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// No body.
pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A body fed chunk by chunk from a channel; an `Err` item aborts the
/// response (the connection is closed, so the client sees a truncated body,
/// never a short one that looks complete).
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl ChannelBody {
    /// A body and the sender that feeds it (at most `depth` chunks queued).
    pub(crate) fn channel(depth: usize) -> (mpsc::Sender<Result<Bytes, std::io::Error>>, Body) {
        let (tx, rx) = mpsc::channel(depth);
        (tx, ChannelBody { rx }.boxed_unsync())
    }
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }
}
