//! Configuration: explicit options, then `OPIK_*` environment variables, then the INI file
//! (`OPIK_CONFIG_PATH` or `~/.opik.config`), then defaults — the order the Opik SDKs use.

mod file;
mod url;

pub use file::{Environment, ProcessEnvironment};
pub use url::{normalize_base_url, url_from_api_key};

use crate::error::{Error, Result};
pub use crate::observe::LogSink;
use file::{parse_bool, ConfigFile};
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_WORKSPACE: &str = "default";
pub const DEFAULT_PROJECT: &str = "Default Project";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_UPLOAD_CONCURRENCY: u32 = 4;
pub const MAX_UPLOAD_CONCURRENCY: u32 = 64;
/// Background operations accepted and not yet completed, by default.
pub const DEFAULT_MAX_QUEUED: usize = 10_000;
/// Bytes of in-memory attachments the background queue holds, by default.
pub const DEFAULT_MAX_MEMORY: u64 = 256 * 1024 * 1024;
/// How long closing a client waits for background work, by default.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// What the caller set explicitly. `None` means "not set, look further" (environment, config
/// file, defaults). Set fields through the `set_*` methods, which refuse invalid values at once
/// with the reason; values put into the fields directly are checked by [`Config::resolve`].
#[derive(Clone, Default)]
pub struct Options {
    pub url: Option<String>,
    pub api_key: Option<String>,
    pub workspace: Option<String>,
    pub project_name: Option<String>,
    pub timeout: Option<Duration>,
    pub upload_concurrency: Option<u32>,
    pub tls_verify: Option<bool>,
    pub ca_file: Option<PathBuf>,
    /// Background queue limits: operations, and bytes of in-memory attachments.
    pub queue_limits: Option<(usize, u64)>,
    /// Directory of the durable outbox (off when `None`).
    pub outbox_dir: Option<PathBuf>,
    /// How long closing the client waits for background uploads before cancelling them.
    pub shutdown_timeout: Option<Duration>,
    /// Retries of transient failures (not settable from C; tests shorten the delays).
    pub retry: Option<RetryPolicy>,
    /// Where the library's own log lines go (else `OPIK_LOG`, else nowhere).
    pub log: Option<LogSink>,
    /// Whether base64 media inside traces' and spans' JSON fields become attachments, and from
    /// how many characters a run counts.
    pub embedded_media: Option<EmbeddedMedia>,
}

/// Extraction of base64 media from the JSON fields of traces and spans (as the Opik SDKs do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddedMedia {
    pub enabled: bool,
    /// Shortest run of base64 characters that counts as media.
    pub min_chars: usize,
}

impl Default for EmbeddedMedia {
    fn default() -> Self {
        EmbeddedMedia {
            enabled: true,
            min_chars: DEFAULT_EMBEDDED_MIN_CHARS,
        }
    }
}

/// The SDKs' default threshold for embedded base64 media.
pub const DEFAULT_EMBEDDED_MIN_CHARS: usize = 256_000;

// Debug by hand: the API key must never reach a log line.
impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("workspace", &self.workspace)
            .field("project_name", &self.project_name)
            .field("timeout", &self.timeout)
            .field("upload_concurrency", &self.upload_concurrency)
            .field("tls_verify", &self.tls_verify)
            .field("ca_file", &self.ca_file)
            .field("queue_limits", &self.queue_limits)
            .field("outbox_dir", &self.outbox_dir)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("retry", &self.retry)
            .field("log", &self.log)
            .field("embedded_media", &self.embedded_media)
            .finish()
    }
}

impl Options {
    /// Turns the extraction of embedded base64 media on or off, with its threshold (at least 4
    /// characters, one base64 quantum, when enabled).
    pub fn set_embedded_media(&mut self, enabled: bool, min_chars: usize) -> Result<()> {
        let media = EmbeddedMedia { enabled, min_chars };
        check_embedded_media(media)?;
        self.embedded_media = Some(media);
        Ok(())
    }

