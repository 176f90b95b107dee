//! The C entry points with fuzz-made arguments: a small interpreter runs a sequence of calls
//! (options setters, attachments from bytes/base64/files, status names, error and list accessors,
//! client creation and every operation, background uploads, flush and free) with NULL or
//! non-NULL NUL-terminated strings, random integers and enum values.
//!
//! Nothing leaves the machine: every client's URL is a listener of this process on 127.0.0.1
//! that answers each request with a non-retryable 4xx whose body comes from the input (and
//! echoes the API key, which must never appear in a message).
//!
//! Checked on every call: the status is a known one and never OPIK_ERR_INTERNAL (a caught
//! panic); a requested error exists exactly when the call failed, has the same status, a UTF-8
//! message without the key; `on_done` and its free function run exactly once per accepted upload
//! and none after `opik_client_free` returned; borrowed strings are valid UTF-8.
#![no_main]
use libfuzzer_sys::fuzz_target;
use opik_attachments::ffi::attachment::*;
use opik_attachments::ffi::background::*;
use opik_attachments::ffi::client::*;
use opik_attachments::ffi::error::*;
use opik_attachments::ffi::list::*;
use opik_attachments::ffi::operations::*;
use opik_attachments::ffi::options::*;
use opik_attachments::ffi::status::*;
use std::ffi::{c_char, c_void, CStr, CString};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock};

const KEY: &str = "fuzz-secret-key-7f3a";
const STATUSES: [u16; 6] = [400, 401, 403, 404, 413, 422];

/// The answer of the local server: status and body (set by each input).
static ANSWER: Mutex<(u16, Vec<u8>)> = Mutex::new((400, Vec::new()));
static DONE: AtomicUsize = AtomicUsize::new(0);
static FREED: AtomicUsize = AtomicUsize::new(0);
static LEAKS: AtomicUsize = AtomicUsize::new(0);
/// Whether the current client was made with the API key `KEY`.
static HAS_KEY: AtomicBool = AtomicBool::new(false);

struct Fixture {
    url: CString,
    dir: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        // One connection at a time on one thread: each is read, answered and closed at once.
        // (A thread per connection made LeakSanitizer report, now and then, the TLS destructor
        // list of a thread still exiting: 32 bytes from __cxa_thread_atexit_impl.)
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                serve(conn);
            }
        });
        let dir = std::env::temp_dir().join(format!("opik-fuzz-c-api-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        std::fs::write(dir.join("file.txt"), b"hello from a file").unwrap();
        std::fs::write(dir.join("empty.ini"), b"").unwrap();
        let fifo = CString::new(dir.join("fifo").display().to_string()).unwrap();
        // SAFETY: a valid path string.
        unsafe { mkfifo(fifo.as_ptr(), 0o600) };
        let url = format!("http://127.0.0.1:{port}/api/");
        // Clients made without options read the environment: point it here too, and away from
        // any ~/.opik.config.
        std::env::set_var("OPIK_URL_OVERRIDE", &url);
        std::env::set_var("OPIK_CONFIG_PATH", dir.join("empty.ini"));
        std::env::remove_var("OPIK_API_KEY");
        Fixture {
            url: CString::new(url).unwrap(),
            dir,
        }
    })
}

extern "C" {
    fn mkfifo(path: *const c_char, mode: u32) -> i32;
}

