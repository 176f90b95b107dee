//! The INI config file (`[opik]` section) and the configuration resolved from it, through the
//! public resolution path with `OPIK_CONFIG_PATH` naming a file that holds the fuzzed text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use opik_attachments::fuzzing::config::{normalize_base_url, Config, Environment, Options};
use opik_attachments::Status;
use std::path::PathBuf;
use std::sync::OnceLock;

struct FileEnv(String);
impl Environment for FileEnv {
    fn var(&self, name: &str) -> Option<String> {
        (name == "OPIK_CONFIG_PATH").then(|| self.0.clone())
    }
    fn home_dir(&self) -> Option<PathBuf> {
        None
    }
}

fn path() -> &'static str {
    static P: OnceLock<String> = OnceLock::new();
    P.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let p = dir.join(format!("opik-fuzz-config-{}.ini", std::process::id()));
        p.display().to_string()
    })
}

fuzz_target!(|data: &[u8]| {
    std::fs::write(path(), data).expect("write the config file");
    let env = FileEnv(path().to_owned());
    let resolved = Config::resolve_with(&Options::default(), &env);
    let Ok(text) = std::str::from_utf8(data) else {
        // Not UTF-8: a config error naming the file, never a panic.
        let e = resolved.expect_err("a non-UTF-8 file is refused");
        assert_eq!(e.status, Status::Config);
        return;
    };
    let lower = text.to_ascii_lowercase();
    let c = match resolved {
        Ok(c) => c,
        Err(e) => {
            assert_eq!(e.status, Status::Config, "{}", e.message);
            return;
        }
    };
    // A URL came from the file (url_override, or the api_key's embedded baseUrl).
    assert!(lower.contains("url_override") || lower.contains("api_key"));
    assert!(c.base_url.ends_with('/'));
    assert_eq!(normalize_base_url(&c.base_url).unwrap(), c.base_url);
    // Every value comes from the text, trimmed and never empty.
    for (v, default) in [
        (&c.workspace, opik_attachments::fuzzing::config::DEFAULT_WORKSPACE),
        (&c.project_name, opik_attachments::fuzzing::config::DEFAULT_PROJECT),
    ] {
        assert!(!v.is_empty());
        if v != default {
            assert!(text.contains(v.as_str()), "{v:?} not in the file");
        }
    }
    if let Some(k) = &c.api_key {
        assert!(!k.is_empty() && text.contains(k.as_str()));
    }
    // A client can be set up from it, or the setup fails with a config error.
    if let Err(e) = opik_attachments::fuzzing::transport::Transport::new(&c, opik_attachments::fuzzing::transport::Observer::quiet()) {
        assert_eq!(e.status, Status::Config, "{}", e.message);
    }
});
