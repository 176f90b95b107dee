//! The network-conditions matrix: Toxiproxy between the C API and the test server, and in S3 mode
//! between the C API and storage (the presigned part PUTs and GETs go through a proxy of their
//! own: the server is started with `Config::storage_origin` set to it).
//!
//! Each case runs tests/c/test_network.c (upload a file of N bytes with a short
//! `opik_options_set_timeout_ms`, download it, compare SHA-256), sets the proxies' toxics between
//! its steps, checks what the server stored (SHA-256 and size, or nothing after a failure) and how
//! many data requests it saw, and removes the toxics. Cases run concurrently, each with its own
//! server and proxies. A table of every step is printed (`cargo test --test network --
//! --nocapture`), then every case's outcome is asserted.
//!
//! Toxiproxy is installed by `scripts/install-test-deps`. Without it the test is skipped with a
//! message, unless `CI` is set: then it fails. `OPIK_NETWORK_LD_LIBRARY_PATH` runs the C program
//! against another build of the library (to compare before and after a change);
//! `OPIK_NETWORK_CASES=substring` runs only the cases whose name contains it.

#[path = "common/cbuild.rs"]
mod cbuild;
#[path = "network/toxiproxy.rs"]
mod toxiproxy;

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use opik_test_server::{Config, StorageMode, TestServer};
use toxiproxy::{Stream, Toxic, Toxiproxy};

const API_KEY: &str = "network-key-7d1e";
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
/// Cases running at once (they mostly wait on rate-limited sockets).
const PARALLEL: usize = 8;
/// No step may take longer than this: past it the program is killed and the case fails.
const STEP_LIMIT: Duration = Duration::from_secs(120);

/// Which proxy a toxic goes on.
#[derive(Clone, Copy, Debug)]
enum Where {
    /// The one that carries the file: the API proxy in direct mode, storage in S3 mode.
    Data,
    /// Every proxy of the case.
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Upload,
    Download,
}

/// When a mid-transfer fault is added.
#[derive(Clone, Copy, Debug)]
enum Trigger {
    /// Once the server has received this many request-body bytes (during the upload).
    ServerBytes(u64),
    /// This long after the step started.
    After(Duration),
}

/// A toxic added in the middle of a step and removed `hold` later (`None`: at the step's end).
#[derive(Clone, Debug)]
struct Mid {
    step: Step,
    trigger: Trigger,
    toxic: Toxic,
    hold: Option<Duration>,
}

#[derive(Clone, Debug)]
struct Case {
    name: String,
    mode: StorageMode,
    bytes: usize,
    timeout_ms: u64,
    /// Toxics on the proxies during the upload and during the download.
    upload: Vec<(Where, Toxic)>,
    /// `None`: no download.
    download: Option<Vec<(Where, Toxic)>>,
    mid: Option<Mid>,
    expect_upload: &'static str,
    expect_download: &'static str,
    /// The mid-upload fault must have cost at least one data request (a retry).
    expect_retry: bool,
}

impl Case {
    fn new(name: &str, mode: StorageMode, bytes: usize, timeout_ms: u64) -> Case {
        Case {
            name: format!("{name}-{}", mode_name(mode)),
            mode,
            bytes,
            timeout_ms,
            upload: Vec::new(),
            download: Some(Vec::new()),
            mid: None,
            expect_upload: "OPIK_OK",
            expect_download: "OPIK_OK",
            expect_retry: false,
        }
    }
    fn describe(&self, step: Step) -> String {
        let mut parts: Vec<String> = match step {
            Step::Upload => &self.upload,
            Step::Download => self.download.as_ref().unwrap(),
        }
        .iter()
        .map(|(_, t)| t.describe())
        .collect();
        if let Some(m) = self.mid.as_ref().filter(|m| m.step == step) {
            let hold = m
                .hold
                .map(|h| format!(" for {} ms", h.as_millis()))
                .unwrap_or_default();
            let when = match m.trigger {
                Trigger::ServerBytes(b) => format!("at {:.1} MiB", b as f64 / MIB as f64),
                Trigger::After(d) => format!("after {} ms", d.as_millis()),
            };
            parts.push(format!("{} {when}{hold}", m.toxic.describe()));
        }
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join(" + ")
        }
    }
}

fn mode_name(mode: StorageMode) -> &'static str {
    match mode {
        StorageMode::Direct => "direct",
        StorageMode::S3 => "s3",
    }
}

