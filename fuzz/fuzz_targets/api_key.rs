//! `config::url_from_api_key` (`<key>*<base64 JSON with baseUrl>`) and the configuration resolved
//! from such a key: the URL it gives is always a usable base URL, or the key gives none.
#![no_main]
use libfuzzer_sys::fuzz_target;
use opik_attachments::fuzzing::config::{normalize_base_url, url_from_api_key, Config, Options};

mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = std::str::from_utf8(data) else {
        return;
    };
    let url = url_from_api_key(key);
    if let Some(u) = &url {
        assert!(u.ends_with("/opik/api/"), "{u:?}");
        assert!(u.contains("://"), "{u:?}");
        assert!(key.contains('*'));
    }
    if !key.contains('*') {
        assert_eq!(url, None);
    }
    // The whole resolution with only this key set: a URL taken from the key, or a config error.
    let options = Options {
        api_key: Some(key.to_owned()),
        ..Default::default()
    };
    match Config::resolve_with(&options, &common::Empty) {
        Ok(c) => {
            let u = url.as_deref().expect("a URL came from somewhere");
            assert_eq!(c.base_url, normalize_base_url(u).unwrap());
            assert!(c.base_url.ends_with('/'));
            let lower = c.base_url.to_ascii_lowercase();
            assert!(lower.starts_with("http://") || lower.starts_with("https://"));
            assert_eq!(
                c.api_key.as_deref(),
                Some(key),
                "the whole key is the credential"
            );
            // The key never appears in the debug form.
            if key.len() >= 4 {
                assert!(!format!("{c:?}").contains(key));
            }
            // A transport for it either builds or fails with a config error, never panics; its
            // messages never carry the key.
            if let Err(e) = opik_attachments::fuzzing::transport::Transport::new(&c, opik_attachments::fuzzing::transport::Observer::quiet()) {
                assert_eq!(e.status, opik_attachments::Status::Config);
                if key.len() >= 8 {
                    assert!(!e.message.contains(key), "{}", e.message);
                }
            }
        }
        Err(e) => {
            assert_eq!(e.status, opik_attachments::Status::Config);
            // A leak is a message that carries the key; a key that happens to be a piece of the
            // message's own fixed text is not one (the fuzzer learns that text:
            // fuzz/regressions/api_key/key-is-part-of-the-no-url-message). The message must not
            // change when a key without a URL changes.
            if key.len() >= 8 && e.message.contains(key) && !key.contains('*') {
                let other = Options {
                    api_key: Some("fuzz-other-key".to_owned()),
                    ..Default::default()
                };
                let same = Config::resolve_with(&other, &common::Empty)
                    .err()
                    .is_some_and(|o| o.message == e.message);
                assert!(same, "the key in {:?}", e.message);
            } else if key.len() >= 8 {
                assert!(!e.message.contains(key), "the key in {:?}", e.message);
            }
        }
    }
});
