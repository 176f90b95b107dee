//! HTTP/1.1 written and read by hand, for a lane's connections.
//!
//! A lane makes one request at a time on a connection its thread owns, and waits for each answer
//! (see `crate::exec::lanes`). hyper's client connection is built for more: a request handle and a
//! state machine joined by channels, a body channel for each answer, and a request head made from
//! a header map the connection copies into its own buffer. For a small upload those cost about
//! half of the library's instructions. Here the request's head is written from its header map
//! straight into one buffer, sent with the first piece of the body in one vectored write, and the
//! answer's head is parsed with `httparse` from the bytes its first read brought; its body is
//! handed out as slices of the read buffer.
//!
//! What it speaks is what the Opik backend and S3 storage need, by RFC 9112: `Content-Length`
//! and chunked bodies in both directions, bodies to the connection's close, no body for HEAD,
//! 1xx, 204 and 304, interim 1xx answers skipped, `Connection: close` and HTTP/1.0 answers,
//! trailers read and dropped. Every limit a hostile server could push is bounded: the answer's
//! head at [`HEAD_LIMIT`], a chunk's size line and the trailers likewise.

use super::body::{declared_length, BoxError};
use super::stall::Watched;
use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use http_body::Body as _;
use hyper::rt::{Read, ReadBuf, Write};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The largest answer head (status line and headers) read; hyper's own limit is about 400 KiB,
/// Opik's and S3's heads are well under 2 KiB.
const HEAD_LIMIT: usize = 64 * 1024;
/// Headers an answer may have (hyper's limit).
const MAX_HEADERS: usize = 100;
/// What one read asks for while the head is read.
const HEAD_READ: usize = 8 * 1024;
/// The most one read of a body asks for (a download's pieces). Measured on 1 GiB loopback
/// downloads against hyper's reads, alternating runs: 128 and 256 KiB took 0.26 s against
/// 0.22 s; 16 KiB took the same time for 20% more CPU.
const BODY_READ: usize = 32 * 1024;
/// The longest chunk-size line, extensions included.
const CHUNK_LINE_LIMIT: usize = 4 * 1024;

/// Why an exchange failed, for the transport's error text.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Nothing of the request reached the socket: it may go again on another connection.
    Unsent(io::Error),
    Io(io::Error),
    /// The answer is not HTTP/1.1 as RFC 9112 has it.
    Malformed(String),
    /// The connection closed before the answer (or its body) was complete.
    Closed(&'static str),
    /// The request body's own error (a file that cannot be read).
    Body(BoxError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unsent(_) => f.write_str("the request could not be written"),
            Failure::Io(_) => f.write_str("connection error"),
            Failure::Malformed(why) => {
                write!(f, "the server's answer is not valid HTTP/1.1: {why}")
            }
            Failure::Closed(what) => write!(f, "the connection closed before {what}"),
            Failure::Body(_) => f.write_str("the request body failed"),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Unsent(e) | Failure::Io(e) => Some(e),
            Failure::Body(e) => Some(&**e),
            _ => None,
        }
    }
}

fn malformed(why: impl Into<String>) -> Failure {
    Failure::Malformed(why.into())
}

/// A request on its way out: the body and the piece of it being written. The head is made per
/// connection ([`Link::start`]); what the body gave stays here, so a request that a reused
/// connection could not take goes out whole on the next one.
pub(crate) struct Outgoing {
    method: Method,
    body: Watched,
    framing: Sending,
    /// The piece of the body being written (what is left of it).
    piece: Bytes,
    /// A chunked body's framing and data still to write (copied: chunked requests are rare).
    framed: Vec<u8>,
    /// The body has ended (its last piece may still be in `piece` or `framed`).
    ended: bool,
    /// A chunked body's last chunk is in `framed`.
    terminated: bool,
}

/// How the body is framed on the wire.
#[derive(Clone, Copy)]
enum Sending {
    /// `Content-Length`: these many bytes still to take from the body.
    Length(u64),
    Chunked,
}

