//! The `opik-attachments` binary against the in-process test server, in both storage modes:
//! every command, every error path with its exit code and message, the API key never printed,
//! progress bars under a pseudo-terminal, Ctrl-C. Every run of the binary is bounded in time.

use opik_test_server::{Config, FaultRule, StorageMode, TestServer};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_opik-attachments");
/// No run of the binary may take longer.
const RUN_LIMIT: Duration = Duration::from_secs(90);

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A command with a clean configuration: no OPIK_* variables from the machine, and a HOME
/// without ~/.opik.config.
struct Cli {
    home: tempfile::TempDir,
    url: Option<String>,
    env: Vec<(String, String)>,
}

impl Cli {
    fn new(url: Option<String>) -> Cli {
        Cli {
            home: tempfile::tempdir().unwrap(),
            url,
            env: Vec::new(),
        }
    }

    fn env(mut self, k: &str, v: &str) -> Cli {
        self.env.push((k.into(), v.into()));
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("OPIK_") || k == "SSL_CERT_FILE" {
                c.env_remove(&k);
            }
        }
        c.env("HOME", self.home.path());
        if let Some(u) = &self.url {
            c.env("OPIK_URL_OVERRIDE", u);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn run(&self, args: &[&str]) -> Out {
        finish(self.spawn(args))
    }

    fn run_stdin(&self, args: &[&str], input: &[u8]) -> Out {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = finish(child);
        writer.join().unwrap();
        out
    }
}

/// Waits for the child (killing it past RUN_LIMIT) and collects its output.
fn finish(mut child: Child) -> Out {
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let status = wait_bounded(&mut child, RUN_LIMIT);
    Out {
        code: status,
        stdout: String::from_utf8_lossy(&t1.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t2.join().unwrap()).into_owned(),
    }
}

fn wait_bounded(child: &mut Child, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the binary ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn server(mode: StorageMode) -> TestServer {
    TestServer::start(Config {
        mode,
        ..Default::default()
    })
}

fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Deterministic bytes that do not compress.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes `content` to `dir/name` and uploads it to a new trace with the tool (exit 0 asserted);
/// the file and the trace id, for the test's own steps.
fn uploaded(cli: &Cli, dir: &Path, name: &str, content: &[u8]) -> (PathBuf, String) {
    let f = write(dir, name, content);
    let trace = id();
    let o = cli.run(&["upload", "--trace", &trace, f.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    (f, trace)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn sha(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

fn modes() -> [StorageMode; 2] {
    [StorageMode::Direct, StorageMode::S3]
}

#[test]
fn every_command_in_both_storage_modes() {
    for mode in modes() {
        let s = server(mode);
        let cli = Cli::new(Some(s.base_url()));
        let dir = tempfile::tempdir().unwrap();
        let big = data(6 * 1024 * 1024 + 17, 1); // more than one 5 MiB part in S3 mode
        let small = b"hello from the command line\n".to_vec();
        let pbig = write(dir.path(), "big.bin", &big);
        let psmall = write(dir.path(), "notes.txt", &small);
        let trace = id();

        // upload: two files at once, then standard input.
        let o = cli.run(&[
            "upload",
            "--trace",
            &trace,
            pbig.to_str().unwrap(),
            psmall.to_str().unwrap(),
        ]);
        assert_eq!(o.code, 0, "{mode:?} {o:?}");
        assert!(o.stderr.contains("uploaded 2 of 2 files"), "{mode:?} {o:?}");
        assert!(
            !o.stderr.contains('\x1b'),
            "no escape codes off a terminal: {o:?}"
        );
        let o = cli.run_stdin(
            &[
                "upload",
                "--trace",
                &trace,
                "--name",
                "piped.json",
                "-",
                "--json",
            ],
            br#"{"piped":true}"#,
        );
        assert_eq!(o.code, 0, "{o:?}");
        let docs = json_lines(&o.stdout);
        assert_eq!(docs.len(), 1, "{o:?}");
        assert_eq!(docs[0]["ok"], true);
        assert_eq!(docs[0]["name"], "piped.json");
        assert_eq!(docs[0]["size"], 14);
        assert_eq!(docs[0]["mime_type"], "application/json");
        let rows = s.attachments();
        let row = |n: &str| rows.iter().find(|r| r.file_name == n).cloned();
        assert_eq!(
            row("big.bin").unwrap().sha256.as_deref(),
            Some(sha(&big).as_str())
        );
        assert_eq!(
            row("notes.txt").unwrap().sha256.as_deref(),
            Some(sha(&small).as_str())
        );
        assert_eq!(row("big.bin").unwrap().entity_id, trace);

        // list: a table, and JSON.
        let o = cli.run(&["list", "--trace", &trace]);
        assert_eq!(o.code, 0, "{o:?}");
        let lines: Vec<&str> = o.stdout.lines().collect();
        assert_eq!(lines.len(), 4, "{o:?}");
        assert!(
            lines[0].starts_with("NAME") && lines[0].contains("SIZE"),
            "{o:?}"
        );
        let big_line = lines.iter().find(|l| l.starts_with("big.bin")).unwrap();
        assert!(big_line.contains(&big.len().to_string()), "{big_line}");
        assert!(o.stderr.contains("3 attachments"), "{o:?}");
        let o = cli.run(&["list", "--trace", &trace, "--json"]);
        let mut names: Vec<(String, u64)> = json_lines(&o.stdout)
            .iter()
            .map(|v| {
                (
                    v["file_name"].as_str().unwrap().to_owned(),
                    v["file_size"].as_u64().unwrap(),
                )
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ("big.bin".to_owned(), big.len() as u64),
                ("notes.txt".to_owned(), small.len() as u64),
                ("piped.json".to_owned(), 14)
            ]
        );

        // download: to a named file, into a directory, to stdout.
        let dest = dir.path().join("copy.bin");
        let o = cli.run(&[
            "download",
            "--trace",
            &trace,
            "big.bin",
            "-o",
            dest.to_str().unwrap(),
        ]);
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(std::fs::read(&dest).unwrap(), big);
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let o = cli.run(&[
            "download",
            "--trace",
            &trace,
            "notes.txt",
            "-o",
            sub.to_str().unwrap(),
        ]);
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(std::fs::read(sub.join("notes.txt")).unwrap(), small);
        assert_eq!(
            std::fs::read_dir(&sub).unwrap().count(),
            1,
            "no temporary file left"
        );
        let o = cli.run(&["download", "--trace", &trace, "notes.txt", "-o", "-"]);
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(o.stdout.as_bytes(), small.as_slice());

        // delete, then the list no longer has it.
        let o = cli.run(&[
            "delete",
            "--trace",
            &trace,
            "notes.txt",
            "piped.json",
            "--json",
        ]);
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(json_lines(&o.stdout).len(), 2, "{o:?}");
        let o = cli.run(&["list", "--trace", &trace, "--json"]);
        let left = json_lines(&o.stdout);
        assert_eq!(left.len(), 1, "{o:?}");
        assert_eq!(left[0]["file_name"], "big.bin");

        // spans work the same way.
        let span = id();
        let o = cli.run(&["upload", "--span", &span, psmall.to_str().unwrap(), "-q"]);
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(o.stderr, "", "--quiet prints nothing on success");
        let o = cli.run(&["list", "--span", &span, "--json"]);
        assert_eq!(json_lines(&o.stdout)[0]["file_name"], "notes.txt", "{o:?}");

        // trace: logged with its input and attachment, id printed, sent before exit.
        let o = cli.run(&[
            "trace",
            "--name",
            "cli-trace",
            "--input",
            r#"{"scene":4}"#,
            "--tag",
            "cli",
            "--attach",
            psmall.to_str().unwrap(),
            "--project",
            "cli-project",
        ]);
        assert_eq!(o.code, 0, "{o:?}");
        let trace_id = o.stdout.trim().to_owned();
        assert_eq!(trace_id.len(), 36, "{o:?}");
        let stored = s.traces().stored;
        let t = stored
            .iter()
            .find(|t| t["id"] == trace_id.as_str())
            .unwrap_or_else(|| panic!("trace {trace_id} not on the server: {stored:?}"));
        assert_eq!(t["name"], "cli-trace");
        assert_eq!(t["input"]["scene"], 4);
        let rows = s.attachments();
        let r = rows
            .iter()
            .find(|r| r.entity_id == trace_id)
            .expect("the trace's attachment");
        assert_eq!(
            (r.file_name.as_str(), r.project_name.as_str()),
            ("notes.txt", "cli-project")
        );
        let o = cli.run(&["trace", "--name", "j", "--json"]);
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(json_lines(&o.stdout)[0]["ok"], true);
    }
}

#[test]
fn recursive_upload_of_a_directory() {
    let s = server(StorageMode::S3);
    let cli = Cli::new(Some(s.base_url()));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("renders");
    std::fs::create_dir_all(root.join("deeper")).unwrap();
    write(&root, "a.png", &data(1000, 2));
    write(&root.join("deeper"), "b.txt", b"b");
    let trace = id();
    let o = cli.run(&["upload", "--trace", &trace, root.to_str().unwrap()]);
    assert_eq!(o.code, 3, "a directory needs --recursive: {o:?}");
    assert!(o.stderr.contains("--recursive"), "{o:?}");
    let o = cli.run(&[
        "upload",
        "--trace",
        &trace,
        "-r",
        root.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let mut names: Vec<String> = json_lines(&o.stdout)
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.png", "b.txt"]);
    let rows = s.attachments();
    assert_eq!(
        rows.iter()
            .find(|r| r.file_name == "a.png")
            .unwrap()
            .mime_type,
        "image/png"
    );
}

#[test]
fn error_paths_have_their_exit_codes_and_messages() {
    for mode in modes() {
        let s = server(mode);
        let cli = Cli::new(Some(s.base_url()));
        let dir = tempfile::tempdir().unwrap();
        let (f, trace) = uploaded(&cli, dir.path(), "f.txt", b"x");

        // No URL anywhere: configuration error, naming every place a URL can come from.
        let o = Cli::new(None).run(&["list", "--trace", &trace]);
        assert_eq!(o.code, 14, "{o:?}");
        assert!(o.stderr.contains("OPIK_ERR_CONFIG"), "{o:?}");
        assert!(
            o.stderr.contains("OPIK_URL_OVERRIDE") && o.stderr.contains(".opik.config"),
            "{o:?}"
        );

        // Missing file: nothing is uploaded, IO error naming the file.
        let missing = dir.path().join("missing.bin");
        let o = cli.run(&[
            "upload",
            "--trace",
            &trace,
            f.to_str().unwrap(),
            missing.to_str().unwrap(),
        ]);
        assert_eq!(o.code, 4, "{o:?}");
        assert!(
            o.stderr.contains("missing.bin") && o.stderr.contains("No such file"),
            "{o:?}"
        );

        // Unknown attachment: download and delete.
        let o = cli.run(&[
            "download",
            "--trace",
            &trace,
            "nope.png",
            "-o",
            dir.path().join("n").to_str().unwrap(),
        ]);
        assert_eq!(o.code, 5, "{o:?}");
        assert!(
            o.stderr.contains("OPIK_ERR_NOT_FOUND") && o.stderr.contains("\"nope.png\""),
            "{o:?}"
        );
        assert!(!dir.path().join("n").exists());
        let o = cli.run(&["delete", "--trace", &trace, "f.txt", "nope.png"]);
        assert_eq!(o.code, 5, "{o:?}");
        assert!(o.stderr.contains("\"nope.png\""), "{o:?}");
        assert!(
            s.attachments().iter().any(|r| r.file_name == "f.txt"),
            "nothing deleted when a name is unknown"
        );
        let o = cli.run(&[
            "delete",
            "--trace",
            &trace,
            "f.txt",
            "nope.png",
            "--ignore-missing",
        ]);
        assert_eq!(o.code, 0, "{o:?}");
        assert!(!s.attachments().iter().any(|r| r.file_name == "f.txt"));

        // Errors as JSON on stdout with --json.
        let o = cli.run(&["download", "--trace", &trace, "nope.png", "--json"]);
        assert_eq!(o.code, 5, "{o:?}");
        let e = &json_lines(&o.stdout)[0];
        assert_eq!(e["ok"], false);
        assert_eq!(e["status"], "OPIK_ERR_NOT_FOUND");
        assert_eq!(e["exit_code"], 5);

        // Invalid id, usage errors.
        let o = cli.run(&["list", "--trace", "not-a-uuid"]);
        assert_eq!(o.code, 3, "{o:?}");
        assert!(o.stderr.contains("not a UUID"), "{o:?}");
        let o = cli.run(&["list"]);
        assert_eq!(o.code, 2, "--trace or --span is required: {o:?}");
        let o = cli.run(&["list", "--trace", &trace, "--span", &trace]);
        assert_eq!(o.code, 2, "not both: {o:?}");
        let o = cli.run(&["list", "--json"]);
        assert_eq!(o.code, 2, "{o:?}");
        let e = &json_lines(&o.stdout)[0];
        assert_eq!(
            (e["status"].as_str(), e["exit_code"].as_u64()),
            (Some("USAGE"), Some(2))
        );
        assert!(e["message"].as_str().unwrap().contains("--trace"), "{o:?}");
        let o = cli.run(&["upload", "--trace", &trace, "-"]);
        assert_eq!(o.code, 3, "stdin needs --name: {o:?}");

        // Nothing listening: network error.
        let o = Cli::new(Some("http://127.0.0.1:9/".into()))
            .env("OPIK_LOG", "")
            .run(&["list", "--trace", &trace, "--timeout", "5"]);
        assert_eq!(o.code, 8, "{o:?}");
        assert!(o.stderr.contains("OPIK_ERR_NETWORK"), "{o:?}");
    }
}

#[test]
fn a_wrong_api_key_is_an_auth_error_and_no_key_is_ever_printed() {
    const GOOD: &str = "good-key-Q9xT7s1";
    const BAD: &str = "wrong-key-Zp4Lw8m";
    for mode in modes() {
        let s = TestServer::start(Config {
            mode,
            api_key: Some(GOOD.into()),
            workspace: "team".into(),
            ..Default::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), "f.txt", b"x");
        let trace = id();
        let check = |o: &Out| {
            for k in [GOOD, BAD] {
                assert!(!o.all().contains(k), "the key is printed: {o:?}");
            }
        };

        // The wrong key, from the environment and from the flag.
        let bad_env = Cli::new(Some(s.base_url()))
            .env("OPIK_API_KEY", BAD)
            .env("OPIK_WORKSPACE", "team")
            .env("OPIK_LOG", "debug");
        for args in [
            vec!["list", "--trace", trace.as_str()],
            vec!["upload", "--trace", trace.as_str(), f.to_str().unwrap()],
            vec!["download", "--trace", trace.as_str(), "f.txt"],
            vec!["delete", "--trace", trace.as_str(), "f.txt"],
            vec!["list", "--trace", trace.as_str(), "--json"],
        ] {
            let o = bad_env.run(&args);
            assert_eq!(o.code, 6, "{args:?}: {o:?}");
            assert!(o.all().contains("OPIK_ERR_AUTH"), "{o:?}");
            check(&o);
        }
        let o = bad_env.run(&["trace", "--name", "t", "--attach", f.to_str().unwrap()]);
        assert_eq!(o.code, 6, "{o:?}");
        assert!(
            o.stderr.contains("opik-attachments ERROR:"),
            "OPIK_LOG still works: {o:?}"
        );
        check(&o);
        let flag = Cli::new(Some(s.base_url()));
        let o = flag.run(&[
            "list",
            "--trace",
            &trace,
            "--api-key",
            BAD,
            "--workspace",
            "team",
        ]);
        assert_eq!(o.code, 6, "{o:?}");
        check(&o);

        // The right key: everything works, nothing printed contains it (debug log included).
        let good = Cli::new(Some(s.base_url()))
            .env("OPIK_WORKSPACE", "team")
            .env("OPIK_LOG", "debug");
        for args in [
            vec![
                "upload",
                "--trace",
                trace.as_str(),
                f.to_str().unwrap(),
                "--api-key",
                GOOD,
            ],
            vec!["list", "--trace", trace.as_str(), "--api-key", GOOD],
            vec![
                "download",
                "--trace",
                trace.as_str(),
                "f.txt",
                "-o",
                "-",
                "--api-key",
                GOOD,
            ],
            vec![
                "delete",
                "--trace",
                trace.as_str(),
                "f.txt",
                "--api-key",
                GOOD,
            ],
        ] {
            let o = good.run(&args);
            assert_eq!(o.code, 0, "{args:?}: {o:?}");
            check(&o);
        }
        // A usage error that echoes arguments, and --help.
        let o = good.run(&["list", "--api-key", GOOD, GOOD]);
        assert_eq!(o.code, 2, "{o:?}");
        assert!(o.stderr.contains("[REDACTED]"), "{o:?}");
        check(&o);
        let o = good.env("OPIK_API_KEY", GOOD).run(&["--help"]);
        assert_eq!(o.code, 0);
        check(&o);
    }
}

#[test]
fn configuration_is_the_librarys_flags_then_env_then_config_file() {
    let s = server(StorageMode::Direct);
    let trace = id();
    // Only ~/.opik.config names the server.
    let cli = Cli::new(None);
    std::fs::write(
        cli.home.path().join(".opik.config"),
        format!(
            "[opik]\nurl_override = {}\nproject_name = from-file\n",
            s.base_url()
        ),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "f.txt", b"x");
    let o = cli.run(&["upload", "--trace", &trace, f.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(s.attachments()[0].project_name, "from-file");
    // The environment beats the file, the flag beats the environment.
    let cli = cli.env("OPIK_PROJECT_NAME", "from-env");
    cli.run(&[
        "upload",
        "--trace",
        &trace,
        f.to_str().unwrap(),
        "--name",
        "g.txt",
    ]);
    cli.run(&[
        "upload",
        "--trace",
        &trace,
        f.to_str().unwrap(),
        "--name",
        "h.txt",
        "--project",
        "from-flag",
    ]);
    let rows = s.attachments();
    let project = |n: &str| {
        rows.iter()
            .find(|r| r.file_name == n)
            .unwrap()
            .project_name
            .clone()
    };
    assert_eq!(project("g.txt"), "from-env");
    assert_eq!(project("h.txt"), "from-flag");
    // A bad URL in the flag beats the good one in the file.
    let o = cli.run(&["list", "--trace", &trace, "--url", "ftp://nowhere/"]);
    assert_eq!(o.code, 14, "{o:?}");
}

#[test]
fn help_documents_every_command_and_the_readme_has_the_exit_code_table() {
    let cli = Cli::new(None);
    let o = cli.run(&["--help"]);
    assert_eq!(o.code, 0);
    let table: Vec<&str> = o
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Exit codes:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert!(table.len() >= 18, "{}", o.stdout);
    assert!(table
        .iter()
        .any(|l| l.contains("130") && l.contains("INTERRUPTED")));
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    for line in &table {
        assert!(
            readme.contains(line),
            "README lacks the exit code line {line:?}"
        );
    }
    for cmd in ["upload", "list", "download", "delete", "trace"] {
        let o = cli.run(&[cmd, "--help"]);
        assert_eq!(o.code, 0, "{o:?}");
        for needle in [
            "Examples:",
            "OPIK_URL_OVERRIDE",
            "OPIK_API_KEY",
            "Exit codes:",
            "--project",
            "--json",
        ] {
            assert!(o.stdout.contains(needle), "{cmd} --help lacks {needle:?}");
        }
    }
}

/// Runs `args` under `script`, which gives the program a pseudo-terminal.
fn run_in_pty(cli: &Cli, args: &[&str]) -> Out {
    let quoted: Vec<String> = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let c = cli.command(&[]);
    let mut script = Command::new("script");
    script.args(["-qec", &quoted.join(" "), "/dev/null"]);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    script.env("TERM", "xterm-256color");
    let child = script
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` is needed for the pseudo-terminal test");
    finish(child)
}

#[test]
fn progress_bars_draw_on_a_terminal() {
    let s = server(StorageMode::S3);
    // ~2 s per file, so the bar draws several frames while bytes move.
    s.add_fault(FaultRule {
        target: Some("part".into()),
        read_bytes_per_sec: Some(4 * 1024 * 1024),
        times: 0,
        ..Default::default()
    });
    let cli = Cli::new(Some(s.base_url()));
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "frames.bin", &data(8 * 1024 * 1024, 3));
    let b = write(dir.path(), "small.txt", b"small");
    let trace = id();
    let o = run_in_pty(
        &cli,
        &[
            "upload",
            "--trace",
            &trace,
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ],
    );
    assert_eq!(o.code, 0, "{o:?}");
    let t = o.all();
    assert!(
        t.contains("\x1b["),
        "indicatif draws with escape codes: {t:?}"
    );
    assert!(t.contains("frames.bin") && t.contains("ETA"), "{t:?}");
    assert!(t.contains("total, 2 files"), "a total bar: {t:?}");
    assert!(t.contains("=>"), "a frame with a partly filled bar: {t:?}");
    assert!(
        t.contains("8.00 MiB/8.00 MiB"),
        "the bar finishes full: {t:?}"
    );
    assert!(t.contains("MiB/s"), "a rate: {t:?}");
    assert!(t.contains("uploaded 2 of 2 files"), "the summary: {t:?}");
    assert_eq!(s.attachments().len(), 2);
    // Download draws too.
    let dest = dir.path().join("back.bin");
    let o = run_in_pty(
        &cli,
        &[
            "download",
            "--trace",
            &trace,
            "frames.bin",
            "-o",
            dest.to_str().unwrap(),
        ],
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.all().contains("\x1b[") && o.all().contains("downloaded \"frames.bin\""),
        "{o:?}"
    );
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), 8 * 1024 * 1024);
}

fn sigint(child: &Child) {
    // SAFETY: kill(2) on our own child's pid.
    let r = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(r, 0);
}

/// Waits until `cond` holds (or panics after `limit`).
fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn ctrl_c_during_a_download_leaves_no_partial_file() {
    for (mode, target) in [
        (StorageMode::Direct, "download"),
        (StorageMode::S3, "storage_get"),
    ] {
        let s = server(mode);
        let cli = Cli::new(Some(s.base_url()));
        let src = tempfile::tempdir().unwrap();
        let (_, trace) = uploaded(&cli, src.path(), "video.bin", &data(2 * 1024 * 1024, 4));
        // A slow body (the sink sees chunks and stops), then a stalled one (nothing arrives; the
        // program must still stop, and clean up).
        for rule in [
            FaultRule {
                target: Some(target.into()),
                write_bytes_per_sec: Some(100_000),
                times: 0,
                ..Default::default()
            },
            FaultRule {
                target: Some(target.into()),
                stall_after_bytes: Some(300_000),
                stall_ms: 60_000,
                times: 0,
                ..Default::default()
            },
        ] {
            s.clear_faults();
            s.add_fault(rule.clone());
            let out = tempfile::tempdir().unwrap();
            let dest = out.path().join("video.bin");
            let child = KillOnDrop(Some(cli.spawn(&[
                "download",
                "--trace",
                &trace,
                "video.bin",
                "-o",
                dest.to_str().unwrap(),
            ])));
            let o = interrupt_once_downloading(out.path(), child);
            assert_eq!(o.code, 130, "{mode:?} {rule:?}: {o:?}");
            assert!(o.stderr.contains("interrupted"), "{o:?}");
            assert_eq!(
                entries(out.path()),
                Vec::<String>::new(),
                "{mode:?}: nothing left behind"
            );
        }
    }
}

#[test]
fn ctrl_c_cancels_uploads_and_an_outbox_keeps_them() {
    for (mode, target) in [
        (StorageMode::Direct, "direct_upload"),
        (StorageMode::S3, "part"),
    ] {
        let s = TestServer::start(Config {
            mode,
            recv_buffer_bytes: Some(64 * 1024),
            ..Default::default()
        });
        let cli = Cli::new(Some(s.base_url()));
        let src = tempfile::tempdir().unwrap();
        let f = write(src.path(), "slow.bin", &data(3 * 1024 * 1024, 5));
        s.add_fault(FaultRule {
            target: Some(target.into()),
            read_bytes_per_sec: Some(100_000),
            times: 0,
            ..Default::default()
        });

        // Without an outbox: cancelled, nothing arrives.
        let trace = id();
        let child = KillOnDrop(Some(cli.spawn(&[
            "upload",
            "--trace",
            &trace,
            f.to_str().unwrap(),
        ])));
        wait_for(Duration::from_secs(30), "the upload to start", || {
            s.requests().iter().any(|r| r.target == target)
        });
        std::thread::sleep(Duration::from_millis(300));
        let child = child.take();
        sigint(&child);
        let o = finish(child);
        assert_eq!(o.code, 130, "{mode:?}: {o:?}");
        assert!(o.stderr.contains("cancelled"), "{o:?}");
        assert!(s.attachments().is_empty());

        // With an outbox: the accepted upload stays there, and a later client sends it.
        let outbox = tempfile::tempdir().unwrap();
        let ob = outbox.path().to_str().unwrap();
        s.clear_requests();
        let trace = id();
        let child = KillOnDrop(Some(cli.spawn(&[
            "upload",
            "--trace",
            &trace,
            f.to_str().unwrap(),
            "--outbox",
            ob,
        ])));
        wait_for(Duration::from_secs(30), "the upload to start", || {
            s.requests().iter().any(|r| r.target == target)
        });
        let child = child.take();
        sigint(&child);
        let o = finish(child);
        assert_eq!(o.code, 130, "{mode:?}: {o:?}");
        assert!(o.stderr.contains("stay in the outbox"), "{o:?}");
        let kept = entries(outbox.path());
        assert!(kept.iter().any(|n| n.ends_with(".json")), "{kept:?}");
        assert!(s.attachments().is_empty());
        s.clear_faults();
        // `trace` flushes everything its client has, the resumed upload included.
        let o = cli.run(&["trace", "--name", "resume", "--outbox", ob]);
        assert_eq!(o.code, 0, "{o:?}");
        let rows = s.attachments();
        assert!(
            rows.iter().any(|r| r.entity_id == trace
                && r.file_name == "slow.bin"
                && r.file_size == 3 * 1024 * 1024),
            "{rows:?}"
        );
        assert!(!entries(outbox.path())
            .iter()
            .any(|n| n.ends_with(".json") && n != "entities"));
    }
}

#[test]
fn one_failed_file_of_several_sets_the_exit_code_and_the_rest_arrive() {
    for mode in modes() {
        let s = server(mode);
        let cli = Cli::new(Some(s.base_url()));
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.txt", b"a");
        let b = write(dir.path(), "b.txt", b"b");
        // The first upload-start is refused for good (400 is not retried).
        s.add_fault(FaultRule {
            path_contains: Some("upload-start".into()),
            status: Some(400),
            times: 1,
            ..Default::default()
        });
        let trace = id();
        let o = cli.run(&[
            "upload",
            "--trace",
            &trace,
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(o.code, 7, "{mode:?}: {o:?}");
        let docs = json_lines(&o.stdout);
        assert_eq!(docs.len(), 2, "one document per file: {o:?}");
        let failed: Vec<&Value> = docs.iter().filter(|d| d["ok"] == false).collect();
        assert_eq!(failed.len(), 1, "{o:?}");
        assert_eq!(failed[0]["status"], "OPIK_ERR_HTTP");
        assert_eq!(failed[0]["http_status"], 400);
        assert_eq!(s.attachments().len(), 1, "the other file arrived");
        // Without --json: one line per event on stderr, the failure among them.
        s.add_fault(FaultRule {
            path_contains: Some("upload-start".into()),
            status: Some(400),
            times: 1,
            ..Default::default()
        });
        let o = cli.run(&[
            "upload",
            "--trace",
            &id(),
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ]);
        assert_eq!(o.code, 7, "{o:?}");
        assert_eq!(o.stderr.matches("uploading ").count(), 2, "{o:?}");
        assert_eq!(o.stderr.matches("error: ").count(), 1, "{o:?}");
        assert!(
            o.stderr.contains("uploaded 1 of 2 files") && o.stderr.contains("1 failed"),
            "{o:?}"
        );
    }
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Reads a FIFO in a thread until `stop` is set and the FIFO is drained. The read end is opened
/// at once (without waiting for a writer), so a writer that never comes leaves the thread with
/// nothing instead of hanging.
fn fifo_reader(
    path: &Path,
) -> (
    std::thread::JoinHandle<Vec<u8>>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::Ordering;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let t = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match f.read(&mut buf) {
                Ok(0) if stopped.load(Ordering::Acquire) => return got,
                Ok(0) => std::thread::sleep(Duration::from_millis(10)),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("{e}"),
            }
        }
    });
    (t, stop)
}

#[test]
fn download_writes_into_a_fifo_and_through_symlinks_replacing_neither() {
    use std::os::unix::fs::{symlink, FileTypeExt};
    let s = server(StorageMode::Direct);
    let cli = Cli::new(Some(s.base_url()));
    let src = tempfile::tempdir().unwrap();
    let bytes = data(300_000, 7);
    let (_, trace) = uploaded(&cli, src.path(), "a.bin", &bytes);
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let download = |dest: &Path| {
        cli.run(&[
            "download",
            "--trace",
            &trace,
            "a.bin",
            "-o",
            dest.to_str().unwrap(),
        ])
    };

    // A FIFO: written directly, still a FIFO afterwards.
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let (reader, stop) = fifo_reader(&fifo);
    let o = download(&fifo);
    stop.store(true, std::sync::atomic::Ordering::Release);
    let got = reader.join().unwrap();
    assert_eq!(o.code, 0, "{o:?}");
    assert!(got == bytes, "the FIFO's reader got {} bytes", got.len());
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());

    // A symbolic link to a FIFO: written through, both kept.
    let fifo_link = dir.path().join("fifo-link");
    symlink(&fifo, &fifo_link).unwrap();
    let (reader, stop) = fifo_reader(&fifo);
    let o = download(&fifo_link);
    stop.store(true, std::sync::atomic::Ordering::Release);
    let got = reader.join().unwrap();
    assert_eq!(o.code, 0, "{o:?}");
    assert!(got == bytes);
    assert!(std::fs::symlink_metadata(&fifo_link)
        .unwrap()
        .file_type()
        .is_symlink());

    // A symbolic link to a file elsewhere: the target is replaced, the link stays.
    let target = write(other.path(), "target.bin", b"old");
    let link = dir.path().join("link.bin");
    symlink(&target, &link).unwrap();
    let o = download(&link);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read(&target).unwrap() == bytes);

    // A dangling (relative) symbolic link: its target is created.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let dangling = dir.path().join("dangling.bin");
    symlink("sub/new.bin", &dangling).unwrap();
    let o = download(&dangling);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(std::fs::symlink_metadata(&dangling)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read(dir.path().join("sub/new.bin")).unwrap() == bytes);

    // A link to /proc/self/fd/1 (a magic link whose text is no path): the program's own
    // standard output, a pipe here.
    let fd_link = dir.path().join("stdout-link");
    symlink("/proc/self/fd/1", &fd_link).unwrap();
    let o = download(&fd_link);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout == String::from_utf8_lossy(&bytes),
        "the bytes on stdout: {}",
        o.stderr
    );
    assert!(std::fs::symlink_metadata(&fd_link)
        .unwrap()
        .file_type()
        .is_symlink());

    // No temporary file left anywhere.
    assert_eq!(
        entries(dir.path()),
        [
            "dangling.bin",
            "fifo-link",
            "link.bin",
            "pipe",
            "stdout-link",
            "sub"
        ]
    );
    assert_eq!(entries(other.path()), ["target.bin"]);
    assert_eq!(entries(&dir.path().join("sub")), ["new.bin"]);
}

#[test]
fn download_checks_its_destination_before_any_request() {
    let s = server(StorageMode::Direct);
    let cli = Cli::new(Some(s.base_url()));
    let src = tempfile::tempdir().unwrap();
    let (_, trace) = uploaded(&cli, src.path(), "a.bin", b"abc");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("newdir");
    std::fs::create_dir_all(dir.path().join("full/a.bin")).unwrap();
    let cases: Vec<(Option<String>, &str)> = vec![
        (Some(format!("{}/", missing.display())), "does not exist"),
        (
            Some(missing.join("x.bin").display().to_string()),
            "does not exist",
        ),
        (
            Some(dir.path().join("full").display().to_string()),
            "is a directory",
        ),
        // The default ./NAME, an existing directory (run in `full`).
        (None, "is a directory"),
    ];
    for (output, says) in cases {
        s.clear_requests();
        let mut args = vec!["download", "--trace", &trace, "a.bin"];
        if let Some(o) = &output {
            args.extend(["-o", o.as_str()]);
        }
        let o = finish(
            cli.command(&args)
                .current_dir(dir.path().join("full"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        assert_eq!(o.code, 4, "{output:?}: {o:?}");
        assert!(
            o.stderr.contains("OPIK_ERR_IO") && o.stderr.contains(says),
            "{o:?}"
        );
        assert!(s.requests().is_empty(), "{output:?}: no request");
    }
    assert!(!missing.exists());
    assert_eq!(entries(&dir.path().join("full")), ["a.bin"]);
}

#[test]
fn a_short_key_corrupts_no_output_and_a_long_one_is_never_printed() {
    let s = server(StorageMode::Direct);
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "k.txt", b"k ok k");
    let trace = id();
    let dest = dir.path().join("back.txt");
    let short = Cli::new(Some(s.base_url())).env("OPIK_API_KEY", "k");
    let runs: Vec<Vec<&str>> = vec![
        vec!["upload", "--trace", &trace, f.to_str().unwrap(), "--json"],
        vec!["list", "--trace", &trace, "--json"],
        vec![
            "download",
            "--trace",
            &trace,
            "k.txt",
            "-o",
            dest.to_str().unwrap(),
            "--json",
        ],
        vec!["download", "--trace", &trace, "missing.bin", "--json"],
        vec!["delete", "--trace", &trace, "k.txt", "--json"],
        vec!["list", "--trace", &trace, "--bogus", "--json"],
        vec!["trace", "--name", "k", "--json"],
    ];
    for args in &runs {
        let o = short.run(args);
        let docs = json_lines(&o.stdout);
        assert!(!docs.is_empty(), "{args:?}: {o:?}");
        for d in &docs {
            if args[0] == "list" && o.code == 0 {
                assert_eq!(d["file_name"], "k.txt", "{o:?}");
            } else {
                assert!(d.get("ok").is_some(), "{args:?}: {o:?}");
            }
        }
        assert!(!o.all().contains("[REDACTED]"), "{args:?}: {o:?}");
    }
    assert_eq!(std::fs::read(&dest).unwrap(), b"k ok k");
    // The table is data too.
    let o = short.run(&["upload", "--trace", &trace, f.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = short.run(&["list", "--trace", &trace]);
    assert!(o.stdout.lines().any(|l| l.starts_with("k.txt ")), "{o:?}");

    // A long key: removed from clap's usage errors that echo it, JSON or not.
    const LONG: &str = "long-secret-key-7Hq2";
    let long = Cli::new(Some(s.base_url())).env("OPIK_API_KEY", LONG);
    for args in [
        vec!["list", "--trace", &trace, "--api-key", LONG, LONG, "--json"],
        vec!["list", "--trace", &trace, "--api-key", LONG, LONG],
        vec!["list", "--trace", &trace, "--json"],
        vec!["download", "--trace", &trace, "missing.bin", "--json"],
    ] {
        let o = long.run(&args);
        assert!(!o.all().contains(LONG), "{args:?}: {o:?}");
        if args.contains(&"--json") {
            for d in json_lines(&o.stdout) {
                assert!(
                    d.get("ok").is_some() || d.get("file_name").is_some(),
                    "{o:?}"
                );
            }
        }
        if args.contains(&"--api-key") {
            assert_eq!(o.code, 2, "{o:?}");
            assert!(o.all().contains("[REDACTED]"), "{o:?}");
        }
    }
}

/// Runs the binary with its standard output a pipe whose reader has already gone.
fn run_into_closed_pipe(cli: &Cli, args: &[&str]) -> Out {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe(2) into a two-element array; the read end is closed at once, the write end
    // is owned by the OwnedFd.
    let write_end = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::close(fds[0]);
        OwnedFd::from_raw_fd(fds[1])
    };
    let mut child = cli
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut se = child.stderr.take().unwrap();
    let t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let code = wait_bounded(&mut child, RUN_LIMIT);
    Out {
        code,
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&t.join().unwrap()).into_owned(),
    }
}

#[test]
fn a_closed_standard_output_ends_quietly_with_exit_code_0() {
    let s = server(StorageMode::Direct);
    let cli = Cli::new(Some(s.base_url()));
    let dir = tempfile::tempdir().unwrap();
    let big = write(dir.path(), "big.bin", &data(1024 * 1024, 9));
    let trace = id();
    assert_eq!(
        cli.run(&["upload", "--trace", &trace, big.to_str().unwrap()])
            .code,
        0
    );
    for args in [
        vec!["trace", "--name", "piped"],
        vec!["trace", "--name", "piped", "--json"],
        vec!["--help"],
        vec!["upload", "--help"],
        vec!["list", "--trace", &trace],
        vec!["list", "--trace", &trace, "--json"],
        vec!["download", "--trace", &trace, "big.bin", "-o", "-"],
        vec!["upload", "--trace", &trace, big.to_str().unwrap(), "--json"],
        vec!["list", "--bogus", "--json"],
    ] {
        let o = run_into_closed_pipe(&cli, &args);
        assert!(!o.stderr.contains("panicked"), "{args:?}: {o:?}");
        assert_ne!(o.code, 101, "{args:?}: {o:?}");
        if args != ["list", "--bogus", "--json"] {
            assert_eq!(o.code, 0, "{args:?}: {o:?}");
            assert!(!o.stderr.contains("error"), "{args:?}: {o:?}");
        }
    }
}

#[test]
fn with_json_the_forced_exit_after_ctrl_c_prints_the_interrupted_document() {
    let s = server(StorageMode::Direct);
    let cli = Cli::new(Some(s.base_url()));
    let src = tempfile::tempdir().unwrap();
    let (_, trace) = uploaded(&cli, src.path(), "video.bin", &data(2 * 1024 * 1024, 4));
    // The body stalls: nothing reaches the sink, so only the forced exit ends the program.
    s.add_fault(FaultRule {
        target: Some("download".into()),
        stall_after_bytes: Some(300_000),
        stall_ms: 60_000,
        times: 0,
        ..Default::default()
    });
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("video.bin");
    let child = cli.spawn(&[
        "download",
        "--trace",
        &trace,
        "video.bin",
        "-o",
        dest.to_str().unwrap(),
        "--json",
    ]);
    let o = interrupt_once_downloading(out.path(), KillOnDrop(Some(child)));
    assert_eq!(o.code, 130, "{o:?}");
    let docs = json_lines(&o.stdout);
    assert_eq!(docs.len(), 1, "{o:?}");
    assert_eq!(docs[0]["ok"], false);
    assert_eq!(docs[0]["status"], "INTERRUPTED");
    assert_eq!(docs[0]["exit_code"], 130);
    assert_eq!(entries(out.path()), Vec::<String>::new());
}

/// Waits until a download's temporary file in `dir` has bytes (the transfer is under way), sends
/// SIGINT and returns what the program printed, asserting it stopped within 10 s.
fn interrupt_once_downloading(dir: &Path, child: KillOnDrop) -> Out {
    wait_for(Duration::from_secs(30), "the temporary file", || {
        std::fs::read_dir(dir)
            .unwrap()
            .any(|e| e.unwrap().metadata().map(|m| m.len() > 0).unwrap_or(false))
    });
    let child = child.take();
    let started = Instant::now();
    sigint(&child);
    let o = finish(child);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped promptly: {o:?}"
    );
    o
}

/// Kills the child if the test panics before it is taken back.
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    fn take(mut self) -> Child {
        self.0.take().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn uploads_skip_what_a_directory_cannot_upload_and_explain_special_inputs() {
    use std::os::unix::ffi::OsStrExt;
    let s = server(StorageMode::Direct);
    let cli = Cli::new(Some(s.base_url()));
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    write(&tree, "good.txt", b"good");
    let bad_name = tree.join(std::ffi::OsStr::from_bytes(b"bad\xff.txt"));
    std::fs::write(&bad_name, b"bad").unwrap();
    mkfifo(&tree.join("pipe"));
    let trace = id();

    // A directory: the FIFO and the non-UTF-8 name are skipped with a warning, the rest sent.
    let o = cli.run(&["upload", "--trace", &trace, "-r", tree.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stderr.matches("warning: skipped").count(), 2, "{o:?}");
    assert!(
        o.stderr.contains("not UTF-8") && o.stderr.contains("FIFO"),
        "{o:?}"
    );
    let rows = s.attachments();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].file_name, "good.txt");
    // With --json the warnings stay on stderr, stdout stays JSON.
    let o = cli.run(&[
        "upload",
        "--trace",
        &id(),
        "-r",
        tree.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(json_lines(&o.stdout).len(), 1, "{o:?}");
    assert_eq!(o.stderr.matches("warning: skipped").count(), 2, "{o:?}");

    // The same files given alone: errors that say what to do on this command line.
    let mut c = cli.command(&["upload", "--trace", &trace]);
    c.arg(&bad_name);
    let o = finish(
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert_eq!(o.code, 3, "{o:?}");
    assert!(o.stderr.contains("--name"), "{o:?}");
    assert!(!o.stderr.contains("file_name"), "{o:?}");
    let fifo = tree.join("pipe");
    let o = cli.run(&["upload", "--trace", &trace, fifo.to_str().unwrap()]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(o.stderr.contains("--name NAME - <"), "{o:?}");
}

#[test]
fn trace_refuses_duplicate_attachments_and_metadata_that_is_not_an_object() {
    let s = server(StorageMode::Direct);
    let cli = Cli::new(Some(s.base_url()));
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.txt", b"a");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let a2 = write(&dir.path().join("sub"), "a.txt", b"other a");
    for second in [&a, &a2] {
        let o = cli.run(&[
            "trace",
            "--name",
            "t",
            "--attach",
            a.to_str().unwrap(),
            "--attach",
            second.to_str().unwrap(),
        ]);
        assert_eq!(o.code, 3, "{o:?}");
        assert!(o.stderr.contains("would both be attached"), "{o:?}");
    }
    for m in ["[1, 2]", "4", "\"text\""] {
        let o = cli.run(&["trace", "--name", "t", "--metadata", m]);
        assert_eq!(o.code, 3, "{m}: {o:?}");
        assert!(o.stderr.contains("JSON object"), "{o:?}");
    }
    assert!(s.requests().is_empty(), "nothing sent");
    let o = cli.run(&["trace", "--name", "t", "--metadata", r#"{"run": 4}"#]);
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn help_texts_say_what_the_commands_refuse() {
    let cli = Cli::new(None);
    let o = cli.run(&["trace", "--help"]);
    assert_eq!(o.code, 0);
    assert!(!o.stdout.contains("\\\""), "no literal backslashes: {o:?}");
    assert!(o.stdout.contains(r#"{"value": ...}"#), "{o:?}");
    let o = cli.run(&["download", "--help"]);
    assert!(o.stdout.contains("--json with -o - is refused"), "{o:?}");
    assert!(o.stdout.contains("FIFO"), "{o:?}");
    let o = cli.run(&["upload", "--help"]);
    let flat = o.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("each under its base name"), "{o:?}");
    assert!(flat.contains("two files of one name are refused"), "{o:?}");
}