/// Bandwidth cases: (KB/s, file bytes, timeout ms). Each transfer takes twice its timeout or more,
/// so a timer on the whole request cannot pass. The timeout grows as the rate falls because the
/// proxy acknowledges what it buffers: once the client's last byte is acknowledged, Toxiproxy's
/// receive buffer (95-745 KB measured with `ss`; the kernel autotunes it) still drains at the
/// toxic's rate while the client, which cannot see those bytes, hears nothing: up to ~0.7 s at
/// 1024 KB/s, ~2.9 s at 256 KB/s and ~11.6 s at 64 KB/s. The client's own send queue is another
/// matter: the library controls it (bounded, e.g. with TCP_NOTSENT_LOWAT, writes show progress).
const BANDWIDTH: [(u64, usize, u64); 3] = [
    (64, 2 * MIB, 15_000),
    (256, 2 * MIB, 4_000),
    (1024, 4 * MIB, 2_000),
];

/// The matrix. Mid-transfer faults use 11 MiB (3 parts in S3 mode) slowed down enough that the
/// fault lands while parts are in flight.
fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for mode in [StorageMode::Direct, StorageMode::S3] {
        for (rate, bytes, timeout_ms) in BANDWIDTH {
            let mut up = Case::new(&format!("bandwidth-{rate}KB/s-up"), mode, bytes, timeout_ms);
            up.upload = vec![(Where::Data, Toxic::bandwidth(Stream::Up, rate))];
            v.push(up);
            let mut down = Case::new(
                &format!("bandwidth-{rate}KB/s-down"),
                mode,
                bytes,
                timeout_ms,
            );
            down.download = Some(vec![(Where::Data, Toxic::bandwidth(Stream::Down, rate))]);
            v.push(down);
        }

        let mut latency = Case::new("latency-200ms", mode, 11 * MIB, 2000);
        let lat = vec![
            (Where::All, Toxic::latency(Stream::Up, 200, 50)),
            (Where::All, Toxic::latency(Stream::Down, 200, 50)),
        ];
        latency.upload = lat.clone();
        latency.download = Some(lat);
        v.push(latency);

        // Mid-upload faults: the file crosses the proxy at a limited rate (parts in parallel in
        // S3 mode, each on its own connection) and the fault is added once ~40% has arrived.
        let slow = match mode {
            StorageMode::Direct => 4000,
            StorageMode::S3 => 2000,
        };
        let at = Trigger::ServerBytes((11 * MIB * 2 / 5) as u64);
        let faults = [
            (
                "reset_peer",
                Toxic::reset_peer(Stream::Up, 0),
                Some(100),
                true,
            ),
            ("timeout", Toxic::timeout(Stream::Up, 500), Some(700), true),
            (
                "slicer",
                Toxic::slicer(Stream::Up, 1024, 512, 50),
                None,
                false,
            ),
        ];
        for (name, toxic, hold, retry) in faults {
            let mut c = Case::new(&format!("{name}-mid-upload"), mode, 11 * MIB, 10_000);
            c.upload = vec![(Where::Data, Toxic::bandwidth(Stream::Up, slow))];
            c.mid = Some(Mid {
                step: Step::Upload,
                trigger: at,
                toxic,
                hold: hold.map(Duration::from_millis),
            });
            c.expect_retry = retry;
            if name == "slicer" {
                c.download = Some(vec![(
                    Where::Data,
                    Toxic::slicer(Stream::Down, 1024, 512, 50),
                )]);
            }
            v.push(c);
        }

        // A reset after bytes were delivered: reported, never retried (on_data would see bytes
        // twice), and no hang.
        let mut reset_down = Case::new("reset_peer-mid-download", mode, 4 * MIB, 2000);
        reset_down.download = Some(vec![(Where::Data, Toxic::bandwidth(Stream::Down, 2000))]);
        reset_down.mid = Some(Mid {
            step: Step::Download,
            trigger: Trigger::After(Duration::from_millis(1000)),
            toxic: Toxic::reset_peer(Stream::Down, 0),
            hold: Some(Duration::from_millis(100)),
        });
        reset_down.expect_download = "OPIK_ERR_NETWORK";
        v.push(reset_down);

        // Every connection closed after 256 KiB: a clear error after the retries, no hang.
        let mut limit_up = Case::new("limit_data-up", mode, 2 * MIB, 2000);
        limit_up.upload = vec![(Where::Data, Toxic::limit_data(Stream::Up, 256 * KIB as u64))];
        limit_up.download = None;
        limit_up.expect_upload = "OPIK_ERR_NETWORK";
        v.push(limit_up);
        let mut limit_down = Case::new("limit_data-down", mode, 2 * MIB, 2000);
        limit_down.download = Some(vec![(
            Where::Data,
            Toxic::limit_data(Stream::Down, 256 * KIB as u64),
        )]);
        limit_down.expect_download = "OPIK_ERR_NETWORK";
        v.push(limit_down);
    }
    v
}

