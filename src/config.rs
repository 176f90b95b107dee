//! Configuration: explicit options, then `OPIK_*` environment variables, then the INI file
//! (`OPIK_CONFIG_PATH` or `~/.opik.config`), then defaults — the order the Opik SDKs use.

use crate::error::{Error, Result};
use base64::Engine;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_WORKSPACE: &str = "default";
pub const DEFAULT_PROJECT: &str = "Default Project";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_UPLOAD_CONCURRENCY: u32 = 4;
pub const MAX_UPLOAD_CONCURRENCY: u32 = 64;

/// What the caller set explicitly (`opik_options_*`). `None` means "not set, look further".
#[derive(Clone, Debug, Default)]
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
    pub retry: Option<crate::transport::RetryPolicy>,
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
    pub queue_limits: crate::background::Limits,
    pub outbox_dir: Option<PathBuf>,
    pub shutdown_timeout: Duration,
    pub retry: crate::transport::RetryPolicy,
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
            .finish()
    }
}

/// Where settings other than explicit options come from; a trait so tests need not touch the
/// process environment.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
    fn home_dir(&self) -> Option<PathBuf>;
}

/// The real process environment.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
    fn home_dir(&self) -> Option<PathBuf> {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
    }
}

impl Config {
    /// Resolves the configuration from options, the process environment and the config file.
    pub fn resolve(options: &Options) -> Result<Config> {
        Config::resolve_with(options, &ProcessEnvironment)
    }

    pub fn resolve_with(options: &Options, env: &dyn Environment) -> Result<Config> {
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
                "no Opik URL configured: call opik_options_set_url(), set the OPIK_URL_OVERRIDE \
                 environment variable, or put url_override in the [opik] section of ~/.opik.config \
                 (or the file named by OPIK_CONFIG_PATH)",
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
                |(max_queued, max_memory)| crate::background::Limits {
                    max_queued,
                    max_memory,
                },
            ),
            outbox_dir: options.outbox_dir.clone(),
            shutdown_timeout: options
                .shutdown_timeout
                .unwrap_or(crate::background::DEFAULT_SHUTDOWN_TIMEOUT),
            retry: options.retry.clone().unwrap_or_default(),
        })
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Checks the scheme and makes the URL end in `/`, so `v1/private/...` joins without losing the
/// last path segment (`https://host/opik/api` and `https://host/opik/api/` are the same API).
pub fn normalize_base_url(url: &str) -> Result<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &url[7..]
    } else if lower.starts_with("https://") {
        &url[8..]
    } else {
        return Err(Error::config(format!(
            "Opik URL {url:?} must start with http:// or https://"
        )));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(Error::config(format!("Opik URL {url:?} has no host")));
    }
    if url.contains(['?', '#']) {
        return Err(Error::config(format!(
            "Opik URL {url:?} must not have a query or fragment"
        )));
    }
    Ok(if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    })
}

/// An API key of the form `<key>*<base64 JSON>` may carry `"baseUrl"`; the API then lives at
/// `<baseUrl>` joined with `opik/api/` (URL-join rules: a last segment without `/` is replaced).
pub fn url_from_api_key(api_key: &str) -> Option<String> {
    let (_, encoded) = api_key.split_once('*')?;
    let bytes = decode_base64_lenient(encoded.trim())?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let base = json.get("baseUrl")?.as_str()?.trim();
    if base.is_empty() {
        return None;
    }
    // Keep scheme://host, then apply the join on the path.
    let after_scheme = base.find("://").map(|i| i + 3)?;
    let path_start = base[after_scheme..]
        .find('/')
        .map(|i| i + after_scheme)
        .unwrap_or(base.len());
    let (origin, path) = base.split_at(path_start);
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    Some(format!("{origin}{dir}opik/api/"))
}

/// Base64 in either alphabet, padding optional (the "padding repair" the SDKs do).
pub(crate) fn decode_base64_lenient(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    let cfg = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, cfg);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, cfg);
    standard.decode(s).ok().or_else(|| url_safe.decode(s).ok())
}

/// The `[opik]` section of the INI config file.
#[derive(Default)]
struct ConfigFile {
    entries: Vec<(String, String)>,
}

impl ConfigFile {
    fn load(env: &dyn Environment) -> Result<ConfigFile> {
        // An explicitly named file must be readable; the default one is optional.
        if let Some(path) = env.var("OPIK_CONFIG_PATH") {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::config(format!(
                    "cannot read the config file named by OPIK_CONFIG_PATH ({path}): {e}"
                ))
            })?;
            return Ok(ConfigFile::parse(&text));
        }
        let Some(home) = env.home_dir() else {
            return Ok(ConfigFile::default());
        };
        let path = home.join(".opik.config");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(ConfigFile::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(e) => Err(Error::config(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    fn parse(text: &str) -> ConfigFile {
        let mut entries = Vec::new();
        let mut in_opik = false;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_opik = section.trim().eq_ignore_ascii_case("opik");
                continue;
            }
            if !in_opik {
                continue;
            }
            if let Some((k, v)) = line.split_once(['=', ':']) {
                let v = v.trim().trim_matches('"');
                if !v.is_empty() {
                    entries.push((k.trim().to_ascii_lowercase(), v.to_owned()));
                }
            }
        }
        ConfigFile { entries }
    }

    fn get(&self, key: &str) -> Option<String> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        for needle in ["opik_options_set_url", "OPIK_URL_OVERRIDE", ".opik.config"] {
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
