//! Connections kept between requests, and the answers read on them.
//!
//! A lane's connections speak HTTP/1.1 by hand ([`h1`]): a lane sends one request at a time and
//! waits for its answer, and needs none of the state-machine handling described next. On the I/O
//! threads a connection is hyper's HTTP/1 pair: the handle that sends a request on it and the state
//! machine that does its I/O. No task is spawned for the state machine: whoever is using the
//! connection polls it, inside the same `poll` as its own request or body read, and without the
//! task's waker unless it must wait for the socket ([`Conn::hand_over`]). A request's response
//! therefore reaches its caller within one poll of the caller's own future: no task is woken, no
//! other task scheduled, and a current-thread runtime makes no extra non-blocking turn of its
//! event loop (one `epoll_wait` per answer) before coming back to the caller. A unit test counts
//! the task's wake-ups inside its own polls: none, for an answer with a body and one without.
//!
//! A connection goes back to its pool when its answer was read to the end; an answer dropped
//! before its end closes it (HTTP/1 cannot skip the rest). Idle connections are not polled: the
//! next request that takes one polls it first, which sees a peer's close (the runtime's event loop
//! has noted it by then, unless a blocking call follows the last within a millisecond: see
//! `crate::exec::lanes`), and a closed one is dropped. A request that a
//! reused connection could not even start (the peer closed it as the request went out) is sent
//! again on a new connection, as hyper-util's client did.

use super::body::BoxError;
use super::connect::{answer_wait, writes_directly, Connector};
use super::h1;
use super::peer::{host_and_port, port_or_default, take_userinfo};
use super::stall::Watched;
use super::tcp::{AnswerWait, Wait};
use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use hyper::client::conn::http1;
use hyper_util::client::legacy::connect::Connection as _;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tower_service::Service;

/// How long an idle connection is kept (hyper-util's and reqwest's default).
const IDLE_LIMIT: Duration = Duration::from_secs(90);

type Io = <Connector as Service<Uri>>::Response;

/// The connections to one peer kind (backend or storage), any number of origins.
pub(crate) struct Pool {
    connector: Connector,
    idle: Mutex<Vec<Conn>>,
    /// Idle connections kept per origin.
    keep: usize,
    /// The connections speak HTTP/1.1 by hand ([`h1`]): a lane's.
    by_hand: bool,
}

/// Where a connection goes: a request may use it when both match.
#[derive(Clone, PartialEq)]
struct Origin {
    scheme: Scheme,
    authority: Authority,
}

impl Origin {
    /// The pool's key for `uri`; `None` when it names no host (nothing to connect to, nothing
    /// for a `Host` header).
    fn of(uri: &Uri) -> Option<Origin> {
        let authority = uri.authority()?;
        if host_and_port(authority.as_str()).0.is_empty() {
            return None;
        }
        Some(Origin {
            scheme: uri.scheme()?.clone(),
            authority: authority.clone(),
        })
    }
}

struct Conn {
    origin: Origin,
    link: Link,
    /// Requests go out in absolute form (the connection is to an http proxy).
    proxied: bool,
    /// Taken from the pool (it carried an earlier request).
    reused: bool,
    /// The state machine has finished (the connection is closed); it must not be polled again.
    closed: bool,
    idle_since: Instant,
    /// The `Host` header last made for a request on this connection, and the authority it was
    /// made from: the next request to the same authority (nearly every one) reuses it. Boxed:
    /// a connection is moved with every answer, and inline it made each move 72 bytes longer.
    host: Option<Box<(Authority, HeaderValue)>>,
    /// On a lane's connection: the thread waits for answers in `recv` (see `tcp.rs`).
    answer_wait: Option<Arc<AnswerWait>>,
}

/// How a connection speaks HTTP/1.1.
enum Link {
    /// hyper's pair: the handle that sends requests and the state machine doing the I/O.
    Hyper {
        sender: http1::SendRequest<Watched>,
        io: Pin<Box<http1::Connection<Io, Watched>>>,
    },
    /// By hand, one request at a time (a lane's connections). Boxed: its buffers would make
    /// every move of a connection longer.
    ByHand(Box<h1::Link<Io>>),
}