    /// Sends the library's log lines up to `max_level` to `write` (from library threads).
    pub fn set_log(&mut self, sink: LogSink) -> Result<()> {
        self.log = Some(sink);
        Ok(())
    }

    /// The Opik API's URL (checked when the client is made: `OPIK_ERR_CONFIG` if it is not an
    /// http(s) URL).
    pub fn set_url(&mut self, url: &str) -> Result<()> {
        self.url = Some(url.to_owned());
        Ok(())
    }

    pub fn set_api_key(&mut self, api_key: &str) -> Result<()> {
        self.api_key = Some(api_key.to_owned());
        Ok(())
    }

    pub fn set_workspace(&mut self, workspace: &str) -> Result<()> {
        self.workspace = Some(non_empty(workspace, "the workspace name")?);
        Ok(())
    }

    pub fn set_project_name(&mut self, project_name: &str) -> Result<()> {
        self.project_name = Some(non_empty(project_name, "the project name")?);
        Ok(())
    }

    /// The limit on silence of every request (see the C header); more than zero.
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<()> {
        check_timeout(timeout)?;
        self.timeout = Some(timeout);
        Ok(())
    }

    /// Parts of one upload in flight at once, 1 to [`MAX_UPLOAD_CONCURRENCY`].
    pub fn set_upload_concurrency(&mut self, parts_in_flight: u32) -> Result<()> {
        check_upload_concurrency(parts_in_flight)?;
        self.upload_concurrency = Some(parts_in_flight);
        Ok(())
    }

    pub fn set_tls_verify(&mut self, verify: bool) -> Result<()> {
        self.tls_verify = Some(verify);
        Ok(())
    }

    /// A PEM file of extra trusted certificates (read when the client is made).
    pub fn set_ca_file(&mut self, pem_path: &str) -> Result<()> {
        self.ca_file = Some(non_empty(pem_path, "the CA file path")?.into());
        Ok(())
    }

    /// Background queue limits: operations accepted and not completed, and bytes of in-memory
    /// attachments they hold; both more than zero.
    pub fn set_queue_limits(&mut self, max_queued: u32, max_memory_bytes: u64) -> Result<()> {
        check_queue_limits(max_queued as usize, max_memory_bytes)?;
        self.queue_limits = Some((max_queued as usize, max_memory_bytes));
        Ok(())
    }

    /// The directory of the durable outbox (created when the client is made).
    pub fn set_outbox_dir(&mut self, dir: &str) -> Result<()> {
        self.outbox_dir = Some(non_empty(dir, "the outbox directory")?.into());
        Ok(())
    }

    /// How long closing the client waits for background work; 0 cancels it at once.
    pub fn set_shutdown_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.shutdown_timeout = Some(timeout);
        Ok(())
    }

    /// Checks every value set, however it was set.
    fn validate(&self) -> Result<()> {
        if let Some(w) = &self.workspace {
            non_empty(w, "the workspace name")?;
        }
        if let Some(p) = &self.project_name {
            non_empty(p, "the project name")?;
        }
        if let Some(t) = self.timeout {
            check_timeout(t)?;
        }
        if let Some(n) = self.upload_concurrency {
            check_upload_concurrency(n)?;
        }
        if let Some((queued, memory)) = self.queue_limits {
            check_queue_limits(queued, memory)?;
        }
        if let Some(m) = self.embedded_media {
            check_embedded_media(m)?;
        }
        if let Some(r) = &self.retry {
            if r.attempts == 0 {
                return Err(Error::invalid("the retry policy needs at least 1 attempt"));
            }
        }
        Ok(())
    }
}

fn non_empty(value: &str, what: &str) -> Result<String> {
    if value.trim().is_empty() {
        return Err(Error::invalid(format!("{what} must not be empty")));
    }
    Ok(value.to_owned())
}

