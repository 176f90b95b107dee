//! Request bodies of the transport: what hyper sends.

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::StreamBody;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Any error a body or the HTTP stack raises.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request's `Content-Length`: a streamed body (a file) does not know its own length, and the
/// stall timer and the HTTP/1.1 framing need it to see the body's end.
pub(crate) fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A request body: bytes in memory or a stream.
pub struct Body {
    kind: Kind,
}

enum Kind {
    /// The whole body, taken by the first poll.
    Full(Option<Bytes>),
    Stream(UnsyncBoxBody<Bytes, BoxError>),
}

impl Body {
    pub fn empty() -> Body {
        Body {
            kind: Kind::Full(None),
        }
    }

    /// A body of the stream's chunks; an error ends the request with that error.
    pub fn wrap_stream<S, E>(stream: S) -> Body
    where
        S: futures_util::Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let frames = stream.map_ok(Frame::data).map_err(Into::into);
        Body {
            kind: Kind::Stream(UnsyncBoxBody::new(StreamBody::new(frames))),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body {
            kind: Kind::Full(Some(b).filter(|b| !b.is_empty())),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::from(Bytes::from(v))
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(s) => Pin::new(s).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Stream(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(s) => s.size_hint(),
        }
    }
}