impl Outgoing {
    /// The request's body and how it is framed: by its `Content-Length` header or its known
    /// length, chunked when neither says (never for GET and HEAD, which send none), as hyper frames
    /// requests. Returns the header to add, if any.
    pub fn new(method: Method, headers: &HeaderMap, body: Watched) -> (Outgoing, Option<Framing>) {
        let (framing, add) = match declared_length(headers) {
            Some(n) => (Sending::Length(n), None),
            None if body.is_end_stream() => (Sending::Length(0), None),
            None => match body.size_hint().exact() {
                Some(n) => (Sending::Length(n), Some(Framing::Length(n))),
                None if matches!(method, Method::GET | Method::HEAD) => (Sending::Length(0), None),
                None => (Sending::Chunked, Some(Framing::Chunked)),
            },
        };
        let ended = matches!(framing, Sending::Length(0));
        (
            Outgoing {
                method,
                body,
                framing,
                piece: Bytes::new(),
                framed: Vec::new(),
                ended,
                terminated: false,
            },
            add,
        )
    }

    /// Nothing of the body is waiting to be written.
    fn drained(&self) -> bool {
        self.piece.is_empty() && self.framed.is_empty()
    }

    /// The body's next piece, when the last has gone and the body has one ready: in `piece`, or
    /// framed in `framed` for a chunked body (with the last chunk once it ends).
    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        let chunked = matches!(self.framing, Sending::Chunked);
        while self.drained() && !self.ended {
            let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
            let data = match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue,
                },
                Some(Err(e)) => return Poll::Ready(Err(Failure::Body(e))),
                None => {
                    if matches!(self.framing, Sending::Length(n) if n > 0) {
                        return Poll::Ready(Err(Failure::Body(
                            "the request body ended before its Content-Length".into(),
                        )));
                    }
                    self.ended = true;
                    break;
                }
            };
            if let Sending::Length(left) = &mut self.framing {
                if data.len() as u64 > *left {
                    return Poll::Ready(Err(Failure::Body(
                        "the request body is longer than its Content-Length".into(),
                    )));
                }
                *left -= data.len() as u64;
                // The body is not polled past its length, as hyper does not: a streamed file
                // that does not know its own size ends here.
                self.ended = *left == 0;
            }
            if chunked && !data.is_empty() {
                self.framed = format!("{:x}\r\n", data.len()).into_bytes();
                self.framed.extend_from_slice(&data);
                self.framed.extend_from_slice(b"\r\n");
            } else {
                self.piece = data;
            }
        }
        if chunked && self.ended && !self.terminated {
            self.framed.extend_from_slice(b"0\r\n\r\n");
            self.terminated = true;
        }
        Poll::Ready(Ok(()))
    }
}

/// A header the request's framing adds.
pub(crate) enum Framing {
    Length(u64),
    Chunked,
}

/// The head of an answer.
#[derive(Debug)]
pub(crate) struct Head {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body's length when the answer announced it.
    pub content_length: Option<u64>,
}

/// What the bytes read so far hold.
enum Parsed {
    Head(Head),
    /// Part of a head.
    Partial,
    /// An interim (1xx) answer, now consumed.
    Interim,
}

/// One HTTP/1.1 connection.
pub(crate) struct Link<T> {
    io: T,
    /// Bytes read and not yet used.
    read: BytesMut,
    /// The request head not yet written.
    head: Vec<u8>,
    /// What the answer being read has left of its body.
    body: Remaining,
    /// Something of the current request reached the socket.
    touched: bool,
    /// A write that fails has written nothing (plain TCP; a TLS stream may have taken some of
    /// the bytes before its socket failed).
    writes_directly: bool,
    /// The request is all out (and flushed).
    sent: bool,
    /// The connection may carry another request once this answer is read.
    keep_alive: bool,
    /// The peer closed its side.
    eof: bool,
    /// The request that this answer answers was a HEAD.
    head_request: bool,
}

/// The rest of an answer's body.
#[derive(Debug, PartialEq)]
enum Remaining {
    /// None (or all of it read).
    Done,
    Length(u64),
    /// A chunked body, in the part of its framing named.
    Chunked(Chunk),
    /// Everything until the peer closes.
    UntilClose,
}

#[derive(Debug, PartialEq)]
enum Chunk {
    /// The next chunk-size line.
    Size,
    /// This much data of the current chunk.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines (this many bytes read of them), until the empty line.
    Trailers(usize),
}

impl<T: Read + Write + Unpin> Link<T> {
    /// `writes_directly`: see the field.
    pub fn new(io: T, writes_directly: bool) -> Link<T> {
        Link {
            io,
            writes_directly,
            read: BytesMut::new(),
            head: Vec::new(),
            body: Remaining::Done,
            touched: false,
            sent: true,
            keep_alive: true,
            eof: false,
            head_request: false,
        }
    }