/// One request (headers and a Content-Length body), one answer, then close.
fn serve(mut conn: std::net::TcpStream) {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(1)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 1 << 20 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < len {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
    }
    let (status, body) = ANSWER.lock().unwrap().clone();
    let head = format!(
        "HTTP/1.1 {status} Fuzz\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
}

/// Reads the fuzz input.
struct In<'a>(&'a [u8]);
impl In<'_> {
    fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        (self.u32() as u64) << 32 | self.u32() as u64
    }
    fn bytes(&mut self) -> Vec<u8> {
        let n = (self.u8() as usize).min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b.to_vec()
    }
    /// NULL, or a NUL-terminated string (interior NULs end it early, as in C). Never holds the
    /// API key: only `opik_options_set_api_key` gets it (see `key`), so a message that shows it
    /// got it from the key itself.
    fn cstr(&mut self) -> Option<CString> {
        match self.u8() % 8 {
            0 => None,
            1 => Some(CString::new("fuzz-project").unwrap()),
            2 => Some(CString::new("0b5e2c5c-6a4e-4f3e-9a51-1a2b3c4d5e6f").unwrap()),
            _ => {
                let mut b = self.bytes();
                if let Some(i) = b.iter().position(|&c| c == 0) {
                    b.truncate(i);
                }
                let s = String::from_utf8_lossy(&b);
                if s.contains(KEY) {
                    b = s.replace(KEY, "x").into_bytes();
                }
                Some(CString::new(b).unwrap())
            }
        }
    }
    /// The API key argument: the key, NULL or another string.
    fn key(&mut self) -> (Option<CString>, bool) {
        match self.u8() % 4 {
            0 | 1 => (Some(CString::new(KEY).unwrap()), true),
            _ => (self.cstr(), false),
        }
    }
}

fn ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(null(), |s| s.as_ptr())
}

fn check_status(s: opik_status) {
    assert!((0..=14).contains(&s), "status {s}");
}

/// Calls `f` with an error out-parameter (or NULL) and checks the status and the error.
fn with_err(want_err: bool, f: impl FnOnce(*mut *mut opik_error) -> opik_status) -> opik_status {
    let mut e: *mut opik_error = null_mut();
    let s = f(if want_err { &mut e } else { null_mut() });
    check_status(s);
    if !want_err {
        return s;
    }
    if s == 0 {
        assert!(e.is_null(), "an error on success");
        return s;
    }
    assert!(!e.is_null(), "status {s} without an error");
    check_error(e, s);
    opik_error_free(e);
    s
}

fn check_error(e: *const opik_error, s: opik_status) {
    assert_eq!(opik_error_status(e), s);
    let m = opik_error_message(e);
    assert!(!m.is_null());
    // SAFETY: borrowed from the live error.
    let m = unsafe { CStr::from_ptr(m) }
        .to_str()
        .expect("UTF-8 message");
    if HAS_KEY.load(SeqCst) && m.contains(KEY) {
        // Reported (issue 11, item 4); long runs count it instead of stopping there.
        if skip_known() {
            if LEAKS.fetch_add(1, SeqCst) == 0 {
                eprintln!("KNOWN BUG: the API key in an error message: {m:?}");
            }
        } else {
            panic!("the API key in {m:?}");
        }
    }
    let h = opik_error_http_status(e);
    assert!(h == 0 || (100..=599).contains(&h), "http status {h}");
}

fn c_str_ok(p: *const c_char) {
    if !p.is_null() {
        // SAFETY: borrowed from a live handle.
        unsafe { CStr::from_ptr(p) }.to_str().expect("UTF-8");
    }
}

extern "C" fn on_done(_: *mut c_void, s: opik_status, e: *const opik_error) {
    check_status(s);
    if s == 0 {
        assert!(e.is_null());
    } else {
        assert!(!e.is_null());
        check_error(e, s);
    }
    DONE.fetch_add(1, SeqCst);
}
extern "C" fn on_free(_: *mut c_void) {
    FREED.fetch_add(1, SeqCst);
}
extern "C" fn on_data(user: *mut c_void, _chunk: *const u8, _len: usize) -> i32 {
    user as usize as i32
}

struct State {
    options: *mut opik_options,
    client: *mut opik_client,
    attachments: Vec<*mut opik_attachment>,
    ops: Vec<*mut opik_op>,
    accepted: usize,
    /// Whether `options` hold the API key `KEY`.
    options_key: bool,
}

impl State {
    fn attachment(&self, i: u8) -> *const opik_attachment {
        match i as usize % (self.attachments.len() + 1) {
            0 => null(),
            n => self.attachments[n - 1],
        }
    }
    fn client(&self, i: u8) -> *mut opik_client {
        if i.is_multiple_of(4) {
            null_mut()
        } else {
            self.client
        }
    }
    fn close_client(&mut self) {
        if !self.client.is_null() {
            opik_client_free(self.client);
            self.client = null_mut();
            // Every accepted upload completed, callbacks included, before free returned.
            assert_eq!(DONE.load(SeqCst), self.accepted, "on_done calls");
            assert_eq!(FREED.load(SeqCst), self.accepted, "user_data_free calls");
        }
    }
}