impl Conn {
    /// The `Host` header for `uri`, made once per authority and connection: made anew, it cost
    /// an allocation and about 600 instructions per request.
    fn host_for(&mut self, uri: &Uri) -> Result<HeaderValue, BoxError> {
        let authority = uri.authority().ok_or("the URL names no host")?;
        if let Some(made) = &self.host {
            if made.0.as_str() == authority.as_str() {
                return Ok(made.1.clone());
            }
        }
        let value = host_header(uri)?;
        self.host = Some(Box::new((authority.clone(), value.clone())));
        Ok(value)
    }

    /// Lets the connection do its I/O; notes when it has closed.
    fn drive(&mut self, cx: &mut Context<'_>) {
        // The state machine's own error also reaches the request it was serving, if any, which
        // is where it is reported.
        if let Link::Hyper { io, .. } = &mut self.link {
            if !self.closed && io.as_mut().poll(cx).is_ready() {
                self.closed = true;
            }
        }
    }

    /// Whether the connection can take a request now: open, and its last answer done with.
    fn ready(&mut self) -> bool {
        self.drive(&mut quiet());
        match &mut self.link {
            Link::Hyper { sender, .. } => {
                !self.closed && matches!(sender.poll_ready(&mut quiet()), Poll::Ready(Ok(())))
            }
            Link::ByHand(link) => link.reusable() && link.still_open(&mut quiet()),
        }
    }

    /// Takes what the state machine hands over (a request's answer, a body's next piece) with
    /// `take`, running the state machine for it as needed: first without the task's waker, and
    /// with it only when nothing came, so that the task is woken when the socket has more.
    /// Taking a handed-over item wakes the waker the state machine registered while it read that
    /// item; were that the task's, every answer and body piece would wake the task taking it:
    /// one more turn of a current-thread runtime's event loop and one more poll of the whole
    /// call for nothing. On the poll that hands a request over (`request_poll`), its answer
    /// cannot have been read yet: the state machine runs once, with the task's waker, to write
    /// the request and wait (run without it first, it would run again only to register it).
    fn hand_over<T>(
        &mut self,
        cx: &mut Context<'_>,
        request_poll: bool,
        mut take: impl FnMut(&mut Conn) -> Poll<T>,
    ) -> Poll<T> {
        if let Poll::Ready(item) = take(self) {
            return Poll::Ready(item);
        }
        if !request_poll {
            self.drive(&mut quiet());
            if let Poll::Ready(item) = take(self) {
                return Poll::Ready(item);
            }
        }
        self.drive(cx);
        take(self)
    }
}