    /// Writes the next request's head: `out`'s method, the target (`prefix` then `target`, each
    /// the concatenation of its pieces: the origin for a proxy, then the path and query),
    /// `headers` and the framing's header. It goes out with the body of `out`.
    pub fn start(
        &mut self,
        out: &Outgoing,
        prefix: &[&str],
        target: &[&str],
        headers: &HeaderMap,
        framing: Option<&Framing>,
    ) {
        let head = &mut self.head;
        head.clear();
        head.reserve(96 + headers.len() * 48);
        head.extend_from_slice(out.method.as_str().as_bytes());
        head.push(b' ');
        for piece in prefix.iter().chain(target) {
            head.extend_from_slice(piece.as_bytes());
        }
        head.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in headers {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        match framing {
            Some(Framing::Length(n)) => {
                head.extend_from_slice(b"content-length: ");
                head.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes());
                head.extend_from_slice(b"\r\n");
            }
            Some(Framing::Chunked) => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
            None => {}
        }
        head.extend_from_slice(b"\r\n");
        self.touched = false;
        self.sent = false;
        self.keep_alive = true;
        self.head_request = out.method == Method::HEAD;
        self.body = Remaining::Done;
    }

    /// The request is all out.
    pub fn sent(&self) -> bool {
        self.sent
    }

