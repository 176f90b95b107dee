//! TCP connections whose writes never raise SIGPIPE, and whose reads a lane's thread can wait in.
//!
//! Writing to a socket whose peer has gone away raises SIGPIPE, and its default action kills the
//! process; the library lives in C programs that may not ignore it. Single-buffer writes go out
//! with `send(MSG_NOSIGNAL)` already (Rust's standard library), but hyper hands a request's head
//! and body over as one vectored write, a plain `writev`. Every connection the library makes,
//! TLS and proxies included, is a [`Tcp`], whose vectored writes are `sendmsg(MSG_NOSIGNAL)`.
//!
//! A lane's connections ([`TcpDial::waits`]) also let the lane's thread wait for an answer in
//! the read that takes it ([`AnswerWait`]): one `recv`, where the runtime's way is an
//! `epoll_wait` and then the read, about 6 us more per three-request upload on this project's
//! benchmark machine.

use super::body::BoxError;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tower_service::Service;

/// The longest a lane's thread waits for an answer in `recv`, in one wait and in all the waits
/// for one answer (or the client's timeout, when shorter), before it waits in its runtime
/// instead, where timers run: the stall timer's firing is late by at most twice that. Answers
/// nearly always come sooner.
const RECV_WAIT_LIMIT: Duration = Duration::from_secs(1);

/// Bytes one wait in `recv` takes at most (what a read of an answer's head asks for); the rest
/// stays in the socket for the connection's own reads.
const RECV_WAIT_BUFFER: usize = 8 * 1024;

/// A TCP connection (see the module).
pub(crate) struct Tcp {
    io: TokioIo<TcpStream>,
    /// On a lane's connection, whose socket blocks for reads.
    wait: Option<Arc<AnswerWait>>,
}

impl Tcp {
    pub fn socket(&self) -> &TcpStream {
        self.io.inner()
    }

    /// How to wait for an answer on this connection in `recv`, on a lane's connection.
    pub fn answer_wait(&self) -> Option<&Arc<AnswerWait>> {
        self.wait.as_ref()
    }
}

impl Drop for Tcp {
    fn drop(&mut self) {
        // The socket closes right after: no wait may read from its number again.
        if let Some(wait) = &self.wait {
            wait.state().socket = None;
        }
    }
}

/// Lets a lane's thread wait for an answer in the `recv` that reads it (see the module). The
/// connection's socket blocks for reads, each at most [`RECV_WAIT_LIMIT`]; every other read and
/// every write on it goes with `MSG_DONTWAIT`, as on any other connection. What the wait reads
/// is kept here and handed to the next read of the connection, so its reader sees the bytes in order.
pub(crate) struct AnswerWait {
    state: Mutex<Waited>,
    /// The longest one `recv` waits, and all the waits for one answer together.
    limit: Duration,
    /// The last write could not go on (the socket's buffer is full): the request is not all out,
    /// and waiting for the answer would hold it up.
    write_blocked: AtomicBool,
}

#[derive(Default)]
struct Waited {
    /// The socket's descriptor while the connection is open.
    socket: Option<std::os::fd::RawFd>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The wait's `recv` met the end of the stream (`Ok`) or an error: the next read's result.
    ended: Option<io::Result<()>>,
}

/// What waiting for an answer did.
#[derive(Debug, PartialEq)]
pub(crate) enum Wait {
    /// Bytes came (or the peer's end, or an error): the connection has something to read.
    Came,
    /// Nothing came within [`RECV_WAIT_LIMIT`], or waiting here is not possible now: wait in the
    /// runtime.
    Not,
}

