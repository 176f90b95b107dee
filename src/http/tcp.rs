//! TCP connections whose writes never raise SIGPIPE.
//!
//! Writing to a socket whose peer has gone away raises SIGPIPE, and its default action kills the
//! process; the library lives in C programs that may not ignore it. Single-buffer writes go out
//! with `send(MSG_NOSIGNAL)` already (Rust's standard library), but hyper hands a request's head
//! and body over as one vectored write, a plain `writev`. Every connection the library makes,
//! TLS and proxies included, is a [`Tcp`], whose vectored writes are `sendmsg(MSG_NOSIGNAL)`.

use super::body::BoxError;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tower_service::Service;

/// A TCP connection (see the module).
pub(crate) struct Tcp(TokioIo<TcpStream>);

impl Tcp {
    pub fn socket(&self) -> &TcpStream {
        self.0.inner()
    }
}

/// Opens [`Tcp`] connections with hyper-util's connector (name resolution, happy eyeballs,
/// socket options).
#[derive(Clone)]
pub(crate) struct TcpDial(pub HttpConnector);

impl Service<http::Uri> for TcpDial {
    type Response = Tcp;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Tcp, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let connecting = self.0.call(dst);
        Box::pin(async move { Ok(Tcp(connecting.await?)) })
    }
}

impl Connection for Tcp {
    fn connected(&self) -> Connected {
        self.0.connected()
    }
}

impl hyper::rt::Read for Tcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Tcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let socket = self.socket();
        // tokio's own writes go the same way: wait until the socket may be writable, try, and on
        // `WouldBlock` forget the readiness and wait again.
        loop {
            ready!(socket.poll_write_ready(cx))?;
            match socket.try_io(Interest::WRITABLE, || {
                crate::sys::socket::send_vectored(socket, bufs)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                written => return Poll::Ready(written),
            }
        }
    }
}