fn check_embedded_media(media: EmbeddedMedia) -> Result<()> {
    if media.enabled && media.min_chars < 4 {
        return Err(Error::invalid(format!(
            "the embedded media threshold must be at least 4 characters, not {}",
            media.min_chars
        )));
    }
    Ok(())
}

fn check_timeout(timeout: Duration) -> Result<()> {
    if timeout.is_zero() {
        return Err(Error::invalid("the timeout must be greater than 0 ms"));
    }
    Ok(())
}

fn check_upload_concurrency(parts_in_flight: u32) -> Result<()> {
    if parts_in_flight == 0 || parts_in_flight > MAX_UPLOAD_CONCURRENCY {
        return Err(Error::invalid(format!(
            "the upload concurrency must be 1 to {MAX_UPLOAD_CONCURRENCY} parts in flight, \
             not {parts_in_flight}"
        )));
    }
    Ok(())
}

fn check_queue_limits(max_queued: usize, max_memory_bytes: u64) -> Result<()> {
    if max_queued == 0 || max_memory_bytes == 0 {
        return Err(Error::invalid(
            "the queue limits (operations and memory bytes) must be greater than 0",
        ));
    }
    Ok(())
}

/// When and how often to retry transient failures.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, including the first.
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Upper bound for a server's `Retry-After`.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Back-pressure limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Operations accepted and not yet completed.
    pub max_queued: usize,
    /// Bytes of in-memory attachments held by those operations.
    pub max_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_queued: DEFAULT_MAX_QUEUED,
            max_memory: DEFAULT_MAX_MEMORY,
        }
    }
}

/// Resolved configuration of one client.
#[derive(Clone)]
pub struct Config {
    /// Base URL of the Opik API, always ending in `/` (e.g. `https://www.comet.com/opik/api/`).
    pub base_url: String,
    pub api_key: Option<String>,
    pub workspace: String,
    pub project_name: String,
    pub timeout: Duration,
    pub upload_concurrency: u32,
    pub tls_verify: bool,
    pub ca_file: Option<PathBuf>,
    pub queue_limits: Limits,
    pub outbox_dir: Option<PathBuf>,
    pub shutdown_timeout: Duration,
    pub retry: RetryPolicy,
    pub log: Option<LogSink>,
    pub embedded_media: EmbeddedMedia,
}

// Debug by hand: the API key must never reach a log line.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("workspace", &self.workspace)
            .field("project_name", &self.project_name)
            .field("timeout", &self.timeout)
            .field("upload_concurrency", &self.upload_concurrency)
            .field("tls_verify", &self.tls_verify)
            .field("ca_file", &self.ca_file)
            .field("queue_limits", &self.queue_limits)
            .field("outbox_dir", &self.outbox_dir)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("retry", &self.retry)
            .field("log", &self.log)
            .field("embedded_media", &self.embedded_media)
            .finish()
    }
}

impl Config {
    /// Resolves the configuration from options, the process environment and the config file.
    pub fn resolve(options: &Options) -> Result<Config> {
        Config::resolve_with(options, &ProcessEnvironment)
    }

