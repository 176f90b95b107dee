//! Where output goes: progress bars on a terminal, one line per event otherwise, nothing with
//! `--quiet`, JSON documents on stdout with `--json`. Every message passes [`Output::redact`].

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
    /// Secrets to remove from anything printed (the API key, however it was given).
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
        let mut t = text.to_owned();
        for s in &self.secrets {
            if t.contains(s.as_str()) {
                t = t.replace(s.as_str(), "[REDACTED]");
            }
        }
        t
    }

    /// A line for people on stderr (events, summaries); not with `--quiet` or `--json`.
    pub fn info(&self, line: &str) {
        if matches!(self.mode, Mode::Bars | Mode::Lines) {
            let line = self.redact(line);
            match &self.multi {
                Some(m) => {
                    let _ = m.println(line);
                }
                None => eprintln!("{line}"),
            }
        }
    }

    /// An event line: printed only when there are no bars to show it.
    pub fn event(&self, line: &str) {
        if self.mode == Mode::Lines {
            eprintln!("{}", self.redact(line));
        }
    }

    /// A machine-readable result: one JSON document per line on stdout (`--json` only).
    pub fn json(&self, value: &Value) {
        if self.mode == Mode::Json {
            let text = self.redact(&value.to_string());
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
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
                v["file"] = json!(self.redact(w));
            }
            if e.http_status != 0 {
                v["http_status"] = json!(e.http_status);
            }
            self.json(&v);
        } else {
            let prefix = what
                .map(|w| format!("{}: ", self.redact(w)))
                .unwrap_or_default();
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
            eprintln!("{}", self.redact(line));
        }
    }

    pub fn interrupted(&self) {
        if self.mode == Mode::Json {
            self.json(&json!({
                "ok": false,
                "status": Outcome::Interrupted.name(),
                "exit_code": Outcome::Interrupted.code(),
                "message": "interrupted",
            }));
        } else {
            eprintln!("interrupted");
        }
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
        bar.set_prefix(self.redact(label));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
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
