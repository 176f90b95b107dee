//! Stall timers: the client's `timeout` limits silence, never a transfer's length.
//!
//! A request is watched from the moment it is sent until its response headers arrive: every piece
//! of the request body that HTTP takes for the socket resets the timer, so a slow upload that keeps
//! moving never times out, while a peer that stops reading (or never answers) does. Reading a
//! response body is watched the same way, one chunk at a time.
//!
//! What HTTP took is not yet what the peer received: up to a few MiB wait in the socket's buffers
//! after the last piece was taken. On a slow link they need time to drain before the peer can
//! answer, so the wait for the response after the whole body was taken is granted the time such
//! a backlog needs at the rate the body went out (at most as long as the body itself took).
//! That wait begins when the body's last byte was taken, which is known from the body's length,
//! or from the request's `Content-Length` for a body that does not know its own (a streamed
//! file): HTTP never polls such a body for its end.

use super::body::{Body, BoxError};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// Body pieces are handed to HTTP at most this large, so progress is seen at least once per
/// 64 KiB even on a link of a few KiB/s (1 s per piece at 64 KiB/s).
const PIECE: usize = 64 * 1024;
/// A pause between two pieces at least this long means the buffers in front of the link are full.
const FULL_BUFFERS_GAP: Duration = Duration::from_millis(20);

/// When a request last made progress, shared between its body and its watchdog.
#[derive(Debug)]
pub(crate) struct Clock {
    start: Instant,
    state: std::sync::Mutex<Progress>,
}

#[derive(Debug, Default)]
struct Progress {
    /// Since `start`: the last piece taken.
    last: Duration,
    bytes: u64,
    /// The body's length when known, to see its end without waiting for an end-of-stream poll
    /// (HTTP stops polling a body of known length after its last byte).
    expected: Option<u64>,
    done: bool,
    /// Bytes taken before the first pause: what the buffers in front of the link hold.
    burst: Option<u64>,
}