fn path(fx: &Fixture, i: u8) -> Option<CString> {
    let p = match i % 8 {
        0 => return None,
        1 => fx.dir.join("file.txt"),
        2 => fx.dir.join("missing"),
        3 => fx.dir.clone(),
        4 => fx.dir.join("fifo"),
        5 => PathBuf::from("/dev/null"),
        6 => fx.dir.join("out.bin"),
        _ => PathBuf::from("/nonexistent-dir/x"),
    };
    Some(CString::new(p.display().to_string()).unwrap())
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let mut input = In(data);
    {
        let status = STATUSES[input.u8() as usize % STATUSES.len()];
        let mut body = input.bytes();
        if input.u8() % 2 == 0 {
            body.extend_from_slice(format!("{{\"errors\":[\"echo {KEY}\"]}}").as_bytes());
        }
        *ANSWER.lock().unwrap() = (status, body);
    }
    DONE.store(0, SeqCst);
    FREED.store(0, SeqCst);
    HAS_KEY.store(false, SeqCst);
    let mut st = State {
        options: null_mut(),
        client: null_mut(),
        attachments: Vec::new(),
        ops: Vec::new(),
        accepted: 0,
        options_key: false,
    };
    let mut steps = 0;
    while !input.0.is_empty() && steps < 48 {
        steps += 1;
        let op = input.u8();
        let e = input.u8() % 2 == 0;
        let o = if input.u8() % 5 == 0 {
            null_mut()
        } else {
            st.options
        };
        match op % 30 {
            0 => {
                opik_options_free(st.options);
                st.options_key = false;
                st.options = opik_options_new();
                assert!(!st.options.is_null());
            }
            1 => {
                opik_options_free(st.options);
                st.options = null_mut();
            }
            2 => check_status(opik_options_set_url(o, ptr(&input.cstr()))),
            3 => {
                let (k, is_key) = input.key();
                let s = opik_options_set_api_key(o, ptr(&k));
                check_status(s);
                if s == 0 && o == st.options {
                    st.options_key = is_key;
                }
            }
            4 => check_status(opik_options_set_workspace(o, ptr(&input.cstr()))),
            5 => check_status(opik_options_set_project_name(o, ptr(&input.cstr()))),
            6 => check_status(opik_options_set_timeout_ms(o, input.u64() % 4 * 500)),
            7 => check_status(opik_options_set_upload_concurrency(o, input.u32() % 80)),
            8 => check_status(opik_options_set_tls_verify(o, input.u8() % 2 == 0)),
            9 => {
                let which = input.u8();
                // Reported: a CA file that is a FIFO makes opik_client_new block for good
                // (std::fs::read in transport.rs); long runs skip it.
                if skip_known() && which % 8 == 4 {
                    continue;
                }
                check_status(opik_options_set_ca_file(o, ptr(&path(fx, which))));
            }
            10 => {
                let (q, m) = (input.u32() % 4, input.u64() % 4096);
                check_status(opik_options_set_queue_limits(o, q, m));
            }
            11 => {
                let d = match input.u8() % 3 {
                    0 => None,
                    1 => Some(CString::new(fx.dir.join("outbox").display().to_string()).unwrap()),
                    _ => Some(CString::new(vec![0xff, 0xfe]).unwrap()),
                };
                check_status(opik_options_set_outbox_dir(o, ptr(&d)));
            }
            12 => check_status(opik_options_set_shutdown_timeout_ms(o, input.u64() % 1000)),
            13 => {
                let bytes = input.bytes();
                let data = if input.u8() % 4 == 0 {
                    null()
                } else {
                    bytes.as_ptr()
                };
                let (n, t) = (input.cstr(), input.cstr());
                let mut a = null_mut();
                let s = with_err(e, |err| {
                    opik_attachment_from_bytes(data, bytes.len(), ptr(&n), ptr(&t), &mut a, err)
                });
                keep(&mut st, s, a);
            }
            14 => {
                let (b, n, t) = (input.cstr(), input.cstr(), input.cstr());
                if known_bug(&b) {
                    continue;
                }
                let mut a = null_mut();
                let s = with_err(e, |err| {
                    opik_attachment_from_base64(ptr(&b), ptr(&n), ptr(&t), &mut a, err)
                });
                keep(&mut st, s, a);
            }
            15 => {
                let (p, n, t) = (path(fx, input.u8()), input.cstr(), input.cstr());
                let mut a = null_mut();
                let s = with_err(e, |err| {
                    opik_attachment_from_file(ptr(&p), ptr(&n), ptr(&t), &mut a, err)
                });
                keep(&mut st, s, a);
            }
            16 => {
                let a = st.attachment(input.u8());
                c_str_ok(opik_attachment_file_name(a));
                c_str_ok(opik_attachment_content_type(a));
                let _ = opik_attachment_size(a);
                assert_eq!(a.is_null(), opik_attachment_file_name(a).is_null());
            }
            17 => {
                let s = input.u32() as i32;
                let name = opik_status_str(s);
                // SAFETY: a static string.
                let name = unsafe { CStr::from_ptr(name) }.to_str().unwrap();
                assert!(name.starts_with("OPIK_"));
                assert_eq!(
                    name == "OPIK_ERR_UNKNOWN",
                    !(0..=15).contains(&s),
                    "{s} {name}"
                );
                c_str_ok(opik_version());
            }
            18 => {
                st.close_client();
                if !o.is_null() {
                    // Whatever URL the input set, the client talks only to this process.
                    assert_eq!(opik_options_set_url(o, fx.url.as_ptr()), 0);
                }
                // Only a client holding the key can leak it.
                HAS_KEY.store(!o.is_null() && st.options_key, SeqCst);
                let mut c = null_mut();
                let s = with_err(e, |err| opik_client_new(o, &mut c, err));
                assert_eq!(s == 0, !c.is_null());
                st.client = c;
                DONE.store(0, SeqCst);
                FREED.store(0, SeqCst);
                st.accepted = 0;
            }
            19 => st.close_client(),
            20..=24 => {
                let c = st.client(input.u8());
                let (p, id) = (input.cstr(), input.cstr());
                let ty = (input.u8() % 3) as i32 - (input.u8() % 2) as i32 * 7;
                let a = st.attachment(input.u8());
                match op % 30 {
                    20 => {
                        with_err(e, |err| opik_upload(c, ptr(&p), ty, ptr(&id), a, err));
                    }
                    21 => {
                        let mut l = null_mut();
                        let s = with_err(e, |err| opik_list(c, ptr(&p), ty, ptr(&id), &mut l, err));
                        assert_eq!(s == 0, !l.is_null());
                        let n = opik_attachment_list_len(l);
                        for i in [0, 1, n, usize::MAX] {
                            c_str_ok(opik_attachment_list_file_name(l, i));
                            c_str_ok(opik_attachment_list_mime_type(l, i));
                            c_str_ok(opik_attachment_list_link(l, i));
                            let _ = opik_attachment_list_file_size(l, i);
                        }
                        opik_attachment_list_free(l);
                    }
                    22 => {
                        let (f, m) = (input.cstr(), input.cstr());
                        let cb = if input.u8() % 4 == 0 {
                            None
                        } else {
                            Some(on_data as _)
                        };
                        let user = (input.u8() % 2) as usize as *mut c_void;
                        with_err(e, |err| {
                            opik_download(c, ptr(&p), ty, ptr(&id), ptr(&f), ptr(&m), cb, user, err)
                        });
                    }
                    23 => {
                        let (f, m, d) = (input.cstr(), input.cstr(), path(fx, input.u8()));
                        with_err(e, |err| {
                            opik_download_to_file(
                                c,
                                ptr(&p),
                                ty,
                                ptr(&id),
                                ptr(&f),
                                ptr(&m),
                                ptr(&d),
                                err,
                            )
                        });
                    }
                    _ => {
                        let names: Vec<Option<CString>> =
                            (0..input.u8() % 4).map(|_| input.cstr()).collect();
                        let ptrs: Vec<*const c_char> = names.iter().map(ptr).collect();
                        let (arr, count) = match input.u8() % 3 {
                            0 => (null(), ptrs.len()),
                            1 => (ptrs.as_ptr(), ptrs.len()),
                            _ => (ptrs.as_ptr(), 0),
                        };
                        with_err(e, |err| {
                            opik_delete(c, ptr(&p), ty, ptr(&id), arr, count, err)
                        });
                    }
                }
            }
            25 => {
                let c = st.client(input.u8());
                let (p, id) = (input.cstr(), input.cstr());
                let ty = (input.u8() % 3) as i32;
                let a = st.attachment(input.u8());
                let mode = input.u8();
                let done = if mode & 1 == 0 {
                    Some(on_done as _)
                } else {
                    None
                };
                let free = if mode & 2 == 0 {
                    Some(on_free as _)
                } else {
                    None
                };
                let mut op: *mut opik_op = null_mut();
                let out = if mode & 4 == 0 {
                    &mut op as *mut _
                } else {
                    null_mut()
                };
                let s = with_err(e, |err| {
                    opik_upload_async(
                        c,
                        ptr(&p),
                        ty,
                        ptr(&id),
                        a,
                        done,
                        null_mut(),
                        free,
                        out,
                        err,
                    )
                });
                if s == 0 {
                    if done.is_none() {
                        DONE.fetch_add(1, SeqCst); // counted as if it had run
                    }
                    if free.is_none() {
                        FREED.fetch_add(1, SeqCst);
                    }
                    st.accepted += 1;
                    if !op.is_null() {
                        st.ops.push(op);
                    }
                } else {
                    assert!(op.is_null());
                }
            }
            26 => {
                if let Some(op) = st.ops.pop() {
                    check_status(opik_op_wait(op, input.u64() % 20));
                    check_status(opik_op_status(op));
                    let (mut sent, mut total) = (0, 0);
                    with_err(e, |err| opik_op_progress(op, &mut sent, &mut total, err));
                    if input.u8() % 2 == 0 {
                        opik_op_cancel(op);
                    }
                    opik_op_free(op);
                } else {
                    assert_eq!(opik_op_wait(null_mut(), 0), 1);
                    assert_eq!(opik_op_status(null()), 1);
                    with_err(e, |err| {
                        opik_op_progress(null(), null_mut(), null_mut(), err)
                    });
                    opik_op_cancel(null_mut());
                }
            }
            27 => {
                let c = st.client(input.u8());
                with_err(e, |err| opik_client_flush(c, input.u64() % 50, err));
                let _ = opik_client_pending(c);
            }
            28 => {
                let a = st.attachments.pop().unwrap_or(null_mut());
                opik_attachment_free(a);
            }
            _ => {
                // The accessors on NULL.
                assert_eq!(opik_error_status(null()), 1);
                c_str_ok(opik_error_message(null()));
                assert_eq!(opik_error_http_status(null()), 0);
                opik_error_free(null_mut());
                assert_eq!(opik_attachment_list_len(null()), 0);
                assert_eq!(opik_client_pending(null()), 0);
            }
        }
    }
    for op in st.ops.drain(..) {
        opik_op_free(op);
    }
    st.close_client();
    for a in st.attachments.drain(..) {
        opik_attachment_free(a);
    }
    opik_options_free(st.options);
});

fn keep(st: &mut State, s: opik_status, a: *mut opik_attachment) {
    assert_eq!(s == 0, !a.is_null(), "status {s} and attachment {a:?}");
    if !a.is_null() {
        st.attachments.push(a);
    }
}

/// With OPIK_FUZZ_SKIP_KNOWN=1 (long runs only), base64 text that hits the reported
/// `split_data_uri` panic (byte 5 of the trimmed text inside a character) is not passed.
fn known_bug(b: &Option<CString>) -> bool {
    skip_known()
        && b.as_ref().and_then(|b| b.to_str().ok()).is_some_and(|t| {
            let t = t.trim_start();
            t.len() >= 5 && !t.is_char_boundary(5)
        })
}

fn skip_known() -> bool {
    static SKIP: OnceLock<bool> = OnceLock::new();
    *SKIP.get_or_init(|| std::env::var_os("OPIK_FUZZ_SKIP_KNOWN").is_some_and(|v| v == "1"))
}