/// The context to poll what only the connection's state machine completes (a request's answer,
/// a body's next piece, the handle's readiness), and to run the state machine when no wake-up is
/// wanted from it (see [`Conn::hand_over`]). What it completes is polled right after the state
/// machine, in the same poll of the same task, so it needs no waker of its own; with the task's,
/// the state machine handing over what it just read would wake the task it runs in, and the
/// runtime would turn its event loop once more (an `epoll_wait`) and poll the whole call again
/// for nothing.
fn quiet() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// A connection's failure to open (TCP, a proxy's CONNECT, TLS), told apart from failures on an
/// open connection.
#[derive(Debug)]
pub(crate) struct ConnectError(BoxError);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot open a connection")
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl Pool {
    /// `by_hand`: the connections speak HTTP/1.1 by hand ([`h1`]), for a lane, whose requests
    /// go one at a time.
    pub(crate) fn new(connector: Connector, keep: usize, by_hand: bool) -> Arc<Pool> {
        Arc::new(Pool {
            connector,
            idle: Mutex::new(Vec::new()),
            keep,
            by_hand,
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Conn>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `req` (an absolute URL) on an idle connection to its origin or a new one, and
    /// returns the answer's head; its body is read through the [`Response`].
    pub(crate) async fn send(
        self: &Arc<Pool>,
        mut req: http::Request<Watched>,
    ) -> Result<Response, BoxError> {
        // User information never goes on the wire (an absolute-form target would carry it to a
        // proxy) nor into the pool's key; for a URL it was given, the transport sent it as Basic
        // authorization already.
        let uri = match take_userinfo(req.uri()) {
            Some((bare, _)) => bare,
            None => req.uri().clone(),
        };
        let origin = Origin::of(&uri).ok_or("the URL names no host")?;
        let mut wants_host = !req.headers().contains_key(http::header::HOST);
        if self.by_hand {
            return self.send_by_hand(req, &uri, origin, wants_host).await;
        }
        loop {
            let mut conn = match self.take(&origin) {
                Some(conn) => conn,
                // Boxed: opening (TCP, a proxy's CONNECT, TLS) is a large future that most
                // requests never run; inline, it made every request's future that much larger,
                // and futures are moved (copied) as they are built and boxed.
                None => Box::pin(self.open(origin.clone(), &uri)).await?,
            };
            if wants_host {
                req.headers_mut()
                    .insert(http::header::HOST, conn.host_for(&uri)?);
                wants_host = false;
            }
            *req.uri_mut() = if conn.proxied {
                uri.clone()
            } else {
                origin_form(&uri)
            };
            let Link::Hyper { sender, .. } = &mut conn.link else {
                unreachable!("a pool's connections all speak as it does")
            };
            let mut sending = std::pin::pin!(sender.try_send_request(req));
            let mut handed = false;
            let sent = poll_fn(|cx| {
                let request_poll = !std::mem::replace(&mut handed, true);
                conn.hand_over(cx, request_poll, |conn| {
                    match sending.as_mut().poll(&mut quiet()) {
                        // hyper hands the request an error before its state machine ends; should
                        // it ever not, the request must not wait for a wake-up that cannot come.
                        Poll::Pending if conn.closed => Poll::Ready(None),
                        answer => answer.map(Some),
                    }
                })
            })
            .await;
            let Some(sent) = sent else {
                return Err("the connection closed before the answer came".into());
            };
            match sent {
                Ok(head) => {
                    let (head, body) = head.into_parts();
                    return Ok(Response {
                        status: head.status,
                        headers: head.headers,
                        body: Incoming::Hyper(body),
                        lease: Some(Lease {
                            conn,
                            pool: self.clone(),
                        }),
                    });
                }
                Err(mut e) => match e.take_message() {
                    // Never written: the peer had closed the reused connection.
                    Some(unsent) if conn.reused => req = unsent,
                    _ => return Err(e.into_error().into()),
                },
            }
        }
    }

    /// [`Pool::send`] on connections spoken by hand ([`h1`]): the request's head written into
    /// one buffer and sent with its body's first piece in one write, the answer's head parsed
    /// from what the first read brought. On a lane's connection the thread waits for the answer
    /// in `recv` once the request is all out (see `tcp.rs`).
    async fn send_by_hand(
        self: &Arc<Pool>,
        req: http::Request<Watched>,
        uri: &Uri,
        origin: Origin,
        mut wants_host: bool,
    ) -> Result<Response, BoxError> {
        let (mut parts, body) = req.into_parts();
        let (mut out, framing) = h1::Outgoing::new(parts.method, &parts.headers, body);
        loop {
            let mut conn = match self.take(&origin) {
                Some(conn) => conn,
                None => Box::pin(self.open(origin.clone(), uri)).await?,
            };
            if wants_host {
                parts
                    .headers
                    .insert(http::header::HOST, conn.host_for(uri)?);
                wants_host = false;
            }
            let Conn {
                link: Link::ByHand(link),
                answer_wait,
                proxied,
                reused,
                ..
            } = &mut conn
            else {
                unreachable!("a pool's connections all speak as it does")
            };
            let query = uri.query();
            let absolute = [
                uri.scheme_str().unwrap_or("http"),
                "://",
                origin.authority.as_str(),
            ];
            let target = [
                uri.path(),
                if query.is_some() { "?" } else { "" },
                query.unwrap_or(""),
            ];
            let prefix: &[&str] = if *proxied { &absolute } else { &[] };
            link.start(&out, prefix, &target, &parts.headers, framing.as_ref());
            let mut may_wait = answer_wait.is_some();
            let mut waiting_since = None;
            let answer = poll_fn(|cx| loop {
                let answer = link.poll_exchange(cx, &mut out);
                // Nothing to do but wait for the answer: a lane waits in `recv`, for one wait's
                // time in all (then in the runtime, where the stall timer runs).
                if answer.is_pending() && may_wait && link.sent() {
                    let since = *waiting_since.get_or_insert_with(Instant::now);
                    if answer_wait.as_ref().map(|w| w.wait(true, since)) == Some(Wait::Came) {
                        continue;
                    }
                    may_wait = false;
                }
                return answer;
            })
            .await;
            match answer {
                Ok(head) => {
                    return Ok(Response {
                        status: head.status,
                        headers: head.headers,
                        body: Incoming::ByHand {
                            length: head.content_length,
                        },
                        lease: Some(Lease {
                            conn,
                            pool: self.clone(),
                        }),
                    })
                }
                // Never written: the peer had closed the reused connection.
                Err(h1::Failure::Unsent(_)) if *reused => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The most recently used idle connection to `origin` that is still open, if any.
    fn take(&self, origin: &Origin) -> Option<Conn> {
        loop {
            let mut conn = {
                let mut idle = self.idle();
                idle.retain(|c| c.idle_since.elapsed() < IDLE_LIMIT);
                let at = idle.iter().rposition(|c| &c.origin == origin)?;
                idle.swap_remove(at)
            };
            // One poll: the state machine reads what arrived while it was idle (a close) and,
            // after a finished answer, becomes ready for the next request. Without the task's
            // waker: the state machine would register it for its next request, and handing it
            // the request would then wake the task that hands it over (an `epoll_wait` and a
            // second poll of the whole call). The request's own poll registers the waker. A
            // connection spoken by hand tries one read, which sees a close.
            if conn.ready() {
                conn.reused = true;
                return Some(conn);
            }
        }
    }

    async fn open(&self, origin: Origin, uri: &Uri) -> Result<Conn, BoxError> {
        let mut connector = self.connector.clone();
        poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(ConnectError)?;
        let io = connector.call(uri.clone()).await.map_err(ConnectError)?;
        let proxied = io.connected().is_proxied();
        let answer_wait = answer_wait(&io);
        let link = if self.by_hand {
            let direct = writes_directly(&io);
            Link::ByHand(Box::new(h1::Link::new(io, direct)))
        } else {
            let (sender, io) = http1::Builder::new().handshake(io).await?;
            Link::Hyper {
                sender,
                io: Box::pin(io),
            }
        };
        Ok(Conn {
            origin,
            link,
            proxied,
            reused: false,
            closed: false,
            idle_since: Instant::now(),
            host: None,
            answer_wait,
        })
    }

    /// Keeps `conn` for the next request to its origin, if it is ready for one (or closes it;
    /// also when enough are kept).
    fn give_back(&self, mut conn: Conn) {
        // One poll lets the state machine finish the answer and wait for the next request. No
        // waker is needed: whoever takes the connection polls it again, with its own.
        conn.drive(&mut quiet());
        let ready = match &conn.link {
            Link::Hyper { sender, .. } => !conn.closed && sender.is_ready(),
            Link::ByHand(link) => link.reusable(),
        };
        if !ready {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self.idle();
        if idle.iter().filter(|c| c.origin == conn.origin).count() < self.keep {
            idle.push(conn);
        }
    }
}

/// `Host` as hyper-util's client set it: the host, and the port when it is not the scheme's.
fn host_header(uri: &Uri) -> Result<HeaderValue, BoxError> {
    let authority = uri.authority().ok_or("the URL names no host")?.as_str();
    let (host, port) = host_and_port(authority);
    if host.is_empty() {
        return Err("the URL names no host".into());
    }
    let value = match port.and_then(|p| p.parse::<u16>().ok()) {
        Some(p) if Some(p) != port_or_default(None, uri.scheme_str().unwrap_or("")) => {
            // `host:port`, the end of the authority.
            let host_port = host.len() + 1 + port.map_or(0, str::len);
            &authority[authority.len() - host_port..]
        }
        _ => host,
    };
    Ok(HeaderValue::from_str(value)?)
}

/// The request target for a direct connection: the path and query.
fn origin_form(uri: &Uri) -> Uri {
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(
        uri.path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("/"))
}

/// The connection an answer came on, until its body has been read.
struct Lease {
    conn: Conn,
    pool: Arc<Pool>,
}

/// An answer: status, headers and a body read chunk by chunk. Reading it does the connection's
/// I/O; read to its end, it gives the connection back to its pool.
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Incoming,
    lease: Option<Lease>,
}

/// How an answer's body is read.
enum Incoming {
    /// From hyper's body channel.
    Hyper(hyper::body::Incoming),
    /// From the connection, by hand; `length` when the answer announced it.
    ByHand { length: Option<u64> },
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .finish()
    }
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body's length when the answer announced it.
    pub fn content_length(&self) -> Option<u64> {
        match &self.body {
            Incoming::Hyper(body) => http_body::Body::size_hint(body).exact(),
            Incoming::ByHand { length } => *length,
        }
    }

    /// The next piece of the body; `None` at its end (trailers are skipped).
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, BoxError> {
        let Incoming::Hyper(body) = &mut self.body else {
            return self.chunk_by_hand().await;
        };
        loop {
            let frame = poll_fn(|cx| {
                if let Some(lease) = &mut self.lease {
                    // hyper reads a body only once its reader has asked for it: the first take
                    // asks, before the state machine runs.
                    let piece = lease.conn.hand_over(cx, false, |conn| {
                        match http_body::Body::poll_frame(Pin::new(&mut *body), &mut quiet()) {
                            Poll::Pending if conn.closed => Poll::Ready(None),
                            frame => frame.map(Some),
                        }
                    });
                    match piece {
                        Poll::Ready(Some(frame)) => return Poll::Ready(frame),
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(None) => {}
                    }
                    // Closed: what is left of the body is in its channel, or the channel ends
                    // once the state machine is gone.
                    self.lease = None;
                }
                http_body::Body::poll_frame(Pin::new(&mut *body), cx)
            })
            .await;
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
                Some(Err(e)) => return Err(e.into()),
                None => {
                    self.release();
                    return Ok(None);
                }
            }
        }
    }

    /// [`Response::chunk`] on a connection spoken by hand.
    async fn chunk_by_hand(&mut self) -> Result<Option<Bytes>, BoxError> {
        let Some(Lease {
            conn: Conn {
                link: Link::ByHand(link),
                ..
            },
            ..
        }) = &mut self.lease
        else {
            // Given back: the body was read to its end.
            return Ok(None);
        };
        match poll_fn(|cx| link.poll_body(cx)).await {
            Some(Ok(piece)) => Ok(Some(piece)),
            Some(Err(e)) => {
                // Closes the connection.
                self.lease = None;
                Err(e.into())
            }
            None => {
                self.release();
                Ok(None)
            }
        }
    }

    /// Gives the connection back once the body has been read to its end.
    fn release(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.pool.give_back(lease.conn);
        }
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        // An answer without a body (204, a PUT's empty 200) is complete as it is: its
        // connection is reusable though nobody reads the body. Any other unread rest closes it.
        let complete = match (&self.body, &self.lease) {
            (Incoming::Hyper(body), _) => http_body::Body::is_end_stream(body),
            (
                Incoming::ByHand { .. },
                Some(Lease {
                    conn:
                        Conn {
                            link: Link::ByHand(link),
                            ..
                        },
                    ..
                }),
            ) => link.body_done(),
            _ => false,
        };
        if complete {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Runs `fut` and counts the wake-ups of its task that happen inside its own `poll`: each
    /// makes a current-thread runtime turn its event loop once more and poll the whole call again.
    struct SelfWakes<F> {
        fut: Pin<Box<F>>,
        in_poll: Arc<AtomicBool>,
        count: Arc<AtomicUsize>,
    }

    struct Counting {
        inner: Waker,
        in_poll: Arc<AtomicBool>,
        count: Arc<AtomicUsize>,
    }

    impl std::task::Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            if self.in_poll.load(Ordering::SeqCst) {
                self.count.fetch_add(1, Ordering::SeqCst);
            }
            self.inner.wake_by_ref();
        }
    }

    impl<F: Future> Future for SelfWakes<F> {
        type Output = F::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            let waker = Waker::from(Arc::new(Counting {
                inner: cx.waker().clone(),
                in_poll: self.in_poll.clone(),
                count: self.count.clone(),
            }));
            self.in_poll.store(true, Ordering::SeqCst);
            let out = self.fut.as_mut().poll(&mut Context::from_waker(&waker));
            self.in_poll.store(false, Ordering::SeqCst);
            out
        }
    }

    /// Serves each connection with `handle`, on a runtime of its own thread: nothing of it runs
    /// on the client's. Returns the port and the count of connections accepted.
    fn serve<F, Fut>(handle: F) -> (u16, Arc<AtomicUsize>)
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen = accepted.clone();
        std::thread::spawn(move || {
            let runtime = runtime();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((sock, _)) = listener.accept().await {
                    seen.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(handle(sock));
                }
            });
        });
        (port, accepted)
    }

    /// A server that answers every request on a connection, after reading it whole, with
    /// `answer`.
    fn server(answer: &'static [u8]) -> u16 {
        serve(move |mut sock| async move {
            use tokio::io::AsyncWriteExt;
            while super::super::test_wire::read_request(&mut sock)
                .await
                .is_some()
            {
                if sock.write_all(answer).await.is_err() {
                    return;
                }
            }
        })
        .0
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A pool of plain connections, as a client makes them (no proxy).
    fn pool() -> Arc<Pool> {
        pool_of(false, Duration::from_secs(5))
    }

    /// A pool as a client makes them for its I/O threads, or for a lane (`for_lane`: the thread
    /// waits for answers in `recv`, at most `timeout` each time).
    fn pool_of(for_lane: bool, timeout: Duration) -> Arc<Pool> {
        let tls = super::super::connect::tls_config(true, &[]).unwrap();
        Pool::new(
            super::super::connect::connector(tls, timeout, None, for_lane),
            4,
            for_lane,
        )
    }

    /// `method` to `url` with `body`, and the whole answer's body (or the error's text).
    async fn exchange(
        pool: Arc<Pool>,
        method: &str,
        url: String,
        body: &'static [u8],
    ) -> Result<Vec<u8>, String> {
        let req = http::Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(Watched::wrap(
                Bytes::from_static(body).into(),
                super::super::stall::Clock::new(),
                None,
            ))
            .unwrap();
        let mut resp = pool.send(req).await.map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            got.extend_from_slice(&chunk);
        }
        Ok(got)
    }

    /// A future's polls, counted.
    struct Polls<F> {
        fut: Pin<Box<F>>,
        count: usize,
    }

    impl<F: Future> Future for Polls<F> {
        type Output = (F::Output, usize);
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            self.count += 1;
            let count = self.count;
            self.fut.as_mut().poll(cx).map(|out| (out, count))
        }
    }

    /// On a lane's kept connection the answer is waited for in `recv`: the whole exchange (a
    /// request with a body, then a bodiless one) completes in the first poll of its task, so the
    /// runtime never waits in its event loop. The I/O threads' connections keep waiting there.
    #[test]
    fn a_lane_waits_for_answers_in_recv_and_the_io_threads_do_not() {
        let port = server(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
        let url = format!("http://127.0.0.1:{port}/x");
        let runtime = runtime();
        for for_lane in [true, false] {
            let pool = pool_of(for_lane, Duration::from_secs(5));
            // Opens the connection.
            let first = runtime.block_on(exchange(pool.clone(), "PUT", url.clone(), b"{}"));
            assert_eq!(first.unwrap(), b"hello");
            for body in [&b"{\"a\":1}"[..], &b""[..], &[9u8; 4096][..]] {
                let (got, polls) = runtime.block_on(Polls {
                    fut: Box::pin(exchange(pool.clone(), "PUT", url.clone(), body)),
                    count: 0,
                });
                assert_eq!(got.unwrap(), b"hello", "lane {for_lane}");
                if for_lane {
                    assert_eq!(polls, 1, "the lane's exchange waited in its runtime");
                } else {
                    assert!(polls > 1, "an I/O thread's exchange blocked its thread");
                }
            }
        }
    }

    /// What a lane's wait in `recv` reads reaches hyper whole and in order: an answer in
    /// pieces, one larger than a wait takes, one later than the longest wait (then waited for in
    /// the runtime), and a close instead of an answer (an error, not a hang).
    #[test]
    fn a_lane_reads_answers_in_pieces_large_late_or_missing() {
        let big: &'static [u8] = Box::leak(
            (0..100_000u32)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<u8>>()
                .into_boxed_slice(),
        );
        let (port, _) = serve(move |mut sock| async move {
            use tokio::io::AsyncWriteExt;
            while let Some((head, _)) = super::super::test_wire::read_request(&mut sock).await {
                let target = head.split(' ').nth(1).unwrap_or("").to_string();
                let pause = |ms| tokio::time::sleep(Duration::from_millis(ms));
                let answered = match target.as_str() {
                    "/pieces" => {
                        let mut ok = sock.write_all(b"HTTP/1.1 200 OK\r\ncont").await.is_ok();
                        for piece in [&b"ent-length: 6\r\n"[..], b"\r\nab", b"cdef"] {
                            pause(30).await;
                            ok &= sock.write_all(piece).await.is_ok();
                        }
                        ok
                    }
                    "/big" => {
                        let head =
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", big.len());
                        sock.write_all(head.as_bytes()).await.is_ok()
                            && sock.write_all(big).await.is_ok()
                    }
                    "/late" => {
                        pause(400).await;
                        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlate")
                            .await
                            .is_ok()
                    }
                    _ => return,
                };
                if !answered {
                    return;
                }
            }
        });
        let runtime = runtime();
        // Waits in `recv` of at most 150 ms: "/late" outlasts one.
        let pool = pool_of(true, Duration::from_millis(150));
        let get = |path: &str| {
            let url = format!("http://127.0.0.1:{port}{path}");
            runtime.block_on(exchange(pool.clone(), "GET", url, b""))
        };
        for _ in 0..2 {
            assert_eq!(get("/pieces").unwrap(), b"abcdef");
            assert_eq!(get("/big").unwrap(), big);
            assert_eq!(get("/late").unwrap(), b"late");
        }
        let start = Instant::now();
        assert!(get("/closes").is_err(), "a close instead of an answer");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_request_on_a_kept_connection_never_wakes_its_own_task() {
        let runtime = runtime();
        let pool = pool();
        for (answer, method, body) in [
            // A JSON answer read to its end (upload-start), then an empty one (a part PUT).
            (
                &b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\n{\"a\":\"bcdef\"}"[..],
                "POST",
                &b"{}"[..],
            ),
            (
                &b"HTTP/1.1 200 OK\r\netag: \"x\"\r\ncontent-length: 0\r\n\r\n"[..],
                "PUT",
                &[7u8; 1024][..],
            ),
        ] {
            let port = server(answer);
            let url = format!("http://127.0.0.1:{port}/x");
            let request = |pool: Arc<Pool>| exchange(pool, method, url.clone(), body);
            // The first request opens the connection; the next ones take it from the pool.
            runtime.block_on(request(pool.clone())).unwrap();
            for round in 0..3 {
                let count = Arc::new(AtomicUsize::new(0));
                let got = runtime.block_on(SelfWakes {
                    fut: Box::pin(request(pool.clone())),
                    in_poll: Arc::new(AtomicBool::new(false)),
                    count: count.clone(),
                });
                assert_eq!(got.unwrap().len(), if method == "POST" { 13 } else { 0 });
                assert_eq!(
                    count.load(Ordering::SeqCst),
                    0,
                    "{method} round {round}: the task woke itself"
                );
            }
        }
    }

    /// A request's `Host` is its own URL's, also on a kept connection first used by a URL that
    /// names the same origin in other letters (the header is made once per authority, not once
    /// per connection).
    #[test]
    fn a_kept_connection_sends_each_request_its_own_host() {
        // Answers each bodiless request with its Host header as it came (`test_wire`
        // lowercases heads).
        let (port, accepted) = serve(|mut sock| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = Vec::new();
            loop {
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    let mut chunk = [0u8; 4096];
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                    continue;
                };
                let head: Vec<u8> = buf.drain(..end + 4).collect();
                let host = String::from_utf8_lossy(&head)
                    .lines()
                    .find_map(|l| l.strip_prefix("host: "))
                    .unwrap_or("")
                    .to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{host}",
                    host.len()
                );
                if sock.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
        let runtime = runtime();
        let pool = pool();
        let host_sent = |authority: String| {
            let req = http::Request::builder()
                .method("GET")
                .uri(format!("http://{authority}/x"))
                .body(Watched::wrap(
                    crate::http::Body::empty(),
                    super::super::stall::Clock::new(),
                    None,
                ))
                .unwrap();
            let pool = pool.clone();
            runtime.block_on(async move {
                let mut resp = pool.send(req).await.unwrap();
                let mut got = Vec::new();
                while let Some(chunk) = resp.chunk().await.unwrap() {
                    got.extend_from_slice(&chunk);
                }
                String::from_utf8(got).unwrap()
            })
        };
        // One origin (host names compare without case), so one connection, four spellings.
        for authority in [
            format!("localhost:{port}"),
            format!("localhost:{port}"),
            format!("user@localhost:{port}"),
            format!("LocalHost:{port}"),
            format!("localhost:{port}"),
        ] {
            let bare = authority.trim_start_matches("user@");
            assert_eq!(host_sent(authority.clone()), bare, "{authority}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one kept connection");
    }

    #[test]
    fn host_header_has_the_port_only_when_not_the_default() {
        let h = |u: &str| host_header(&u.parse().unwrap()).unwrap();
        assert_eq!(h("http://example.com/x"), "example.com");
        assert_eq!(h("http://example.com:80/x"), "example.com");
        assert_eq!(h("https://example.com:443/x"), "example.com");
        assert_eq!(h("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
        assert_eq!(h("https://example.com:80/x"), "example.com:80");
        assert_eq!(h("http://[::1]:9000/x"), "[::1]:9000");
        assert_eq!(h("http://user:pw@example.com:81/x"), "example.com:81");
        assert_eq!(h("http://u@[::1]/x"), "[::1]");
        assert_eq!(h("http://example.com:080/x"), "example.com");
        assert_eq!(h("http://example.com:/x"), "example.com");
        assert_eq!(h("https://example.com:8443/x"), "example.com:8443");
    }

    #[test]
    fn origin_form_keeps_path_and_query_byte_for_byte() {
        let u: Uri = "http://h:1/a/b%2Fc?X-Amz-Signature=ab%2B&x=1"
            .parse()
            .unwrap();
        assert_eq!(origin_form(&u), "/a/b%2Fc?X-Amz-Signature=ab%2B&x=1");
        let bare: Uri = "http://h:1".parse().unwrap();
        assert_eq!(origin_form(&bare), "/");
    }
}