/// What one step of one case gave.
#[derive(Clone, Debug, Default)]
struct StepResult {
    status: String,
    seconds: f64,
    /// Upload: the server stored the same SHA-256 and size. Download: the program's check.
    identical: bool,
}

#[derive(Debug, Default)]
struct Outcome {
    upload: Option<StepResult>,
    download: Option<StepResult>,
    data_requests: usize,
    /// Where the mid-step fault was added: bytes the server had then (upload) or ms (download).
    mid_fired: Option<String>,
    failures: Vec<String>,
}

/// The content test_network.c writes for a file of `len` bytes (xorshift seeded with the length).
fn expected_sha256(len: usize) -> String {
    static CACHE: OnceLock<Mutex<HashMap<usize, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(h) = cache.lock().unwrap().get(&len) {
        return h.clone();
    }
    let hex = cbuild::xorshift_sha256(len, len as u64);
    cache.lock().unwrap().insert(len, hex.clone());
    hex
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// The program's stdout, line by line, with a bound on each wait.
struct Lines {
    rx: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    /// The next line starting with `prefix` (others are kept for the failure message).
    fn expect(&mut self, prefix: &str, limit: Duration) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Ok(line),
                Ok(line) => self.seen.push(line),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("no {prefix} line within {} s", limit.as_secs()))
                }
                Err(_) => {
                    return Err(format!(
                        "the program ended before printing {prefix}: {:?}",
                        self.seen
                    ))
                }
            }
        }
    }
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or("")
}

fn step_result(line: &str) -> StepResult {
    StepResult {
        status: field(line, "status").to_string(),
        seconds: field(line, "seconds").parse().unwrap_or(f64::NAN),
        identical: field(line, "identical") == "yes",
    }
}

fn go(stdin: &mut ChildStdin) {
    // A program that already died shows up as a missing line; nothing to do here.
    let _ = stdin.write_all(b"go\n").and_then(|_| stdin.flush());
}

