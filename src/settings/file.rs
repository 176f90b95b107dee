//! Where settings other than explicit options come from: the process environment and the INI
//! file (`OPIK_CONFIG_PATH` or `~/.opik.config`, section `[opik]`).

use crate::error::{Error, Result};
use std::path::PathBuf;

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

/// A config file's text: a FIFO or device in its place is refused rather than waited on, and
/// anything over 1 MiB is not a config file.
fn read_text(path: &std::path::Path) -> std::io::Result<String> {
    let bytes = crate::sys::file_reads::read_small(path, 1 << 20)?;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))
}

/// The `[opik]` section of the INI config file.
#[derive(Default)]
pub(crate) struct ConfigFile {
    entries: Vec<(String, String)>,
}

impl ConfigFile {
    pub fn load(env: &dyn Environment) -> Result<ConfigFile> {
        // An explicitly named file must be readable; the default one is optional.
        if let Some(path) = env.var("OPIK_CONFIG_PATH") {
            let text = read_text(std::path::Path::new(&path)).map_err(|e| {
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
        match read_text(&path) {
            Ok(text) => Ok(ConfigFile::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(e) => Err(Error::config(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    pub fn parse(text: &str) -> ConfigFile {
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

    pub fn get(&self, key: &str) -> Option<String> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }
}

pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}
