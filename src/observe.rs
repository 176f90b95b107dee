//! Observability of the library itself: log lines (to a callback, or to standard error when
//! `OPIK_LOG` says so) and counters of what background work delivered or lost.
//!
//! Every line goes through [`Log::emit`], which removes the API key and the query of any URL in
//! it, so no caller can leak either. Lines carry the entity id (and the file name) from the
//! [`context`] of the work that logs them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Severity of a log line; a sink receives the lines at or below its level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl Level {
    pub fn from_i32(v: i32) -> Option<Level> {
        [Level::Error, Level::Warn, Level::Info, Level::Debug]
            .get(usize::try_from(v).ok()?)
            .copied()
    }

    fn parse(text: &str) -> Option<Level> {
        match text.trim().to_ascii_lowercase().as_str() {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

/// Where log lines go: a function of the embedding program.
pub type LogFn = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// A log sink and the most verbose level it wants.
#[derive(Clone)]
pub struct LogSink {
    pub max_level: Level,
    pub write: LogFn,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink")
            .field("max_level", &self.max_level)
            .finish_non_exhaustive()
    }
}

/// The log of one client.
pub struct Log {
    sink: Option<LogSink>,
    secret: Option<Arc<str>>,
}

impl Log {
    /// `sink`, or with none the `OPIK_LOG` environment variable (lines to standard error), or
    /// nothing. `secret` (the API key) is removed from every line.
    pub fn new(sink: Option<LogSink>, secret: Option<&str>) -> Log {
        let sink = sink.or_else(|| {
            let level = Level::parse(&std::env::var("OPIK_LOG").ok()?)?;
            Some(LogSink {
                max_level: level,
                write: Arc::new(|level: Level, line: &str| {
                    eprintln!("opik-attachments {}: {line}", level.name())
                }),
            })
        });
        Log {
            sink,
            secret: secret.filter(|s| !s.is_empty()).map(Arc::from),
        }
    }

    pub fn enabled(&self, level: Level) -> bool {
        self.sink.as_ref().is_some_and(|s| level <= s.max_level)
    }

    /// Writes one line at `level`, prefixed with the current [`context`], without the API key or
    /// any URL query. Never call it while holding a lock (the sink is the program's code).
    pub fn emit(&self, level: Level, message: &str) {
        let Some(sink) = self.sink.as_ref().filter(|s| level <= s.max_level) else {
            return;
        };
        let mut line = String::new();
        if let Some(ctx) = context() {
            let _ = write!(line, "{ctx}: ");
        }
        line.push_str(message);
        let line = clean(&line, self.secret.as_deref());
        (sink.write)(level, &line);
    }
}

/// The line without the secret, without URL queries (presigned URLs carry credentials there) and
/// without the `user:password@` of URLs.
fn clean(line: &str, secret: Option<&str>) -> String {
    let mut out = match secret {
        Some(s) if line.contains(s) => line.replace(s, "[REDACTED]"),
        _ => line.to_owned(),
    };
    let mut from = 0;
    while let Some(i) = out[from..].find("://").map(|i| i + from) {
        let end = out[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ','))
            .map_or(out.len(), |e| i + e);
        if let Some(q) = out[i..end].find('?') {
            out.replace_range(i + q..end, "");
        }
        let end = out[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ','))
            .map_or(out.len(), |e| i + e);
        let authority_end = out[i + 3..end].find('/').map_or(end, |p| i + 3 + p);
        if let Some(at) = out[i + 3..authority_end].rfind('@') {
            out.replace_range(i + 3..i + 3 + at + 1, "");
        }
        from = i + 3;
    }
    out.replace('\n', " ")
}

tokio::task_local! {
    static CONTEXT: Arc<str>;
}

/// What the work running now is about ("trace 0190...", "span 0190... file shot.png").
pub fn context() -> Option<Arc<str>> {
    CONTEXT.try_with(|c| c.clone()).ok()
}

/// Runs `fut` with `ctx` as the [`context`] of every line it logs.
pub async fn in_context<F: std::future::Future>(ctx: String, fut: F) -> F::Output {
    CONTEXT.scope(Arc::from(ctx), fut).await
}

/// What `opik_client_counter` reports. Values are part of the ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Counter {
    EntitiesSent = 0,
    EntitiesFailed = 1,
    AttachmentsSent = 2,
    AttachmentsFailed = 3,
    BytesSent = 4,
    Retries = 5,
}

impl Counter {
    pub fn from_i32(v: i32) -> Option<Counter> {
        use Counter::*;
        [
            EntitiesSent,
            EntitiesFailed,
            AttachmentsSent,
            AttachmentsFailed,
            BytesSent,
            Retries,
        ]
        .get(usize::try_from(v).ok()?)
        .copied()
    }
}

/// The counters of one client; monotonic, readable from any thread.
#[derive(Debug, Default)]
pub struct Counters {
    values: [AtomicU64; 6],
}

impl Counters {
    pub fn add(&self, which: Counter, n: u64) {
        self.values[which as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self, which: Counter) -> u64 {
        self.values[which as usize].load(Ordering::Relaxed)
    }
}

/// A client's log and counters, shared by everything that runs for it.
pub struct Observer {
    pub log: Log,
    pub counters: Counters,
}

impl Observer {
    pub fn new(sink: Option<LogSink>, secret: Option<&str>) -> Arc<Observer> {
        Arc::new(Observer {
            log: Log::new(sink, secret),
            counters: Counters::default(),
        })
    }

    /// One with no sink (tests and tools).
    pub fn quiet() -> Arc<Observer> {
        Arc::new(Observer {
            log: Log {
                sink: None,
                secret: None,
            },
            counters: Counters::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn lines_lose_the_key_and_url_queries() {
        assert_eq!(
            clean(
                "PUT http://s3/b/k?X-Amz-Signature=abc failed, key sk-123 (http://h/x?a=b)",
                Some("sk-123")
            ),
            "PUT http://s3/b/k failed, key [REDACTED] (http://h/x)"
        );
        assert_eq!(
            clean("GET https://u:pw@h:1/a@b?x=1 and http://v@g done", None),
            "GET https://h:1/a@b and http://g done"
        );
    }

    #[tokio::test]
    async fn lines_carry_their_context_and_respect_the_level() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let got = got.clone();
            LogSink {
                max_level: Level::Warn,
                write: Arc::new(move |l, s: &str| got.lock().unwrap().push((l, s.to_owned()))),
            }
        };
        let log = Log::new(Some(sink), Some("key"));
        in_context("trace 01".into(), async {
            log.emit(Level::Warn, "retrying with key");
            log.emit(Level::Info, "not shown");
        })
        .await;
        log.emit(Level::Error, "bare");
        assert_eq!(
            *got.lock().unwrap(),
            [
                (Level::Warn, "trace 01: retrying with [REDACTED]".to_owned()),
                (Level::Error, "bare".to_owned())
            ]
        );
    }
}