impl Clock {
    pub fn new() -> Arc<Clock> {
        Arc::new(Clock {
            start: Instant::now(),
            state: Default::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(&self, bytes: usize) {
        let now = self.start.elapsed();
        let mut p = self.state();
        if p.burst.is_none() && p.bytes > 0 && now.saturating_sub(p.last) >= FULL_BUFFERS_GAP {
            p.burst = Some(p.bytes);
        }
        p.last = now;
        p.bytes += bytes as u64;
        if p.expected.is_some_and(|e| p.bytes >= e) {
            p.done = true;
        }
    }

    /// A new body starts: nothing of it taken yet, and this counts as progress. A clock's first
    /// body (nearly always its only one) finds it fresh: no clock read.
    fn begin_body(&self, expected: Option<u64>) {
        let mut p = self.state();
        if p.bytes > 0 || p.done {
            *p = Progress {
                last: self.start.elapsed(),
                ..Progress::default()
            };
        }
        p.expected = expected;
    }

    fn finish(&self) {
        self.touch(0);
        self.state().done = true;
    }

    /// Whether HTTP has taken the whole body (an empty one from the start).
    #[cfg(test)]
    fn body_taken(&self) -> bool {
        let p = self.state();
        p.done || p.expected.is_some_and(|e| p.bytes >= e)
    }

    /// The moment the request counts as stalled, given `limit` of silence.
    fn deadline(&self, limit: Duration) -> Instant {
        let p = self.state();
        let mut deadline = self.start + p.last + limit;
        if p.done {
            deadline += drain_time(&p);
        }
        deadline
    }
}

/// How long the end of a body, taken by HTTP but still in buffers, needs to reach the peer: the
/// buffers held what went out before the first pause, and drain at the rate the body went out
/// after it. A body that never paused fit in the buffers: its link speed is unknown, so nothing
/// is added (the limit then covers the drain).
fn drain_time(p: &Progress) -> Duration {
    match p.burst {
        Some(burst) if p.bytes > burst && !p.last.is_zero() => {
            let rate = (p.bytes - burst) as f64 / p.last.as_secs_f64();
            Duration::from_secs_f64((burst as f64 / rate).min(3600.0))
        }
        _ => Duration::ZERO,
    }
}

/// Runs `fut` (a request, until its response headers) and gives up with `None` when `clock` saw
/// no progress for `limit`.
pub(crate) async fn watch<F: Future>(clock: &Clock, limit: Duration, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    loop {
        let deadline = clock.deadline(limit);
        tokio::select! {
            biased;
            out = &mut fut => return Some(out),
            _ = tokio::time::sleep_until(deadline) => {
                if clock.deadline(limit) <= Instant::now() {
                    return None;
                }
            }
        }
    }
}

/// Runs one read of a response body (`fut`) with `limit` of silence; `None` when it passed.
pub(crate) async fn read_within<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    tokio::time::timeout(limit, fut).await.ok()
}

/// A request body that reports every piece HTTP takes to a [`Clock`], in pieces of at most
/// [`PIECE`] bytes.
pub(crate) struct Watched {
    inner: Body,
    pending: Bytes,
    clock: Arc<Clock>,
}

impl Watched {
    /// `inner` watched by `clock`. `length` is the request's `Content-Length`: HTTP stops
    /// polling a body after that many bytes, so a body that does not know its own size (a
    /// streamed file) would never be seen to end, and its buffered tail would get no time.
    /// Each body wrapped starts the clock's count of body bytes again: a redirect's second body
    /// is not taken before its first piece goes.
    pub fn wrap(inner: Body, clock: Arc<Clock>, length: Option<u64>) -> Watched {
        clock.begin_body(inner.size_hint().exact().or(length));
        Watched {
            inner,
            pending: Bytes::new(),
            clock,
        }
    }

    fn piece(&mut self) -> Frame<Bytes> {
        let n = self.pending.len().min(PIECE);
        let piece = self.pending.split_to(n);
        self.clock.touch(piece.len());
        Frame::data(piece)
    }
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if !this.pending.is_empty() {
            return Poll::Ready(Some(Ok(this.piece())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    this.pending = data;
                    Poll::Ready(Some(Ok(this.piece())))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            Poll::Ready(None) => {
                this.clock.finish();
                Poll::Ready(None)
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let extra = self.pending.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + extra);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + extra);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn progress_keeps_a_slow_request_alive_and_silence_ends_it() {
        let clock = Clock::new();
        let limit = Duration::from_secs(2);
        // A "transfer" that makes progress every second for 10 s, then answers.
        let moving = {
            let clock = clock.clone();
            async move {
                for _ in 0..10 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    clock.touch(1000);
                }
                "answer"
            }
        };
        assert_eq!(watch(&clock, limit, moving).await, Some("answer"));

        let silent = Clock::new();
        let t0 = Instant::now();
        let never = std::future::pending::<()>();
        assert_eq!(watch(&silent, limit, never).await, None);
        assert_eq!(t0.elapsed(), limit);
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_body_gets_time_for_its_buffered_tail() {
        let clock = Clock::new();
        clock.state().expected = Some(16 << 20);
        // 4 MiB vanish into buffers at once; the other 12 MiB go out at 2 MiB/s, so the buffered
        // 4 MiB need another 2 s after the last piece was taken.
        for _ in 0..64 {
            clock.touch(64 << 10);
        }
        for _ in 0..12 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            clock.touch(1 << 20);
        }
        assert!(clock.state().done, "the end is seen from the length");
        let t0 = Instant::now();
        assert_eq!(
            watch(&clock, Duration::from_secs(2), std::future::pending::<()>()).await,
            None
        );
        assert_eq!(t0.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_fit_in_the_buffers_gets_the_limit_alone() {
        let clock = Clock::new();
        clock.state().expected = Some(1 << 20);
        clock.touch(1 << 20);
        let t0 = Instant::now();
        assert_eq!(
            watch(&clock, Duration::from_secs(2), std::future::pending::<()>()).await,
            None
        );
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_streamed_body_ends_at_its_declared_length() {
        let data = Bytes::from(vec![7u8; 100 * 1024]);
        for (length, done) in [(None, false), (Some(data.len() as u64), true)] {
            let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(data.clone())]);
            let clock = Clock::new();
            let mut body = Watched::wrap(Body::wrap_stream(chunks), clock.clone(), length);
            // Taken to its last byte, as HTTP takes it, without the end-of-stream poll.
            let mut taken = 0;
            while taken < data.len() {
                let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
                taken += frame.unwrap().unwrap().into_data().unwrap().len();
            }
            assert_eq!(clock.state().done, done, "length {length:?}");
        }
    }

    #[tokio::test]
    async fn pieces_are_small_and_sized_like_the_body() {
        let clock = Clock::new();
        let data = Bytes::from(vec![7u8; 200 * 1024]);
        let mut body = Watched {
            inner: Body::from(data.clone()),
            pending: Bytes::new(),
            clock: clock.clone(),
        };
        assert_eq!(body.size_hint().exact(), Some(data.len() as u64));
        let mut got = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let piece = frame.unwrap().into_data().unwrap();
            assert!(piece.len() <= PIECE);
            got.extend_from_slice(&piece);
        }
        assert_eq!(got, data);
        assert_eq!(clock.state().bytes, data.len() as u64);
        assert!(clock.state().done);
    }

    #[tokio::test]
    async fn a_second_body_on_a_clock_is_not_taken_before_it_goes() {
        // A redirect sends its request's body again on the same clock.
        let clock = Clock::new();
        for round in 0..2 {
            let data = Bytes::from(vec![7u8; 1024]);
            let mut body = Watched::wrap(Body::from(data), clock.clone(), None);
            assert!(
                !clock.body_taken(),
                "round {round}: taken before any piece went"
            );
            while let Some(frame) =
                std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            {
                frame.unwrap();
            }
            assert!(clock.body_taken(), "round {round}");
            assert_eq!(clock.state().bytes, 1024, "round {round}");
        }
    }
}
