//! `opik-test-server`: the Opik-compatible attachment test server as a program, for tests written
//! in C, C++, Go, Python and for benchmarks. Prints `listening on http://127.0.0.1:PORT/` once
//! ready and exits cleanly on SIGTERM or SIGINT.

use std::io::Write;
use std::process::ExitCode;

use opik_test_server::{Config, ExternalS3, StorageMode, TestServer, TlsPem};

const USAGE: &str = "\
usage: opik-test-server [options]

  --host ADDR                 address to bind (default 127.0.0.1)
  --port N                    port to bind, 0 = any free port (default 0)
  --mode direct|s3            storage mode (default direct; s3 when --s3-endpoint is given)
  --api-key KEY               require `Authorization: KEY` and `Comet-Workspace` on backend requests
  --workspace NAME            workspace name (default \"default\")
  --presign-expiry-secs N     lifetime of presigned URLs (default 3600)
  --s3-endpoint URL           use this S3 server instead of the built-in emulator (S3 mode)
  --s3-access-key KEY         its access key (required with --s3-endpoint)
  --s3-secret-key KEY         its secret key (required with --s3-endpoint)
  --s3-bucket NAME            bucket, created if missing (default opik)
  --s3-region NAME            signing region (default us-east-1)
  --storage-origin URL        origin put in the built-in emulator's presigned URLs instead of
                              this server's, e.g. a proxy in front of it (S3 mode)
  --port-file PATH            write the port number to PATH once listening (atomically)
  --tls-cert PEM --tls-key PEM  serve HTTPS with this certificate chain and private key
  --discard-bodies            count uploaded bytes but store nothing; downloads return a
                              synthetic pattern of the recorded size (for benchmarks)
  --help                      show this help

Test controls (no auth): POST /_test/reset, POST|GET|DELETE /_test/faults,
GET|DELETE /_test/requests, GET /_test/attachments, GET /_test/traces,
GET /_test/spans, GET /_test/stats,
POST /_test/close-idle (every connection closes once idle).";

struct Args {
    config: Config,
    port_file: Option<String>,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut config = Config::default();
    let mut mode: Option<StorageMode> = None;
    let mut port_file = None;
    let (mut tls_cert, mut tls_key) = (None, None);
    let (mut endpoint, mut access_key, mut secret_key) = (None, None, None);
    let mut bucket = "opik".to_string();
    let mut region = "us-east-1".to_string();
    while let Some(arg) = argv.next() {
        if arg == "--help" || arg == "-h" {
            return Ok(None);
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| argv.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--host" => config.host = value()?,
            "--port" => {
                config.port = value()?
                    .parse()
                    .map_err(|_| "--port must be a number 0-65535")?
            }
            "--mode" => {
                mode = Some(match value()?.as_str() {
                    "direct" => StorageMode::Direct,
                    "s3" => StorageMode::S3,
                    other => return Err(format!("--mode must be direct or s3, not {other:?}")),
                })
            }
            "--api-key" => config.api_key = Some(value()?),
            "--workspace" => config.workspace = value()?,
            "--presign-expiry-secs" => {
                config.presign_expiry_secs = value()?
                    .parse()
                    .map_err(|_| "--presign-expiry-secs must be a number")?
            }
            "--s3-endpoint" => endpoint = Some(value()?),
            "--s3-access-key" => access_key = Some(value()?),
            "--s3-secret-key" => secret_key = Some(value()?),
            "--s3-bucket" => bucket = value()?,
            "--s3-region" => region = value()?,
            "--storage-origin" => config.storage_origin = Some(value()?),
            "--port-file" => port_file = Some(value()?),
            "--tls-cert" => tls_cert = Some(value()?),
            "--tls-key" => tls_key = Some(value()?),
            "--discard-bodies" => config.discard_bodies = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    match (endpoint, access_key, secret_key) {
        (None, None, None) => {}
        (Some(endpoint), Some(access_key), Some(secret_key)) => {
            if mode == Some(StorageMode::Direct) {
                return Err("--s3-endpoint needs --mode s3".to_string());
            }
            mode = Some(StorageMode::S3);
            config.external_s3 = Some(ExternalS3 {
                endpoint,
                access_key,
                secret_key,
                bucket,
                region,
            });
        }
        _ => {
            return Err(
                "--s3-endpoint, --s3-access-key and --s3-secret-key go together".to_string(),
            )
        }
    }
    config.mode = mode.unwrap_or(StorageMode::Direct);
    config.tls = match (tls_cert, tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            let read = |path: &str| {
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
            };
            Some(TlsPem {
                cert_chain: read(&cert)?,
                private_key: read(&key)?,
            })
        }
        _ => return Err("--tls-cert and --tls-key go together".to_string()),
    };
    if config.storage_origin.is_some()
        && (config.mode != StorageMode::S3 || config.external_s3.is_some())
    {
        return Err(
            "--storage-origin applies to the built-in storage of S3 mode (--mode s3)".to_string(),
        );
    }
    if config.discard_bodies && config.external_s3.is_some() {
        return Err(
            "--discard-bodies applies to the built-in storage, not --s3-endpoint".to_string(),
        );
    }
    Ok(Some(Args { config, port_file }))
}

/// Writes the port to `path` through a temporary file and a rename, so a reader never sees a
/// partial file.
fn write_port_file(path: &str, port: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp{}", std::process::id());
    std::fs::write(&tmp, format!("{port}\n"))?;
    std::fs::rename(&tmp, path)
}

fn wait_for_signal() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("opik-test-server: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let server = match TestServer::try_start(args.config) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("opik-test-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let base_url = server.base_url();
    // The port file first: whoever has seen the start-up line can rely on it.
    if let Some(path) = &args.port_file {
        let port = base_url
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .unwrap_or("0");
        if let Err(e) = write_port_file(path, port) {
            eprintln!("opik-test-server: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on {base_url}");
    let _ = stdout.flush();
    drop(stdout);
    if let Err(e) = wait_for_signal() {
        eprintln!("opik-test-server: cannot wait for signals: {e}");
    }
    drop(server);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_flags() {
        let a = parse(&[]).unwrap().unwrap();
        assert_eq!(a.config.mode, StorageMode::Direct);
        assert_eq!(a.config.workspace, "default");
        let a = parse(&[
            "--mode",
            "s3",
            "--port=8080",
            "--api-key",
            "k",
            "--presign-expiry-secs",
            "60",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.config.mode, StorageMode::S3);
        assert_eq!(a.config.port, 8080);
        assert_eq!(a.config.api_key.as_deref(), Some("k"));
        assert_eq!(a.config.presign_expiry_secs, 60);
        let a = parse(&[
            "--s3-endpoint",
            "http://x:1",
            "--s3-access-key",
            "a",
            "--s3-secret-key",
            "b",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.config.mode, StorageMode::S3);
        assert_eq!(a.config.external_s3.unwrap().bucket, "opik");
        assert!(parse(&["--s3-endpoint", "http://x:1"]).is_err());
        assert!(parse(&[
            "--mode",
            "direct",
            "--s3-endpoint",
            "e",
            "--s3-access-key",
            "a",
            "--s3-secret-key",
            "b"
        ])
        .is_err());
        let a = parse(&["--mode", "s3", "--storage-origin", "http://127.0.0.1:9"])
            .unwrap()
            .unwrap();
        assert_eq!(
            a.config.storage_origin.as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert!(parse(&["--storage-origin", "http://127.0.0.1:9"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["--tls-cert", "c.pem"]).is_err());
        assert!(parse(&[
            "--tls-cert",
            "/nonexistent/c.pem",
            "--tls-key",
            "/nonexistent/k.pem"
        ])
        .is_err());
    }
}
