//! Compiling and running the C test programs of tests/c/ (the approach of tests/c_abi.rs): the
//! shared library is built once per run, each program once per build kind, and runs get the
//! test server's URL and key in their environment. Used by tests/c_abi.rs, tests/hostile.rs,
//! tests/secrets.rs, tests/traces.rs and tests/network.rs.
#![allow(dead_code)]

use opik_test_server::{AttachmentRow, Config, FaultRule, StorageMode, TestServer};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const API_KEY: &str = "test-key-5f3a9c";

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where libopik_attachments.so is: `OPIK_TEST_LIB_DIR` when set (to run the programs against
/// another build of the library, e.g. an older commit's), else target/<profile> of this run.
pub fn lib_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OPIK_TEST_LIB_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Build {
    Plain,
    Asan,
    /// ThreadSanitizer instruments the C side (the Rust library is not rebuilt with it): it checks
    /// that what the library hands between threads (callbacks, user_data) is properly ordered.
    Tsan,
}

/// `cargo test` builds the crate as an rlib and leaves the cdylib as it was: build it once per
/// run, so the C programs never link a stale library.
fn build_shared_library() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var_os("OPIK_TEST_LIB_DIR").is_some() {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--lib",
            "-p",
            "opik-attachments",
            "--manifest-path",
        ])
        .arg(repo().join("Cargo.toml"));
        if lib_dir().file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("cargo");
        assert!(
            out.status.success(),
            "building the shared library:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// Compiles tests/c/<name>.c once per build kind (cached for the run).
pub fn compile(name: &str, build: Build) -> PathBuf {
    static LOCK: OnceLock<std::sync::Mutex<()>> = OnceLock::new();
    let _guard = LOCK.get_or_init(Default::default).lock().unwrap();
    build_shared_library();
    let out_dir = std::env::temp_dir().join(format!("opik-c-tests-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let suffix = match build {
        Build::Plain => "",
        Build::Asan => "-asan",
        Build::Tsan => "-tsan",
    };
    let exe = out_dir.join(format!("{name}{suffix}"));
    if exe.exists() {
        return exe;
    }
    let src = repo().join("tests/c").join(format!("{name}.c"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(cc);
    cmd.args([
        "-std=c11",
        "-g",
        "-O1",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
    ])
    .arg(format!("-I{}", repo().join("include").display()))
    .arg(&src)
    .arg("-o")
    .arg(&exe)
    .arg(format!("-L{}", lib_dir().display()))
    .arg("-lopik_attachments")
    .arg(format!("-Wl,-rpath,{}", lib_dir().display()))
    .arg("-lpthread");
    match build {
        Build::Plain => {}
        Build::Asan => {
            cmd.args([
                "-fsanitize=address,undefined",
                "-fno-omit-frame-pointer",
                "-fno-sanitize-recover=all",
            ]);
        }
        Build::Tsan => {
            cmd.args(["-fsanitize=thread", "-fno-omit-frame-pointer"]);
        }
    }
    let out = cmd
        .output()
        .expect("a C compiler (cc) is needed for the C ABI tests");
    assert!(
        out.status.success(),
        "compiling {name}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// A test server in `mode` that accepts [`API_KEY`].
pub fn server(mode: StorageMode) -> TestServer {
    TestServer::start(Config {
        mode,
        api_key: Some(API_KEY.into()),
        ..Config::default()
    })
}

/// A fault rule for every request (`times: 0`) to `target` and/or with `path` in its path; other
/// fields go on top: `FaultRule { status: Some(503), ..rule(None, Some("upload-start")) }`.
pub fn rule(target: Option<&str>, path: Option<&str>) -> FaultRule {
    FaultRule {
        target: target.map(Into::into),
        path_contains: path.map(Into::into),
        times: 0,
        ..FaultRule::default()
    }
}

/// The attachment the server stored as `name`.
pub fn stored(s: &TestServer, name: &str) -> Option<AttachmentRow> {
    s.attachments().into_iter().find(|a| a.file_name == name)
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 of the `len` bytes the C programs' content generator (tests/c/test_util.h, t_fill)
/// makes from `state`, so a test knows what must arrive without holding it in memory.
pub fn xorshift_sha256(len: usize, mut state: u64) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        for b in &mut buf[..n] {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = (state >> 24) as u8;
        }
        h.update(&buf[..n]);
        left -= n;
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether valgrind is installed. Its absence fails under CI (which installs it); elsewhere it is
/// reported, and the caller skips its valgrind run.
pub fn valgrind_or_skip() -> bool {
    if has("valgrind") {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "valgrind is required in CI"
    );
    eprintln!("valgrind not installed: skipped here (CI installs it)");
    false
}

pub fn has(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// What a finished run printed.
pub struct Output {
    pub ok: bool,
    pub status: String,
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
}

impl Output {
    /// The `RESULT <what> status=.. seconds=.. vmhwm_mib=..` lines the programs print.
    pub fn results(&self) -> Vec<String> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("RESULT "))
            .map(str::to_string)
            .collect()
    }
}

pub struct Run<'a> {
    server: Option<&'a TestServer>,
    env: Vec<(String, String)>,
    args: Vec<String>,
    pub valgrind: bool,
    /// The process is killed after this long (a hung library must not hang the test run).
    pub kill_after: Duration,
}

impl<'a> Run<'a> {
    pub fn new(server: Option<&'a TestServer>) -> Self {
        Run {
            server,
            env: Vec::new(),
            args: Vec::new(),
            valgrind: false,
            kill_after: Duration::from_secs(120),
        }
    }
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Runs the program to its end (or kills it after `kill_after`) and returns what it printed.
    pub fn output(self, exe: &Path) -> Output {
        let home = std::env::temp_dir().join("opik-c-home");
        std::fs::create_dir_all(&home).unwrap();
        let mut cmd = if self.valgrind {
            let mut c = Command::new("valgrind");
            c.args([
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--quiet",
            ])
            .arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.args(&self.args)
            .env_remove("OPIK_CONFIG_PATH")
            .env_remove("OPIK_PROJECT_NAME")
            .env_remove("OPIK_WORKSPACE")
            .env("HOME", &home)
            .env(
                "ASAN_OPTIONS",
                "detect_leaks=1:abort_on_error=0:exitcode=98",
            )
            .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
            .env(
                "TSAN_OPTIONS",
                format!(
                    "halt_on_error=1:exitcode=97:suppressions={}",
                    repo().join("tests/c/tsan.supp").display()
                ),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match self.server {
            Some(s) => cmd
                .env("OPIK_URL_OVERRIDE", s.base_url())
                .env("OPIK_API_KEY", API_KEY),
            None => cmd
                .env_remove("OPIK_URL_OVERRIDE")
                .env_remove("OPIK_API_KEY"),
        };
        if std::env::var_os("OPIK_TEST_LIB_DIR").is_some() {
            // cargo test puts target/<profile> on LD_LIBRARY_PATH, which wins over the rpath.
            cmd.env("LD_LIBRARY_PATH", lib_dir());
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap();
        // Drain both pipes on threads so a chatty program never blocks on a full pipe.
        let mut out_pipe = child.stdout.take().unwrap();
        let mut err_pipe = child.stderr.take().unwrap();
        let out_t = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut out_pipe, &mut s);
            s
        });
        let err_t = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut err_pipe, &mut s);
            s
        });
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st.to_string();
            }
            if started.elapsed() > self.kill_after {
                let _ = child.kill();
                let _ = child.wait();
                break format!("killed after {:?}", self.kill_after);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let seconds = started.elapsed().as_secs_f64();
        let stdout = out_t.join().unwrap();
        let stderr = err_t.join().unwrap();
        print!("{stdout}");
        eprint!("{stderr}");
        let sanitizer = stderr.contains("ERROR: AddressSanitizer")
            || stderr.contains("runtime error:")
            || stderr.contains("WARNING: ThreadSanitizer");
        Output {
            ok: status == "exit status: 0" && !sanitizer,
            status,
            stdout,
            stderr,
            seconds,
        }
    }

    /// Runs the program and asserts that it exited 0 with no sanitizer report; returns its output.
    pub fn run(self, exe: &Path) -> Output {
        let args = self.args.clone();
        let out = self.output(exe);
        assert!(
            out.ok,
            "{} {:?} failed ({}):\n{}\n{}",
            exe.display(),
            args,
            out.status,
            out.stdout,
            out.stderr
        );
        out
    }
}