    pub fn resolve_with(options: &Options, env: &dyn Environment) -> Result<Config> {
        options.validate()?;
        let file = ConfigFile::load(env)?;
        let pick = |explicit: &Option<String>, var: &str, key: &str| -> Option<String> {
            explicit
                .clone()
                .or_else(|| env.var(var))
                .or_else(|| file.get(key))
        };
        let api_key = pick(&options.api_key, "OPIK_API_KEY", "api_key");
        let url = pick(&options.url, "OPIK_URL_OVERRIDE", "url_override")
            .or_else(|| api_key.as_deref().and_then(url_from_api_key));
        let Some(url) = url else {
            return Err(Error::config(
                "no Opik URL configured: set the url option, the \
                 OPIK_URL_OVERRIDE environment variable, or url_override in the [opik] section of \
                 ~/.opik.config (or of the file named by OPIK_CONFIG_PATH)",
            ));
        };
        let tls_verify = match options.tls_verify {
            Some(v) => v,
            None => match env
                .var("OPIK_CHECK_TLS_CERTIFICATE")
                .or_else(|| file.get("check_tls_certificate"))
            {
                Some(v) => parse_bool(&v).ok_or_else(|| {
                    Error::config(format!(
                        "OPIK_CHECK_TLS_CERTIFICATE: expected true or false, got {v:?}"
                    ))
                })?,
                None => true,
            },
        };
        let ca_file = options
            .ca_file
            .clone()
            .or_else(|| env.var("SSL_CERT_FILE").map(PathBuf::from));
        Ok(Config {
            base_url: normalize_base_url(&url)?,
            api_key,
            workspace: pick(&options.workspace, "OPIK_WORKSPACE", "workspace")
                .unwrap_or_else(|| DEFAULT_WORKSPACE.to_owned()),
            project_name: pick(&options.project_name, "OPIK_PROJECT_NAME", "project_name")
                .unwrap_or_else(|| DEFAULT_PROJECT.to_owned()),
            timeout: options.timeout.unwrap_or(DEFAULT_TIMEOUT),
            upload_concurrency: options
                .upload_concurrency
                .unwrap_or(DEFAULT_UPLOAD_CONCURRENCY),
            tls_verify,
            ca_file,
            queue_limits: options.queue_limits.map_or_else(
                Default::default,
                |(max_queued, max_memory)| Limits {
                    max_queued,
                    max_memory,
                },
            ),
            outbox_dir: options.outbox_dir.clone(),
            shutdown_timeout: options.shutdown_timeout.unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT),
            retry: options.retry.clone().unwrap_or_default(),
            log: options.log.clone(),
            embedded_media: options.embedded_media.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use std::collections::HashMap;

    struct FakeEnv {
        vars: HashMap<&'static str, String>,
        home: Option<PathBuf>,
    }
    impl Environment for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn home_dir(&self) -> Option<PathBuf> {
            self.home.clone()
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("opik-config-test-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn explicit_beats_environment_beats_file_beats_default() {
        let home = temp_dir("precedence");
        std::fs::write(
            home.join(".opik.config"),
            "[other]\nurl_override = http://wrong/\n[opik]\nurl_override = http://file:1/api\nworkspace = file-ws\napi_key = file-key\nproject_name = file-proj\n",
        )
        .unwrap();
        let mut env = FakeEnv {
            vars: HashMap::new(),
            home: Some(home.clone()),
        };
        let c = Config::resolve_with(&Options::default(), &env).unwrap();
        assert_eq!(c.base_url, "http://file:1/api/");
        assert_eq!(c.workspace, "file-ws");
        assert_eq!(c.api_key.as_deref(), Some("file-key"));
        assert_eq!(c.project_name, "file-proj");

        env.vars.insert("OPIK_URL_OVERRIDE", "http://env:2/".into());
        env.vars.insert("OPIK_WORKSPACE", "env-ws".into());
        let c = Config::resolve_with(&Options::default(), &env).unwrap();
        assert_eq!(c.base_url, "http://env:2/");
        assert_eq!(c.workspace, "env-ws");
        assert_eq!(c.project_name, "file-proj");

        let opts = Options {
            url: Some("https://explicit/opik/api".into()),
            ..Default::default()
        };
        let c = Config::resolve_with(&opts, &env).unwrap();
        assert_eq!(c.base_url, "https://explicit/opik/api/");

        let env = FakeEnv {
            vars: HashMap::from([("OPIK_URL_OVERRIDE", "http://x/".to_string())]),
            home: None,
        };
        let c = Config::resolve_with(&Options::default(), &env).unwrap();
        assert_eq!(c.workspace, DEFAULT_WORKSPACE);
        assert_eq!(c.project_name, DEFAULT_PROJECT);
        assert_eq!(c.api_key, None);
        assert_eq!(c.upload_concurrency, DEFAULT_UPLOAD_CONCURRENCY);
    }

    #[test]
    fn opik_config_path_overrides_home_and_must_be_readable() {
        let dir = temp_dir("path");
        let file = dir.join("custom.ini");
        std::fs::write(&file, "[opik]\nurl_override: http://custom/\n").unwrap();
        let env = FakeEnv {
            vars: HashMap::from([("OPIK_CONFIG_PATH", file.display().to_string())]),
            home: None,
        };
        assert_eq!(
            Config::resolve_with(&Options::default(), &env)
                .unwrap()
                .base_url,
            "http://custom/"
        );
        let env = FakeEnv {
            vars: HashMap::from([(
                "OPIK_CONFIG_PATH",
                dir.join("missing").display().to_string(),
            )]),
            home: None,
        };
        let e = Config::resolve_with(&Options::default(), &env).unwrap_err();
        assert_eq!(e.status, crate::Status::Config);
        assert!(e.message.contains("OPIK_CONFIG_PATH"), "{}", e.message);
    }

    #[test]
    fn no_url_is_a_config_error_naming_the_three_ways() {
        let env = FakeEnv {
            vars: HashMap::new(),
            home: None,
        };
        let e = Config::resolve_with(&Options::default(), &env).unwrap_err();
        assert_eq!(e.status, crate::Status::Config);
        for needle in ["url option", "OPIK_URL_OVERRIDE", ".opik.config"] {
            assert!(e.message.contains(needle), "{}", e.message);
        }
    }

    #[test]
    fn bad_scheme_is_a_config_error() {
        let opts = Options {
            url: Some("ftp://host/".into()),
            ..Default::default()
        };
        let env = FakeEnv {
            vars: HashMap::new(),
            home: None,
        };
        assert_eq!(
            Config::resolve_with(&opts, &env).unwrap_err().status,
            crate::Status::Config
        );
        assert!(normalize_base_url("http://").is_err());
    }

    #[test]
    fn api_key_with_embedded_base_url() {
        // {"baseUrl":"https://eu.example.com/"} in base64 without padding.
        let payload = base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(br#"{"baseUrl":"https://eu.example.com/","other":1}"#);
        let key = format!("abc123*{payload}");
        assert_eq!(
            url_from_api_key(&key).as_deref(),
            Some("https://eu.example.com/opik/api/")
        );
        let env = FakeEnv {
            vars: HashMap::from([("OPIK_API_KEY", key.clone())]),
            home: None,
        };
        let c = Config::resolve_with(&Options::default(), &env).unwrap();
        assert_eq!(c.base_url, "https://eu.example.com/opik/api/");
        assert_eq!(
            c.api_key.as_deref(),
            Some(key.as_str()),
            "the whole key is kept for Authorization"
        );
        // An explicit URL still wins over the embedded one.
        let opts = Options {
            url: Some("http://mine/".into()),
            ..Default::default()
        };
        assert_eq!(
            Config::resolve_with(&opts, &env).unwrap().base_url,
            "http://mine/"
        );
        // No host path, no trailing slash, and plain keys.
        let p =
            base64::engine::general_purpose::URL_SAFE.encode(br#"{"baseUrl":"https://h.example"}"#);
        assert_eq!(
            url_from_api_key(&format!("k*{p}")).as_deref(),
            Some("https://h.example/opik/api/")
        );
        assert_eq!(url_from_api_key("plainkey"), None);
        assert_eq!(url_from_api_key("k*!!notbase64"), None);
    }

    #[test]
    fn debug_output_hides_the_key() {
        let opts = Options {
            url: Some("http://h/".into()),
            api_key: Some("s3cr3t".into()),
            ..Default::default()
        };
        let env = FakeEnv {
            vars: HashMap::new(),
            home: None,
        };
        let c = Config::resolve_with(&opts, &env).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