impl AnswerWait {
    /// Makes `socket`'s reads block, each for at most `limit` (or [`RECV_WAIT_LIMIT`]), and
    /// returns how to wait on it; `None` when it cannot be (then it stays as it was).
    fn on(socket: &TcpStream, limit: Duration) -> Option<Arc<AnswerWait>> {
        use std::os::fd::AsRawFd;
        // A zero timeout would mean none at all: reads that wait forever.
        let limit = limit.min(RECV_WAIT_LIMIT).max(Duration::from_millis(1));
        crate::sys::socket::block_reads(socket, limit).then(|| {
            Arc::new(AnswerWait {
                state: Mutex::new(Waited {
                    socket: Some(socket.as_raw_fd()),
                    ..Waited::default()
                }),
                limit,
                write_blocked: AtomicBool::new(false),
            })
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Waited> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits in `recv` until the connection has bytes to read, when the request is all out
    /// (`request_out` and no write blocked) and the waits for this answer began (`since`) less
    /// than a wait's limit ago: an answer whose bytes trickle in must not keep the thread here
    /// past the stall timer, which runs in the runtime.
    pub fn wait(&self, request_out: bool, since: Instant) -> Wait {
        if !request_out
            || self.write_blocked.load(Ordering::Relaxed)
            || since.elapsed() >= self.limit
        {
            return Wait::Not;
        }
        let mut state = self.state();
        let state = &mut *state;
        let Some(fd) = state.socket else {
            return Wait::Not;
        };
        if state.start < state.end || state.ended.is_some() {
            // The connection has not read what the last wait took, so it is not waiting to read:
            // what it waits for will wake the task.
            return Wait::Not;
        }
        if state.buf.is_empty() {
            state.buf = vec![0; RECV_WAIT_BUFFER];
        }
        // SAFETY: `fd` is open while `socket` is set (`Tcp::drop` clears it before the socket
        // closes), and the borrow ends with this call.
        let socket = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        // SAFETY: `[u8]` viewed as `[MaybeUninit<u8>]` (same layout): recv only writes bytes,
        // and initialised bytes may always be written over.
        let buf = unsafe {
            std::slice::from_raw_parts_mut(state.buf.as_mut_ptr().cast(), state.buf.len())
        };
        match crate::sys::socket::recv(&socket, buf, true) {
            Ok(0) => state.ended = Some(Ok(())),
            Ok(n) => (state.start, state.end) = (0, n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return Wait::Not
            }
            Err(e) => state.ended = Some(Err(e)),
        }
        Wait::Came
    }

    /// Hands what a wait read to `buf`; `None` when it read nothing.
    fn take(&self, buf: &mut hyper::rt::ReadBufCursor<'_>) -> Option<io::Result<()>> {
        let mut state = self.state();
        if state.start < state.end {
            let n = (state.end - state.start).min(buf.remaining());
            buf.put_slice(&state.buf[state.start..state.start + n]);
            state.start += n;
            return Some(Ok(()));
        }
        state.ended.take()
    }
}

/// Opens [`Tcp`] connections with hyper-util's connector (name resolution, happy eyeballs,
/// socket options).
#[derive(Clone)]
pub(crate) struct TcpDial {
    pub connector: HttpConnector,
    /// For a lane: its connections let the lane's thread wait for answers in `recv`, each wait
    /// at most this long (the client's timeout, at most [`RECV_WAIT_LIMIT`]).
    pub waits: Option<Duration>,
}

impl Service<http::Uri> for TcpDial {
    type Response = Tcp;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Tcp, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.connector.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let connecting = self.connector.call(dst);
        let waits = self.waits;
        Box::pin(async move {
            let io = connecting.await?;
            let wait = waits.and_then(|limit| AnswerWait::on(io.inner(), limit));
            Ok(Tcp { io, wait })
        })
    }
}

impl Connection for Tcp {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

impl hyper::rt::Read for Tcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let Some(wait) = &self.wait else {
            return Pin::new(&mut self.io).poll_read(cx, buf);
        };
        if let Some(read) = wait.take(&mut buf) {
            return Poll::Ready(read);
        }
        // The socket blocks for reads: this one must not wait (`MSG_DONTWAIT`), and goes the
        // way tokio's own reads go (see `poll_write_vectored`).
        let socket = self.socket();
        loop {
            ready!(socket.poll_read_ready(cx))?;
            // SAFETY: recv only writes into the unfilled part, and `advance` below counts only
            // the bytes it wrote.
            let unfilled = unsafe { buf.as_mut() };
            match socket.try_io(Interest::READABLE, || {
                crate::sys::socket::recv(socket, unfilled, false)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
                Ok(n) => {
                    // SAFETY: recv initialised these `n` bytes.
                    unsafe { buf.advance(n) };
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

impl Tcp {
    /// Writes with `write` when the socket is writable, the way tokio's own writes go: wait
    /// until the socket may be writable, try, and on `WouldBlock` forget the readiness and wait
    /// again. A lane's connection notes whether the write had to wait ([`AnswerWait`]).
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        write: impl Fn(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let socket = self.socket();
        loop {
            let ready = socket.poll_write_ready(cx);
            if let Some(wait) = &self.wait {
                wait.write_blocked
                    .store(ready.is_pending(), Ordering::Relaxed);
            }
            ready!(ready)?;
            match socket.try_io(Interest::WRITABLE, || write(socket)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                written => return Poll::Ready(written),
            }
        }
    }
}

impl hyper::rt::Write for Tcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.wait.is_none() {
            return Pin::new(&mut self.io).poll_write(cx, buf);
        }
        // The socket blocks for reads only: writes go with `MSG_DONTWAIT`.
        self.poll_send(cx, |socket| crate::sys::socket::send(socket, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_send(cx, |socket| crate::sys::socket::send_vectored(socket, bufs))
    }
}
