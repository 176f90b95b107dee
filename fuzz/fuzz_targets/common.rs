// Shared by several targets (included with `mod common;`).
#![allow(dead_code)]

use opik_attachments::fuzzing::config::{Config, Environment, Options};
use opik_attachments::fuzzing::transport::Transport;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The API key of the fuzzed clients: never in any message, never sent anywhere but the backend.
pub const KEY: &str = "fuzz-secret-key-7f3a";
/// The configured backend: nothing listens there.
pub const BASE: &str = "http://127.0.0.1:1/api/";

/// An environment with nothing in it (no variables, no home, so no config file).
pub struct Empty;
impl Environment for Empty {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
    fn home_dir(&self) -> Option<PathBuf> {
        None
    }
}

/// One transport per process, configured for `BASE` with `KEY`.
pub fn transport() -> &'static Transport {
    static T: OnceLock<Transport> = OnceLock::new();
    T.get_or_init(|| {
        let options = Options {
            url: Some(BASE.into()),
            api_key: Some(KEY.into()),
            ..Default::default()
        };
        let config = Config::resolve_with(&options, &Empty).expect("config");
        Transport::new(&config, opik_attachments::fuzzing::transport::Observer::quiet()).expect("transport")
    })
}

/// Whether a request the transport builds for `url` carries Opik headers; and when it does, the
/// URL must be on the configured origin and not presigned.
pub fn check_headers_stay_home(url: &str) {
    let Some(req) = transport().request(http::Method::PUT, url).build() else {
        return;
    };
    let h = req.headers();
    let opik = h
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == KEY.as_bytes())
        || h.contains_key("comet-workspace");
    if opik {
        let u = req.uri();
        assert!(
            u.scheme_str().is_some_and(|s| s.eq_ignore_ascii_case("http")),
            "Opik headers to {url:?}"
        );
        assert_eq!(u.host(), Some("127.0.0.1"), "Opik headers to {url:?}");
        assert_eq!(u.port_u16(), Some(1), "Opik headers to {url:?}");
        assert!(
            !opik_attachments::fuzzing::transport::is_presigned(url),
            "Opik headers to presigned {url:?}"
        );
    }
}
