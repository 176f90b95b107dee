//! `opik-attachments`: upload, list, download and delete the attachments of Opik traces and
//! spans, and log a trace with attachments, from the command line. A binding over the library's
//! Rust API (not the C ABI): configuration, transfers, retries and redaction are the library's.

mod commands;
mod exit;
mod interrupt;
mod output;

use clap::{Args, Parser, Subcommand};
use exit::Outcome;
use opik_attachments::{EntityType, Error, Options};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const ENV_HELP: &str = "\
Configuration (first found wins): the flags above, then the environment, then the [opik] section
of ~/.opik.config (or of the file named by OPIK_CONFIG_PATH), as every Opik SDK resolves it:
  OPIK_URL_OVERRIDE           the Opik API URL, e.g. http://localhost:5173/api/ (--url)
  OPIK_API_KEY                API key for Opik Cloud (--api-key); never printed
  OPIK_WORKSPACE              workspace (--workspace; default \"default\")
  OPIK_PROJECT_NAME           project (--project; default \"Default Project\")
  OPIK_CONFIG_PATH            another config file instead of ~/.opik.config
  OPIK_CHECK_TLS_CERTIFICATE  false to skip TLS certificate checks
  SSL_CERT_FILE               extra trusted certificates (PEM)
  OPIK_LOG                    error|warn|info|debug: the library's log lines on stderr
Prefer OPIK_API_KEY or the config file to --api-key: other users can see command lines.";

fn footer(examples: &str) -> String {
    format!(
        "Examples:\n{examples}\n\n{ENV_HELP}\n\nOutput: progress bars on a terminal, one line per \
         event when stderr is not a terminal, nothing but errors with --quiet; with --json one \
         JSON document per line on stdout for every result and every error (also the INTERRUPTED \
         one after Ctrl-C). Standard output closed by its reader (| head) ends the program at \
         once, quietly, with exit code 0.\n\n{}",
        exit::help_table()
    )
}

fn main_footer() -> String {
    footer(
        "  export OPIK_URL_OVERRIDE=http://localhost:5173/api/
  opik-attachments upload --trace 0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a8c frame.png log.txt
  opik-attachments list --trace 0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a8c
  opik-attachments download --trace 0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a8c frame.png -o /tmp/f.png
  opik-attachments delete --trace 0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a8c log.txt
  opik-attachments trace --name nightly-render --input '{\"scene\":4}' --attach frame.png",
    )
}

#[derive(Parser)]
#[command(
    name = "opik-attachments",
    version,
    about = "Upload, list, download and delete the attachments of Opik traces and spans",
    long_about = "Upload, list, download and delete the attachments of Opik traces and spans, \
                  and log traces with attachments. Works with Opik Cloud and self-hosted Opik, \
                  in both storage modes (direct upload and S3 multipart). Large files are \
                  streamed, never loaded whole, their parts sent in parallel.",
    after_long_help = main_footer(),
    propagate_version = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
#[command(next_help_heading = "Global options (any command)")]
struct Global {
    /// Opik API URL (else OPIK_URL_OVERRIDE, else url_override in ~/.opik.config)
    #[arg(long, global = true, value_name = "URL")]
    url: Option<String>,
    /// API key (else OPIK_API_KEY, else api_key in ~/.opik.config); never printed
    #[arg(long, global = true, value_name = "KEY", hide_default_value = true)]
    api_key: Option<String>,
    /// Workspace (else OPIK_WORKSPACE, else the config file, else "default")
    #[arg(long, global = true, value_name = "NAME")]
    workspace: Option<String>,
    /// Project (else OPIK_PROJECT_NAME, else the config file, else "Default Project")
    #[arg(long, global = true, value_name = "NAME")]
    project: Option<String>,
    /// Durable outbox: uploads are recorded in DIR before they start and resume from there
    /// if the program is interrupted or killed
    #[arg(long, global = true, value_name = "DIR")]
    outbox: Option<PathBuf>,
    /// Parts of one upload in flight at once (1-64; default 4)
    #[arg(long, global = true, value_name = "N")]
    concurrency: Option<u32>,
    /// Give up on a request after this many seconds of silence (default 60)
    #[arg(long, global = true, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Print nothing but errors
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Machine output: one JSON document per line on stdout for every result and error
    #[arg(long, global = true)]
    json: bool,
}

/// Which entity: a trace or a span, by id (a UUID).
#[derive(Args, Clone)]
#[group(required = true, multiple = false)]
struct Entity {
    /// The trace's id
    #[arg(long, value_name = "ID")]
    trace: Option<String>,
    /// The span's id
    #[arg(long, value_name = "ID")]
    span: Option<String>,
}

impl Entity {
    fn get(&self) -> (EntityType, &str) {
        match (&self.trace, &self.span) {
            (Some(t), _) => (EntityType::Trace, t),
            (None, Some(s)) => (EntityType::Span, s),
            (None, None) => (EntityType::Trace, ""), // clap's group makes one required
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Upload files to a trace or span (several at once, in parallel)
    #[command(after_long_help = footer(
"  opik-attachments upload --trace ID a.png b.mp4 notes.pdf
  opik-attachments upload --span ID --recursive renders/
  tar c logs | opik-attachments upload --trace ID --name logs.tar -
  opik-attachments upload --trace ID --outbox ~/.opik-outbox big.mov   # survives Ctrl-C"))]
    Upload {
        #[command(flatten)]
        entity: Entity,
        /// Upload the files inside directories (and their subdirectories), each under its base
        /// name: two files of one name are refused (upload one alone with --name). FIFOs,
        /// sockets, devices and names that are not UTF-8 are skipped, with a warning
        #[arg(short, long)]
        recursive: bool,
        /// Attachment name (one input only; required for -, standard input)
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// MIME type (default: from the name, else from the content)
        #[arg(long, value_name = "TYPE")]
        mime_type: Option<String>,
        /// Files to upload (streamed, never loaded whole); - reads standard input (with --name; held in memory)
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List the attachments of a trace or span (a table, or --json)
    #[command(after_long_help = footer(
"  opik-attachments list --trace ID
  opik-attachments list --span ID --json | jq -r .file_name"))]
    List {
        #[command(flatten)]
        entity: Entity,
    },
    /// Download one attachment (to a file, atomically, or to stdout)
    #[command(after_long_help = footer(
"  opik-attachments download --trace ID frame.png            # writes ./frame.png
  opik-attachments download --trace ID frame.png -o out/    # writes out/frame.png
  opik-attachments download --span ID log.txt -o - | less
The file appears only when complete: the bytes go to a temporary file beside it, renamed at the
end; on an error or Ctrl-C nothing is left. An existing file is replaced. A symbolic link is
followed: the file it names is written, the link stays. An existing FIFO or device (/dev/stdout)
is opened and written directly, never replaced.
The destination is checked before anything is downloaded: a directory that does not exist
(-o newdir/), or a destination that is a directory (./NAME is one), is an IO error (exit code 4).
--json with -o - is refused (both would write to standard output): exit code 3."))]
    Download {
        #[command(flatten)]
        entity: Entity,
        /// The attachment's name
        #[arg(value_name = "NAME")]
        name: String,
        /// Where to write: a file, a directory, or - for standard output (default ./NAME)
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Delete attachments of a trace or span by name
    #[command(after_long_help = footer(
"  opik-attachments delete --trace ID frame.png log.txt
  opik-attachments delete --trace ID --ignore-missing old.png
A name the entity does not have is an error (exit code 5) and nothing is deleted, unless
--ignore-missing is given."))]
    Delete {
        #[command(flatten)]
        entity: Entity,
        /// Names the entity does not have are skipped instead of failing the command
        #[arg(long)]
        ignore_missing: bool,
        /// Attachment names
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// Log a trace (with attachments) and print its id; waits until it was sent
    #[command(after_long_help = footer(
"  opik-attachments trace --name nightly-render
  opik-attachments trace --name eval --input '{\"prompt\":\"hi\"}' --output '{\"answer\":\"hello\"}' \\
      --tag ci --attach report.pdf --attach chart.png
  TRACE=$(opik-attachments trace --name run -q) && opik-attachments upload --trace \"$TRACE\" x.log"))]
    Trace {
        /// The trace's name
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Input, as JSON (a non-object becomes {"value": ...})
        #[arg(long, value_name = "JSON")]
        input: Option<String>,
        /// Output, as JSON
        #[arg(long, value_name = "JSON")]
        output: Option<String>,
        /// Metadata, as a JSON object (other JSON is refused)
        #[arg(long, value_name = "JSON")]
        metadata: Option<String>,
        /// A tag (repeatable)
        #[arg(long, value_name = "TAG")]
        tag: Vec<String>,
        /// A file to attach (repeatable; attachments are named by the files' base names, which
        /// must differ)
        #[arg(long, value_name = "FILE")]
        attach: Vec<PathBuf>,
        /// How long to wait for the trace and its attachments to be sent
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        flush_timeout: u64,
    },
}

/// The values given to `--api-key` on the command line, to remove from clap's messages.
fn api_keys_in(argv: &[OsString]) -> Vec<String> {
    let mut keys = Vec::new();
    let mut it = argv.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        if a == "--api-key" {
            if let Some(v) = it.next() {
                keys.push(v);
            }
        } else if let Some(v) = a.strip_prefix("--api-key=") {
            keys.push(v.to_owned());
        }
    }
    keys
}

fn options(g: &Global) -> Result<Options, Error> {
    let mut o = Options::default();
    if let Some(u) = &g.url {
        o.set_url(u)?;
    }
    if let Some(k) = &g.api_key {
        o.set_api_key(k)?;
    }
    if let Some(w) = &g.workspace {
        o.set_workspace(w)?;
    }
    if let Some(p) = &g.project {
        o.set_project_name(p)?;
    }
    if let Some(d) = &g.outbox {
        let d = d
            .to_str()
            .ok_or_else(|| Error::invalid(format!("--outbox {} is not UTF-8", d.display())))?;
        o.set_outbox_dir(d)?;
    }
    if let Some(n) = g.concurrency {
        o.set_upload_concurrency(n)?;
    }
    if let Some(t) = g.timeout {
        o.set_timeout(Duration::from_secs(t))?;
    }
    // The commands wait for their own work; at an interrupt, closing must not wait (with an
    // outbox, what was accepted stays there).
    o.set_shutdown_timeout(Duration::ZERO)?;
    Ok(o)
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            // clap's messages echo the command line: the key it may hold is removed (the
            // environment's key never reaches clap). Help and version texts hold no key.
            let mut text = e.render().to_string();
            if e.use_stderr() {
                text = output::redact(&text, &api_keys_in(&argv));
            }
            let json = argv.iter().any(|a| a == "--json");
            if e.use_stderr() && json {
                // Machine output promised errors as JSON: usage errors too.
                let first = text.split("\n\n").next().unwrap_or_default();
                let message = first
                    .trim_start_matches("error: ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                let doc = serde_json::json!({
                    "ok": false,
                    "status": Outcome::Usage.name(),
                    "exit_code": e.exit_code(),
                    "message": message,
                });
                let _ = output::print_stdout(&format!("{doc}\n"));
            } else if e.use_stderr() {
                let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
            } else {
                // --help, --version; a closed pipe ends the program quietly.
                let _ = output::print_stdout(&text);
            }
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    interrupt::install(cli.global.json);
    // The flag's key, if given, is the one the configuration resolves to; the commands add the
    // resolved key once the configuration is read.
    let secrets: Vec<String> = cli.global.api_key.iter().cloned().collect();
    let out = output::Output::new(cli.global.json, cli.global.quiet, secrets.clone());
    let outcome = match options(&cli.global) {
        Ok(opts) => commands::run(&cli.command, opts, secrets, &out),
        Err(e) => {
            out.error(None, &e);
            Outcome::Status(e.status)
        }
    };
    ExitCode::from(outcome.code())
}