    /// Writes what is left of the request (head, then body) and flushes it.
    fn poll_send(&mut self, cx: &mut Context<'_>, out: &mut Outgoing) -> Poll<Result<(), Failure>> {
        loop {
            // The body is asked for its next piece only once the last has gone.
            let body = out.poll_piece(cx)?;
            let iov = [
                io::IoSlice::new(&self.head),
                io::IoSlice::new(&out.framed),
                io::IoSlice::new(&out.piece),
            ];
            let total = self.head.len() + out.framed.len() + out.piece.len();
            if total == 0 {
                if body.is_pending() {
                    // What went is not held back (in a TLS stream's buffer) while the body waits.
                    if self.touched {
                        ready!(Pin::new(&mut self.io).poll_flush(cx))
                            .map_err(|e| self.write_failed(e))?;
                    }
                    return Poll::Pending;
                }
                ready!(Pin::new(&mut self.io).poll_flush(cx)).map_err(|e| self.write_failed(e))?;
                self.sent = true;
                return Poll::Ready(Ok(()));
            }
            let written = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &iov))
                .map_err(|e| self.write_failed(e))?;
            if written == 0 {
                return Poll::Ready(Err(self.write_failed(io::ErrorKind::WriteZero.into())));
            }
            self.touched = true;
            let from_head = written.min(self.head.len());
            self.head.drain(..from_head);
            let from_framed = (written - from_head).min(out.framed.len());
            out.framed.drain(..from_framed);
            out.piece.advance(written - from_head - from_framed);
        }
    }

    /// Moves the write error into a failure: [`Failure::Unsent`] when nothing of the request
    /// reached the socket.
    fn write_failed(&self, e: io::Error) -> Failure {
        if self.touched || !self.writes_directly {
            Failure::Io(e)
        } else {
            Failure::Unsent(e)
        }
    }

    /// Sends the request and reads the answer's head. An answer that comes before the request is
    /// all out (a server refusing the body) is taken as it is; the connection then closes.
    pub fn poll_exchange(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Outgoing,
    ) -> Poll<Result<Head, Failure>> {
        if !self.sent {
            match self.poll_send(cx, out) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    // An early answer, if one came (the request's rest is never sent), or a
                    // broken one: the connection is done either way.
                    let early = ready!(self.poll_head(cx));
                    self.keep_alive = false;
                    return Poll::Ready(early);
                }
            }
        }
        self.poll_head(cx)
    }

    /// Reads more bytes into `read`, asking for at most `want`; `Ok(0)` at the peer's close.
    fn poll_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        if self.eof {
            return Poll::Ready(Ok(0));
        }
        let want = want.max(HEAD_READ);
        if self.read.capacity() - self.read.len() < want {
            self.read.reserve(want);
        }
        let spare = self.read.spare_capacity_mut();
        let len = spare.len().min(want);
        let mut buf = ReadBuf::uninit(&mut spare[..len]);
        ready!(Pin::new(&mut self.io).poll_read(cx, buf.unfilled()))?;
        let n = buf.filled().len();
        // SAFETY: the read initialised these `n` bytes of the spare capacity.
        unsafe { self.read.set_len(self.read.len() + n) };
        if n == 0 {
            self.eof = true;
        }
        Poll::Ready(Ok(n))
    }

    /// Reads and parses the answer's head (skipping interim 1xx answers).
    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<Result<Head, Failure>> {
        loop {
            if !self.read.is_empty() {
                match self.parse_head()? {
                    Parsed::Head(head) => return Poll::Ready(Ok(head)),
                    Parsed::Interim => continue,
                    Parsed::Partial => {}
                }
            }
            if self.read.len() >= HEAD_LIMIT {
                return Poll::Ready(Err(malformed(format!(
                    "its head is longer than {HEAD_LIMIT} bytes"
                ))));
            }
            let n = ready!(self.poll_fill(cx, HEAD_READ)).map_err(Failure::Io)?;
            if n == 0 {
                return Poll::Ready(Err(Failure::Closed("the answer came")));
            }
        }
    }

    /// The answer's head, when `read` holds all of it: consumed from `read`, its body's framing
    /// noted.
    fn parse_head(&mut self) -> Result<Parsed, Failure> {
        // Where each name and value lies in the head: the values become slices of the head's
        // bytes, no copy of each.
        // Both arrays uninitialised: zeroed, they cost more than the parse.
        let mut at = [const { MaybeUninit::<[u32; 4]>::uninit() }; MAX_HEADERS];
        let (len, code, version, count) = {
            let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut []);
            let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut parsed,
                &self.read,
                &mut slots,
            ) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
                Err(e) => return Err(malformed(e.to_string())),
            };
            let base = self.read.as_ptr() as usize;
            for (slot, h) in at.iter_mut().zip(parsed.headers.iter()) {
                // Offsets in the head, which is shorter than HEAD_LIMIT plus one read.
                let name = (h.name.as_ptr() as usize - base) as u32;
                let value = (h.value.as_ptr() as usize - base) as u32;
                slot.write([
                    name,
                    name + h.name.len() as u32,
                    value,
                    value + h.value.len() as u32,
                ]);
            }
            let version = if parsed.version == Some(0) {
                Version::HTTP_10
            } else {
                Version::HTTP_11
            };
            (len, parsed.code.unwrap_or(0), version, parsed.headers.len())
        };
        let status = StatusCode::from_u16(code).map_err(|_| malformed(format!("status {code}")))?;
        if status.is_informational() {
            if code == 101 {
                return Err(malformed("it switched protocols (101)"));
            }
            self.read.advance(len);
            return Ok(Parsed::Interim);
        }
        let bytes = self.read.split_to(len).freeze();
        let mut headers = HeaderMap::with_capacity(count);
        for slot in &at[..count] {
            // SAFETY: the first `count` were written above.
            let [ns, ne, vs, ve] = unsafe { slot.assume_init() }.map(|o| o as usize);
            let name = HeaderName::from_bytes(&bytes[ns..ne])
                .map_err(|_| malformed("a header name is not a token"))?;
            let value = HeaderValue::from_maybe_shared(bytes.slice(vs..ve))
                .map_err(|_| malformed(format!("the value of {name}")))?;
            headers.append(name, value);
        }
        self.keep_alive = self.keep_alive && keeps_alive(version, &headers);
        // RFC 9112 §6.3, in its order: what has no body, then Transfer-Encoding (a length
        // beside it is not read, and the connection not trusted again), then Content-Length.
        self.body = if self.head_request || code == 204 || code == 304 {
            Remaining::Done
        } else if let Some(te) = last_token(&headers, TRANSFER_ENCODING) {
            if headers.contains_key(CONTENT_LENGTH) {
                self.keep_alive = false;
            }
            if te.eq_ignore_ascii_case(b"chunked") {
                Remaining::Chunked(Chunk::Size)
            } else {
                Remaining::UntilClose
            }
        } else {
            match content_length(&headers)? {
                Some(0) => Remaining::Done,
                Some(n) => Remaining::Length(n),
                None => Remaining::UntilClose,
            }
        };
        if self.body == Remaining::UntilClose {
            self.keep_alive = false;
        }
        let content_length = match self.body {
            Remaining::Length(n) => Some(n),
            Remaining::Done => Some(0),
            _ => None,
        };
        Ok(Parsed::Head(Head {
            status,
            headers,
            content_length,
        }))
    }

    /// The answer's body has been read to its end.
    pub fn body_done(&self) -> bool {
        self.body == Remaining::Done
    }

    /// The next piece of the answer's body; `None` at its end.
    pub fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Failure>>> {
        loop {
            let want = match &mut self.body {
                Remaining::Done => return Poll::Ready(None),
                Remaining::Length(left) => {
                    if !self.read.is_empty() {
                        let n = (*left).min(self.read.len() as u64) as usize;
                        *left -= n as u64;
                        if *left == 0 {
                            self.body = Remaining::Done;
                        }
                        return Poll::Ready(Some(Ok(self.read.split_to(n).freeze())));
                    }
                    (*left).min(BODY_READ as u64) as usize
                }
                Remaining::UntilClose => {
                    if !self.read.is_empty() {
                        return Poll::Ready(Some(Ok(self.read.split().freeze())));
                    }
                    if self.eof {
                        self.body = Remaining::Done;
                        return Poll::Ready(None);
                    }
                    BODY_READ
                }
                Remaining::Chunked(_) => match self.chunked_step() {
                    Ok(Some(piece)) => return Poll::Ready(Some(Ok(piece))),
                    Ok(None) if self.body == Remaining::Done => return Poll::Ready(None),
                    Ok(None) => BODY_READ,
                    Err(e) => return Poll::Ready(Some(Err(e))),
                },
            };
            match ready!(self.poll_fill(cx, want)) {
                Ok(0) if self.body == Remaining::UntilClose => {}
                Ok(0) => {
                    return Poll::Ready(Some(Err(Failure::Closed(
                        "the answer's body was complete",
                    ))))
                }
                Ok(_) => {}
                Err(e) => return Poll::Ready(Some(Err(Failure::Io(e)))),
            }
        }
    }

    /// Decodes what `read` holds of a chunked body: a piece of data when there is one, `None`
    /// when more bytes are needed or the body has ended ([`Remaining::Done`]).
    fn chunked_step(&mut self) -> Result<Option<Bytes>, Failure> {
        loop {
            let Remaining::Chunked(state) = &mut self.body else {
                return Ok(None);
            };
            match state {
                Chunk::Size => {
                    let Some(end) = find_crlf(&self.read) else {
                        if self.read.len() > CHUNK_LINE_LIMIT {
                            return Err(malformed("a chunk-size line is too long"));
                        }
                        return Ok(None);
                    };
                    let size = chunk_size(&self.read[..end])?;
                    self.read.advance(end + 2);
                    *state = if size == 0 {
                        Chunk::Trailers(0)
                    } else {
                        Chunk::Data(size)
                    };
                }
                Chunk::Data(left) => {
                    if self.read.is_empty() {
                        return Ok(None);
                    }
                    let n = (*left).min(self.read.len() as u64) as usize;
                    *left -= n as u64;
                    if *left == 0 {
                        *state = Chunk::DataEnd;
                    }
                    return Ok(Some(self.read.split_to(n).freeze()));
                }
                Chunk::DataEnd => {
                    if self.read.len() < 2 {
                        return Ok(None);
                    }
                    if &self.read[..2] != b"\r\n" {
                        return Err(malformed("a chunk's data does not end with CRLF"));
                    }
                    self.read.advance(2);
                    *state = Chunk::Size;
                }
                Chunk::Trailers(seen) => {
                    let Some(end) = find_crlf(&self.read) else {
                        if *seen + self.read.len() > HEAD_LIMIT {
                            return Err(malformed("the trailers are too long"));
                        }
                        return Ok(None);
                    };
                    *seen += end + 2;
                    if *seen > HEAD_LIMIT {
                        return Err(malformed("the trailers are too long"));
                    }
                    self.read.advance(end + 2);
                    if end == 0 {
                        self.body = Remaining::Done;
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// The connection may carry the next request: its answer read to the end, nothing more
    /// sent by the peer, and neither side closing it.
    pub fn reusable(&self) -> bool {
        self.sent
            && self.keep_alive
            && !self.eof
            && self.body == Remaining::Done
            && self.read.is_empty()
    }

    /// Polls an idle connection: `false` when the peer closed it or sent what nobody asked for.
    pub fn still_open(&mut self, cx: &mut Context<'_>) -> bool {
        self.poll_fill(cx, HEAD_READ).is_pending()
    }
}

/// Where the first CRLF in `bytes` starts.
fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

/// A chunk-size line's size (hex digits, any number of them, then extensions that are
/// ignored).
fn chunk_size(line: &[u8]) -> Result<u64, Failure> {
    let not_a_size = || malformed("a chunk-size line is not a size");
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let rest = &line[digits..];
    if digits == 0 || !(rest.is_empty() || matches!(rest[0], b';' | b' ' | b'\t')) {
        return Err(not_a_size());
    }
    line[..digits].iter().try_fold(0u64, |size, &d| {
        let digit = (d as char).to_digit(16).ok_or_else(not_a_size)?;
        size.checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(digit)))
            .ok_or_else(|| malformed("a chunk is larger than any body can be"))
    })
}

/// The answer's `Content-Length`: every value (lists included) the same decimal number.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, Failure> {
    let mut found = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for item in value.as_bytes().split(|&b| b == b',') {
            let item = item.trim_ascii();
            // Any number of digits (leading zeros too); `parse` refuses what overflows.
            let n = (!item.is_empty() && item.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(item).ok()?.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| malformed("its Content-Length is not a number"))?;
            if found.is_some_and(|f| f != n) {
                return Err(malformed("it has two different Content-Lengths"));
            }
            found = Some(n);
        }
    }
    Ok(found)
}

