//! Where output goes: progress bars on a terminal, one line per event otherwise, nothing with
//! `--quiet`, JSON documents on stdout with `--json`. Error messages pass [`redact`] before they
//! are put into a line or a JSON value; results (file names, sizes, serialised JSON) never do.
//!
//! Standard output closed by its reader (`... | head`): the program stops at once, quietly, with
//! exit code 0, as a tool killed by SIGPIPE would (but without the signal's exit status).

use crate::exit::{code_of, Outcome};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use opik_attachments::Error;
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// stderr is a terminal: progress bars.
    Bars,
    /// stderr is not a terminal: one line per event.
    Lines,
    Quiet,
    Json,
}

pub struct Output {
    pub mode: Mode,
    /// Secrets to remove from error messages (the resolved API key).
    secrets: Vec<String>,
    multi: Option<MultiProgress>,
}

impl Output {
    pub fn new(json: bool, quiet: bool, secrets: Vec<String>) -> Output {
        let mode = if json {
            Mode::Json
        } else if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Lines
        };
        let multi = (mode == Mode::Bars)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        Output {
            mode,
            secrets: secrets.into_iter().filter(|s| !s.is_empty()).collect(),
            multi,
        }
    }

    /// The same output, removing more secrets (the resolved API key).
    pub fn with_secrets(&self, more: &[String]) -> Output {
        let mut secrets = self.secrets.clone();
        secrets.extend(more.iter().filter(|s| !s.is_empty()).cloned());
        Output {
            mode: self.mode,
            secrets,
            multi: self.multi.clone(),
        }
    }

    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }

    /// A line for people on stderr (events, summaries); not with `--quiet` or `--json`.
    pub fn info(&self, line: &str) {
        if matches!(self.mode, Mode::Bars | Mode::Lines) {
            match &self.multi {
                Some(m) => {
                    let _ = m.println(line);
                }
                None => eprintln!("{line}"),
            }
        }
    }

    /// A warning on stderr (a file skipped), in every mode but `--quiet`.
    pub fn warn(&self, line: &str) {
        if self.mode == Mode::Quiet {
            return;
        }
        let line = format!("warning: {line}");
        match &self.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// An event line: printed only when there are no bars to show it.
    pub fn event(&self, line: &str) {
        if self.mode == Mode::Lines {
            eprintln!("{line}");
        }
    }

    /// A machine-readable result: one JSON document per line on stdout (`--json` only).
    pub fn json(&self, value: &Value) {
        if self.mode == Mode::Json {
            // A failure other than a closed pipe (which ends the program) is not worth dying for.
            let _ = print_stdout(&format!("{value}\n"));
        }
    }

    /// Reports an error: JSON on stdout with `--json`, else `error: ...` on stderr (also with
    /// `--quiet`).
    pub fn error(&self, what: Option<&str>, e: &Error) {
        let message = self.redact(&e.message);
        if self.mode == Mode::Json {
            let mut v = json!({
                "ok": false,
                "status": e.status.name(),
                "exit_code": code_of(e),
                "message": message,
            });
            if let Some(w) = what {
                v["file"] = json!(w);
            }
            if e.http_status != 0 {
                v["http_status"] = json!(e.http_status);
            }
            self.json(&v);
        } else {
            let prefix = what.map(|w| format!("{w}: ")).unwrap_or_default();
            let line = format!("error: {prefix}{}: {message}", e.status.name());
            match &self.multi {
                Some(m) => {
                    let _ = m.println(line);
                }
                None => eprintln!("{line}"),
            }
        }
    }

    /// The closing line of a command, after its bars finished (so it stays below them).
    pub fn summary(&self, line: &str) {
        if matches!(self.mode, Mode::Bars | Mode::Lines) {
            eprintln!("{line}");
        }
    }

    /// Reports the interruption (once, whether here or at the forced exit).
    pub fn interrupted(&self) {
        crate::interrupt::report_interrupted();
    }

    /// A byte bar with rate and ETA (hidden unless bars are shown).
    pub fn bar(&self, total: u64, label: &str, is_total: bool) -> ProgressBar {
        let Some(m) = &self.multi else {
            return ProgressBar::hidden();
        };
        // Fits 80 columns: the name (cut to 16), the bar, bytes, rate, ETA, then a status word
        // where there is room.
        let template = if is_total {
            "{prefix:<16!.bold} [{bar:20.green/white}] {binary_bytes:>9}/{binary_total_bytes:<9} {binary_bytes_per_sec:>11} ETA {eta:>3} {wide_msg}"
        } else {
            "{prefix:<16!} [{bar:20.cyan/blue}] {binary_bytes:>9}/{binary_total_bytes:<9} {binary_bytes_per_sec:>11} ETA {eta:>3} {wide_msg}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = m.add(ProgressBar::new(total).with_style(style));
        bar.set_prefix(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

/// The document printed on stdout with `--json` when the program is interrupted.
pub fn interrupted_doc() -> Value {
    json!({
        "ok": false,
        "status": Outcome::Interrupted.name(),
        "exit_code": Outcome::Interrupted.code(),
        "message": "interrupted",
    })
}

/// The shortest key removed wherever it occurs in a message; a shorter one is removed only where
/// it stands alone (not inside a word), so a key `k` leaves "ok" alone.
pub const MIN_ANYWHERE: usize = 8;

/// `text` with every secret replaced by `[REDACTED]`. For messages only (free text, before it is
/// put into a line or a JSON value), never for serialised JSON or table data.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut t = text.to_owned();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if s.chars().count() >= MIN_ANYWHERE {
            t = t.replace(s.as_str(), "[REDACTED]");
            continue;
        }
        let mut out = String::with_capacity(t.len());
        let mut i = 0;
        while let Some(pos) = t[i..].find(s.as_str()) {
            let start = i + pos;
            let end = start + s.len();
            let alone = !t[..start].chars().next_back().is_some_and(word)
                && !t[end..].chars().next().is_some_and(word);
            let next = if alone {
                end
            } else {
                start + s.chars().next().map_or(1, char::len_utf8)
            };
            out.push_str(&t[i..start]);
            out.push_str(if alone { "[REDACTED]" } else { &t[start..next] });
            i = next;
        }
        out.push_str(&t[i..]);
        t = out;
    }
    t
}

/// Writes `text` to standard output and flushes it. Standard output closed by its reader ends the
/// program quietly with exit code 0 (see [`stdout_error`]).
pub fn print_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// A failed write to standard output as an error; a closed pipe (EPIPE) is not an error: the
/// reader wants no more, so the program ends at once, quietly, with exit code 0 (a download's
/// temporary file removed first).
pub fn stdout_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        crate::interrupt::exit_now(0);
    }
    Error::io("cannot write to standard output", &e)
}

/// 1536 -> "1.5 KiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Bytes per second as "12.3 MiB/s".
pub fn human_rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-6);
    format!("{}/s", human_bytes((bytes as f64 / secs) as u64))
}