/// Runs one case end to end; every unmet expectation goes into `failures`.
fn run_case(tp: &Toxiproxy, exe: &std::path::Path, case: &Case) -> Outcome {
    let mut out = Outcome::default();
    let id = case.name.replace(['/', '.'], "_");
    let api_proxy = format!("{id}-api");
    let storage_proxy = format!("{id}-storage");
    let api_listen = tp.create_proxy(&api_proxy);
    let s3 = case.mode == StorageMode::S3;
    let storage_listen = s3.then(|| tp.create_proxy(&storage_proxy));
    let server = TestServer::start(Config {
        mode: case.mode,
        api_key: Some(API_KEY.into()),
        storage_origin: storage_listen.as_ref().map(|l| format!("http://{l}")),
        ..Config::default()
    });
    let upstream = host_port(&server.base_url());
    tp.set_upstream(&api_proxy, &upstream);
    if s3 {
        tp.set_upstream(&storage_proxy, &upstream);
    }
    let proxies_for = |w: Where| -> Vec<&str> {
        match (w, s3) {
            (Where::Data, false) | (Where::All, false) => vec![api_proxy.as_str()],
            (Where::Data, true) => vec![storage_proxy.as_str()],
            (Where::All, true) => vec![api_proxy.as_str(), storage_proxy.as_str()],
        }
    };
    let apply = |toxics: &[(Where, Toxic)]| {
        for (w, t) in toxics {
            for p in proxies_for(*w) {
                tp.add_toxic(p, t);
            }
        }
    };
    let clear = || {
        tp.clear_toxics(&api_proxy);
        if s3 {
            tp.clear_toxics(&storage_proxy);
        }
    };

    let file_name = format!("{id}.bin");
    let mut cmd = Command::new(exe);
    cmd.arg(&file_name)
        .arg(case.bytes.to_string())
        .arg(case.timeout_ms.to_string())
        .arg(case.expect_upload)
        .arg(if case.download.is_some() {
            case.expect_download
        } else {
            "-"
        })
        .env("OPIK_URL_OVERRIDE", format!("http://{api_listen}/"))
        .env("OPIK_API_KEY", API_KEY)
        .env_remove("OPIK_CONFIG_PATH")
        .env_remove("OPIK_WORKSPACE")
        .env_remove("OPIK_PROJECT_NAME")
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = std::env::var_os("OPIK_NETWORK_LD_LIBRARY_PATH") {
        cmd.env("LD_LIBRARY_PATH", dir);
    }
    let mut child = cmd.spawn().expect("test_network");
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let mut lines = Lines {
        rx,
        seen: Vec::new(),
    };

    let result = (|| -> Result<(), String> {
        let ready = lines.expect("READY", Duration::from_secs(30))?;
        let want = expected_sha256(case.bytes);
        if field(&ready, "sha256") != want {
            return Err(format!(
                "the program's file is not the expected content: {ready}"
            ));
        }
        for step in [Step::Upload, Step::Download] {
            let toxics = match step {
                Step::Upload => case.upload.clone(),
                Step::Download => match &case.download {
                    Some(t) => t.clone(),
                    None => break,
                },
            };
            if step == Step::Download {
                lines.expect("WAIT", STEP_LIMIT)?;
            }
            apply(&toxics);
            let mid = case.mid.as_ref().filter(|m| m.step == step);
            let done = AtomicBool::new(false);
            let line = std::thread::scope(|scope| {
                let fired = mid.map(|m| {
                    let done = &done;
                    let server = &server;
                    let proxies = proxies_for(Where::Data);
                    scope.spawn(move || {
                        let start = Instant::now();
                        let at = loop {
                            if done.load(Ordering::Acquire) {
                                return None;
                            }
                            match m.trigger {
                                Trigger::ServerBytes(b) => {
                                    let got = server.stats().bytes_received;
                                    if got >= b {
                                        break format!("{:.1} MiB", got as f64 / MIB as f64);
                                    }
                                }
                                Trigger::After(d) => {
                                    if start.elapsed() >= d {
                                        break format!("{} ms", start.elapsed().as_millis());
                                    }
                                }
                            }
                            std::thread::sleep(Duration::from_millis(5));
                        };
                        for p in &proxies {
                            tp.add_toxic(p, &m.toxic);
                        }
                        let until = m.hold.map(|h| Instant::now() + h);
                        let holding = || match until {
                            Some(u) => Instant::now() < u,
                            None => true,
                        };
                        while !done.load(Ordering::Acquire) && holding() {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        for p in &proxies {
                            tp.remove_toxic(p, &m.toxic);
                        }
                        Some(at)
                    })
                });
                go(&mut stdin);
                let prefix = match step {
                    Step::Upload => "UPLOAD",
                    Step::Download => "DOWNLOAD",
                };
                let line = lines.expect(prefix, STEP_LIMIT);
                done.store(true, Ordering::Release);
                if let Some(h) = fired {
                    out.mid_fired = h.join().unwrap();
                }
                line
            })?;
            clear();
            let mut r = step_result(&line);
            match step {
                Step::Upload => {
                    let rows = server.attachments();
                    let row = rows.iter().find(|r| r.file_name == file_name);
                    r.identical = row.is_some_and(|row| {
                        row.file_size == case.bytes as u64
                            && row.sha256.as_deref() == Some(want.as_str())
                    });
                    if r.status == "OPIK_OK" && !r.identical {
                        out.failures
                            .push(format!("the server's copy differs: {row:?}"));
                    }
                    // A body cut short must never be stored. (A timeout after the server got
                    // everything may leave the attachment stored: the client cannot know.)
                    if case.expect_upload != "OPIK_OK" && r.status != "OPIK_OK" && row.is_some() {
                        out.failures
                            .push(format!("a failed upload left an attachment: {row:?}"));
                    }
                    out.upload = Some(r);
                    if out.upload.as_ref().unwrap().status != "OPIK_OK" {
                        break;
                    }
                }
                Step::Download => out.download = Some(r),
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        out.failures.push(e);
        let _ = child.kill();
    }
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                break child.wait().ok();
            }
        }
    };
    let _ = reader.join();
    let stderr = err_reader.join().unwrap_or_default();
    if !status.is_some_and(|s| s.success()) {
        out.failures.push(format!(
            "test_network exited with {status:?}; stdout {:?}; stderr:\n{stderr}",
            lines.seen
        ));
    }
    if stderr.contains(API_KEY) {
        out.failures
            .push("the API key appears in the program's output".into());
    }

    // What the server saw: a retry costs one more data request than the file needs.
    let data_target = if s3 { "part" } else { "direct_upload" };
    out.data_requests = server
        .requests()
        .iter()
        .filter(|r| r.target == data_target)
        .count();
    let parts_needed = if s3 { case.bytes.div_ceil(5 * MIB) } else { 1 };
    if case.expect_retry && out.data_requests <= parts_needed {
        out.failures.push(format!(
            "the fault cost no retry: {} {data_target} requests for {parts_needed}",
            out.data_requests
        ));
    }
    if case.mid.is_some() && out.mid_fired.is_none() {
        out.failures
            .push("the mid-transfer fault was never added: the step ended first".into());
    }
    // Expected statuses (the program checks them too; this names them in the failure).
    let check = |what: &str, r: &Option<StepResult>, want: &str, failures: &mut Vec<String>| match r
    {
        Some(r) if r.status != want => failures.push(format!(
            "{what}: {} in {:.2} s, expected {want}",
            r.status, r.seconds
        )),
        Some(r) if r.status == "OPIK_OK" && !r.identical => {
            failures.push(format!("{what}: not byte-identical"))
        }
        Some(r) if r.seconds > STEP_LIMIT.as_secs_f64() => {
            failures.push(format!("{what}: took {:.1} s", r.seconds))
        }
        None if want != "-" => failures.push(format!("{what}: did not run")),
        _ => {}
    };
    check("upload", &out.upload, case.expect_upload, &mut out.failures);
    if case.download.is_some() && out.upload.as_ref().is_some_and(|u| u.status == "OPIK_OK") {
        check(
            "download",
            &out.download,
            case.expect_download,
            &mut out.failures,
        );
    }
    drop(server);
    tp.delete_proxy(&api_proxy);
    if s3 {
        tp.delete_proxy(&storage_proxy);
    }
    out
}

fn print_table(results: &[(Case, Outcome)]) {
    println!(
        "\n{:<28} {:<6} {:<4} {:>9} {:>7}  {:<18} {:>7} {:>7} {:<5} {:>4}  conditions",
        "case", "mode", "dir", "bytes", "timeout", "status", "seconds", "MiB/s", "ident", "data"
    );
    for (case, o) in results {
        for (step, r) in [(Step::Upload, &o.upload), (Step::Download, &o.download)] {
            let Some(r) = r else { continue };
            let mib_s = if r.status == "OPIK_OK" {
                format!("{:.3}", case.bytes as f64 / MIB as f64 / r.seconds)
            } else {
                "-".into()
            };
            println!(
                "{:<28} {:<6} {:<4} {:>9} {:>6}ms  {:<18} {:>7.2} {:>7} {:<5} {:>4}  {}",
                case.name
                    .trim_end_matches(&format!("-{}", mode_name(case.mode))),
                mode_name(case.mode),
                if step == Step::Upload { "up" } else { "down" },
                case.bytes,
                case.timeout_ms,
                r.status,
                r.seconds,
                mib_s,
                if r.identical { "yes" } else { "no" },
                if step == Step::Upload {
                    o.data_requests.to_string()
                } else {
                    String::new()
                },
                case.describe(step),
            );
        }
        if !o.failures.is_empty() {
            println!("    FAILED: {}", o.failures.join("; "));
        }
    }
    println!("(dir: the step; ident: server's SHA-256 for up, the program's for down; data: part or direct PUT requests the server saw)");
}

#[test]
fn network_conditions_matrix() {
    let Some(binary) = toxiproxy::find() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "toxiproxy-server not found, and CI is set: scripts/install-test-deps installs it"
        );
        eprintln!(
            "\n*** SKIPPED network_conditions_matrix: toxiproxy-server not found (run \
             scripts/install-test-deps, or set TOXIPROXY_SERVER). Under CI this is a failure. ***\n"
        );
        return;
    };
    let exe = cbuild::compile("test_network", cbuild::Build::Plain);
    let log = std::env::temp_dir().join(format!("opik-toxiproxy-{}.log", std::process::id()));
    let tp = Toxiproxy::start(&binary, log).unwrap_or_else(|e| panic!("{e}"));
    let filter = std::env::var("OPIK_NETWORK_CASES").unwrap_or_default();
    let all: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.name.contains(&filter))
        .collect();
    assert!(
        !all.is_empty(),
        "no case matches OPIK_NETWORK_CASES={filter:?}"
    );
    let started = Instant::now();
    let queue = Mutex::new(all.iter().cloned().enumerate().collect::<VecDeque<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(all.len()) {
            scope.spawn(|| loop {
                let Some((i, case)) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let outcome = run_case(&tp, &exe, &case);
                results.lock().unwrap().push((i, case, outcome));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _, _)| *i);
    let results: Vec<(Case, Outcome)> = results.into_iter().map(|(_, c, o)| (c, o)).collect();
    print_table(&results);
    println!(
        "{} cases in {:.1} s (toxiproxy log: {})",
        results.len(),
        started.elapsed().as_secs_f64(),
        tp.log.display()
    );
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, o)| !o.failures.is_empty())
        .map(|(c, o)| format!("{}: {}", c.name, o.failures.join("; ")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        results.len(),
        failed.join("\n")
    );
}