/// The last comma-separated token of the header's values.
fn last_token(headers: &HeaderMap, name: HeaderName) -> Option<&[u8]> {
    let value = headers.get_all(name).iter().next_back()?;
    value
        .as_bytes()
        .rsplit(|&b| b == b',')
        .next()
        .map(<[u8]>::trim_ascii)
}

/// Whether the answer lets the connection carry another request.
fn keeps_alive(version: Version, headers: &HeaderMap) -> bool {
    let says = |token: &[u8]| {
        headers.get_all(CONNECTION).iter().any(|v| {
            v.as_bytes()
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
        })
    };
    if version == Version::HTTP_10 {
        says(b"keep-alive")
    } else {
        !says(b"close")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::body::Body;
    use crate::http::stall::Clock;
    use hyper_util::rt::TokioIo;
    use std::future::poll_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    type Duplex = TokioIo<DuplexStream>;

    /// What one exchange did: the request's bytes as the server got them, the answer's head (or
    /// the failure), the body's pieces joined (or the failure), and whether the connection could
    /// take another request.
    struct Outcome {
        request: Vec<u8>,
        head: Result<Head, String>,
        body: Result<Vec<u8>, String>,
        reusable: bool,
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn pair() -> (Link<Duplex>, DuplexStream) {
        let (client, server) = tokio::io::duplex(1 << 20);
        (Link::new(TokioIo::new(client), true), server)
    }

    /// Sends `method` with `headers` and `body` on `link`, the server having written `answer`
    /// (and closed its side when `close`), and reads the whole answer.
    async fn exchange_on(
        link: &mut Link<Duplex>,
        server: &mut DuplexStream,
        method: Method,
        headers: &[(&'static str, &str)],
        body: Body,
        answer: &[u8],
        close: bool,
    ) -> Outcome {
        server.write_all(answer).await.unwrap();
        if close {
            server.shutdown().await.unwrap();
        }
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        let length = map
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let body = Watched::wrap(body, Clock::new(), length);
        let (mut out, framing) = Outgoing::new(method, &map, body);
        link.start(&out, &[], &["/p", "?", "q=1"], &map, framing.as_ref());
        let head = poll_fn(|cx| link.poll_exchange(cx, &mut out)).await;
        let mut request = vec![0; 1 << 20];
        // A request that failed in its body may have written nothing.
        let n = match &head {
            Err(Failure::Body(_)) => 0,
            _ => server.read(&mut request).await.unwrap(),
        };
        request.truncate(n);
        let head = head.map_err(|e| e.to_string());
        let mut body = Ok(Vec::new());
        if head.is_ok() {
            while let Some(piece) = poll_fn(|cx| link.poll_body(cx)).await {
                match piece {
                    Ok(piece) => body.as_mut().unwrap().extend_from_slice(&piece),
                    Err(e) => {
                        body = Err(e.to_string());
                        break;
                    }
                }
            }
        }
        Outcome {
            request,
            head,
            body,
            reusable: link.reusable(),
        }
    }

    fn exchange(
        method: Method,
        headers: &[(&'static str, &str)],
        body: Body,
        answer: &[u8],
        close: bool,
    ) -> Outcome {
        runtime().block_on(async {
            let (mut link, mut server) = pair();
            exchange_on(&mut link, &mut server, method, headers, body, answer, close).await
        })
    }

    fn get(answer: &[u8]) -> Outcome {
        exchange(Method::GET, &[("host", "h")], Body::empty(), answer, false)
    }

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    #[test]
    fn requests_are_framed_as_hyper_frames_them() {
        let ok = b"HTTP/1.1 204 No Content\r\n\r\n";
        let got = get(ok);
        assert_eq!(text(&got.request), "GET /p?q=1 HTTP/1.1\r\nhost: h\r\n\r\n");
        let got = exchange(
            Method::PUT,
            &[("host", "h"), ("content-length", "5")],
            Body::from(b"hello".to_vec()),
            ok,
            false,
        );
        assert_eq!(
            text(&got.request),
            "PUT /p?q=1 HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\n\r\nhello"
        );
        // A body that knows its length gets it written; one that does not is chunked.
        let got = exchange(Method::POST, &[], Body::from(b"{}".to_vec()), ok, false);
        assert_eq!(
            text(&got.request),
            "POST /p?q=1 HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}"
        );
        let pieces = futures_util::stream::iter([
            Ok::<_, std::io::Error>(Bytes::from_static(b"abc")),
            Ok(Bytes::from_static(b"defghijklmnopqrstu")),
        ]);
        let got = exchange(Method::POST, &[], Body::wrap_stream(pieces), ok, false);
        assert_eq!(
            text(&got.request),
            "POST /p?q=1 HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n12\r\ndefghijklmnopqrstu\r\n0\r\n\r\n"
        );
        assert!(got.reusable);
        // An empty body: no framing header, as hyper sends it.
        let got = exchange(Method::POST, &[], Body::empty(), ok, false);
        assert_eq!(text(&got.request), "POST /p?q=1 HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn a_body_longer_or_shorter_than_its_length_fails() {
        let ok = b"HTTP/1.1 204 No Content\r\n\r\n";
        let long = exchange(
            Method::PUT,
            &[("content-length", "3")],
            Body::from(b"hello".to_vec()),
            ok,
            false,
        );
        assert!(long.head.unwrap_err().contains("request body failed"));
        let pieces =
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"ab"))]);
        let short = exchange(
            Method::PUT,
            &[("content-length", "3")],
            Body::wrap_stream(pieces),
            ok,
            false,
        );
        assert!(short.head.unwrap_err().contains("request body failed"));
    }

    #[test]
    fn answers_are_read_by_every_framing() {
        let got = get(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"x\"\r\n\r\nhello");
        let head = got.head.unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.content_length, Some(5));
        assert_eq!(head.headers["etag"], "\"x\"");
        assert_eq!(got.body.unwrap(), b"hello");
        assert!(got.reusable);

        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
        let got = get(chunked);
        assert_eq!(got.head.unwrap().content_length, None);
        assert_eq!(got.body.unwrap(), b"hello0123456789");
        assert!(got.reusable);

        // To the close: the body is everything, the connection is not reused.
        let got = exchange(
            Method::GET,
            &[],
            Body::empty(),
            b"HTTP/1.1 200 OK\r\n\r\nall of it",
            true,
        );
        assert_eq!(got.body.unwrap(), b"all of it");
        assert!(!got.reusable);

        // Interim answers are skipped; 204, 304 and a HEAD's answer have no body.
        let got = get(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}");
        assert_eq!(got.head.unwrap().status, 201);
        assert_eq!(got.body.unwrap(), b"{}");
        for answer in [
            &b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"[..],
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
        ] {
            let got = get(answer);
            assert_eq!(got.body.unwrap(), b"");
            assert!(got.reusable);
        }
        let got = exchange(
            Method::HEAD,
            &[],
            Body::empty(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
            false,
        );
        assert_eq!(got.body.unwrap(), b"");
        assert!(got.reusable);
    }

    #[test]
    fn lengths_are_read_as_rfc_9112_reads_them() {
        // What has no body is not asked for its length.
        let got = get(b"HTTP/1.1 204 No Content\r\nContent-Length: abc\r\n\r\n");
        assert_eq!(got.head.unwrap().status, 204);
        assert!(got.reusable);
        let got = exchange(
            Method::HEAD,
            &[],
            Body::empty(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
            false,
        );
        assert_eq!(got.head.unwrap().status, 200);
        // Chunked wins over a length, even a broken one.
        let got = get(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
        assert_eq!(got.body.unwrap(), b"ok");
        assert!(!got.reusable);
        // Leading zeros, in sizes and lengths; lists of one length.
        let got = get(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000000005\r\nhello\r\n0\r\n\r\n");
        assert_eq!(got.body.unwrap(), b"hello");
        let got = get(b"HTTP/1.1 200 OK\r\nContent-Length: 000000000000000000005\r\n\r\nhello");
        assert_eq!(got.body.unwrap(), b"hello");
        let got = get(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(got.body.unwrap(), b"hello");
        // Sizes past 64 bits are refused, not wrapped.
        let got =
            get(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n");
        assert!(got.body.unwrap_err().contains("larger than any body"));
    }

    #[test]
    fn only_answers_that_allow_it_keep_the_connection() {
        for (answer, keeps) in [
            (&b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"[..], true),
            (b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", false),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
            (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", true),
            // A length beside chunked: the chunks count, the connection is not trusted again.
            (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false),
            // More than the answer: nobody knows what those bytes are.
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy", false),
        ] {
            let got = get(answer);
            assert!(got.body.is_ok(), "{}", text(answer));
            assert_eq!(got.reusable, keeps, "{}", text(answer));
        }
    }

    #[test]
    fn a_connection_carries_requests_one_after_another() {
        runtime().block_on(async {
            let (mut link, mut server) = pair();
            for i in 0..3 {
                let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{i}");
                let got = exchange_on(
                    &mut link,
                    &mut server,
                    Method::GET,
                    &[],
                    Body::empty(),
                    answer.as_bytes(),
                    false,
                )
                .await;
                assert_eq!(got.body.unwrap(), i.to_string().as_bytes());
                assert!(got.reusable);
                assert!(link.still_open(&mut Context::from_waker(std::task::Waker::noop())));
            }
            drop(server);
            assert!(!link.still_open(&mut Context::from_waker(std::task::Waker::noop())));
        });
    }

    #[test]
    fn hostile_answers_fail_with_what_is_wrong() {
        let failure = |answer: &[u8], close: bool| {
            let got = exchange(Method::GET, &[], Body::empty(), answer, close);
            match got.head {
                Err(e) => e,
                Ok(_) => got.body.unwrap_err(),
            }
        };
        // (answer, whether the peer closes after it, what the failure says)
        for (answer, close, says) in [
            (
                &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"[..],
                false,
                "two different",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                false,
                "not a number",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
                false,
                "not a number",
            ),
            (
                b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
                false,
                "switched protocols",
            ),
            (b"SSH-2.0-OpenSSH\r\n\r\n", false, "not valid HTTP/1.1"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                false,
                "not a size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
                false,
                "CRLF",
            ),
            // The peer closes early: before the answer, in its head, in its body.
            (b"", true, "before the answer came"),
            (
                b"HTTP/1.1 200 OK\r\nContent-",
                true,
                "before the answer came",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                true,
                "before the answer's body was complete",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                true,
                "before the answer's body was complete",
            ),
        ] {
            let e = failure(answer, close);
            assert!(e.contains(says), "{}: {e}", text(answer));
        }
    }

    #[test]
    fn endless_heads_chunk_lines_and_trailers_stop_at_their_limits() {
        let mut head = b"HTTP/1.1 200 OK\r\nX-Filler: ".to_vec();
        head.extend(std::iter::repeat_n(b'a', HEAD_LIMIT + HEAD_READ));
        let got = get(&head);
        assert!(got.head.unwrap_err().contains("longer than"));
        // As many headers as hyper takes, and one more.
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            head.extend_from_slice(b"X-Filler: a\r\n");
        }
        let got = get(&head);
        assert!(got.head.unwrap_err().contains("too many headers"));

        let mut answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1".to_vec();
        answer.extend(std::iter::repeat_n(b';', CHUNK_LINE_LIMIT + HEAD_READ));
        let got = get(&answer);
        assert!(got.body.unwrap_err().contains("too long"));

        let mut answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
        while answer.len() <= 2 * HEAD_LIMIT {
            answer.extend_from_slice(
                b"X-T: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            );
        }
        let got = get(&answer);
        assert!(got.body.unwrap_err().contains("trailers are too long"));
    }

    #[test]
    fn an_answer_before_the_body_is_taken_and_closes_the_connection() {
        runtime().block_on(async {
            // A small pipe: the body cannot all go before the server reads.
            let (client, mut server) = tokio::io::duplex(1024);
            let mut link = Link::new(TokioIo::new(client), true);
            let mut map = HeaderMap::new();
            map.insert(CONTENT_LENGTH, HeaderValue::from(100_000u64));
            let body = Watched::wrap(Body::from(vec![b'x'; 100_000]), Clock::new(), Some(100_000));
            let (mut out, framing) = Outgoing::new(Method::PUT, &map, body);
            link.start(&out, &[], &["/"], &map, framing.as_ref());
            server
                .write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            let head = poll_fn(|cx| link.poll_exchange(cx, &mut out))
                .await
                .unwrap();
            assert_eq!(head.status, 413);
            assert!(!link.reusable());
        });
    }
}
