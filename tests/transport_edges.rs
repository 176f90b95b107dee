//! Edges of the transport that reqwest handled and a hand-driven HTTP stack must handle too (each
//! found by a review of that move): answers split into pieces, Locations with URLs in their query,
//! raw UTF-8 or pointing at presigned URLs, links with user information. Against a scripted fake
//! Opik (raw TCP, one request per connection) so each answer's bytes and timing are exact and
//! every request is seen as it was sent.

#[path = "common/fake_opik.rs"]
mod fake;

use fake::*;
use opik_attachments::EntityType;
use std::io::Write;
use std::time::Duration;

/// A JSON answer with a `Content-Length`, written in two equal halves with a pause between them
/// (as a server flushing a fixed-size output buffer does): the first chunk hyper hands over is
/// then exactly as long as what is still to come, and `read_capped` takes it for the whole body
/// (`resp.content_length()` is the size hint of what is *left*, not the announced length).
/// Pre-existing: main (reqwest) fails the same way.
#[test]
fn a_json_answer_arriving_in_two_equal_halves_is_read_whole() {
    let (port, _seen) = fake_opik_with_project(|_, conn, _| {
        let mut body = page("").into_bytes();
        // Pad (JSON whitespace) to an even length.
        if body.len() % 2 == 1 {
            body.push(b' ');
        }
        let half = body.len() / 2;
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(head.as_bytes());
        let _ = conn.write_all(&body[..half]);
        let _ = conn.flush();
        std::thread::sleep(Duration::from_millis(300));
        let _ = conn.write_all(&body[half..]);
    });
    let got = client(port)
        .list(None, EntityType::Trace, ENTITY)
        .expect("list");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].file_name, "a.bin");
}

/// Lists through a fake Opik whose list answers with a same-origin redirect (`status` to
/// `location`, then a one-attachment page wherever it leads); returns the last request it saw.
fn list_after_redirect(status: &'static str, location: &'static str) -> Seen {
    let (port, seen) = fake_opik_with_project(move |req, conn, _| {
        if req.target().contains("/attachment/list?") {
            respond(conn, status, &format!("Location: {location}\r\n"), b"")
        } else {
            one_page(conn, "")
        }
    });
    let (got, seen) = list_seen(port, &seen);
    assert_eq!(got.len(), 1);
    seen.last().unwrap().clone()
}

/// A same-origin redirect whose relative `Location` carries `://` in its query (a return URL):
/// reqwest resolved it against the request's URL and followed it; `resolve()` takes any
/// `Location` holding `://` for an absolute URL, gets no origin, and the redirect is refused.
#[test]
fn a_relative_redirect_with_a_url_in_its_query_is_followed() {
    let last = list_after_redirect(
        "302 Found",
        "/api/v1/private/attachment/list2?back=http://127.0.0.1/x",
    );
    assert_eq!(
        last.target(),
        "/api/v1/private/attachment/list2?back=http://127.0.0.1/x"
    );
    assert_eq!(last.header("authorization").as_deref(), Some(KEY));
}

/// A same-origin redirect whose `Location` path holds UTF-8 (sent raw, as many servers do):
/// reqwest read the header as UTF-8 and followed it (percent-encoded); `to_str()` refuses any
/// byte above 0x7e, so the redirect is refused.
#[test]
fn a_redirect_to_a_utf8_path_on_the_same_origin_is_followed() {
    let last = list_after_redirect(
        "307 Temporary Redirect",
        "/api/v1/private/attachment/list-\u{e9}",
    );
    assert_eq!(last.target(), "/api/v1/private/attachment/list-%C3%A9");
}

/// A storage link with user information (`http://user:pw@host/...`): reqwest took the user and
/// password out of the URL and sent them as `Authorization: Basic` (never the API key); the hyper
/// version drops them, so such storage answers 401.
#[test]
fn a_storage_link_with_user_information_sends_basic_auth() {
    let (port, seen) = fake_opik_with_project(|req, conn, port| {
        if req.target().contains("/attachment/list?") {
            // Another origin (localhost, not 127.0.0.1): storage, not the backend.
            one_page(
                conn,
                &format!("http://user:pw@localhost:{port}/store/a.bin"),
            )
        } else if req.header("authorization").as_deref() == Some("Basic dXNlcjpwdw==") {
            respond(conn, "200 OK", "", b"hello")
        } else {
            respond(conn, "401 Unauthorized", "", b"")
        }
    });
    let (r, got, seen) = download_seen(port, &seen);
    let storage = seen.last().unwrap();
    assert!(storage.target().starts_with("/store/a.bin"), "{seen:#?}");
    assert!(
        !storage.head.contains(KEY),
        "the API key went to storage: {}",
        storage.head
    );
    r.unwrap_or_else(|e| panic!("{:?} {}: {}", e.status, e.message, storage.head));
    assert_eq!(got, b"hello");
}

/// Sanity for the scripted server: a plain list works on both versions.
#[test]
fn a_plain_list_works() {
    let (port, seen) = listing_opik();
    let got = client(port).list(None, EntityType::Trace, ENTITY).unwrap();
    assert_eq!(got.len(), 1);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].header("authorization").as_deref(), Some(KEY));
    assert_eq!(
        seen[0].header("comet-workspace").as_deref(),
        Some("default")
    );
    assert_eq!(seen[0].header("host"), Some(format!("127.0.0.1:{port}")));
}

/// Direct mode: the backend's download link answers with a same-origin redirect to a presigned
/// URL (`X-Amz-Signature` in the query). The Opik headers must not go to a presigned URL (real S3
/// answers 400 to query auth plus `Authorization`); peer.rs says the rule "is applied on every
/// hop", but a followed redirect resends the first request's headers as they were.
/// Pre-existing: main (reqwest) fails the same way.
#[test]
fn a_same_origin_redirect_to_a_presigned_url_drops_the_opik_headers() {
    let (port, seen) = fake_opik_with_project(|req, conn, port| {
        let t = req.target();
        if t.contains("/attachment/list?") {
            one_page(
                conn,
                &format!(
                    "http://127.0.0.1:{port}/api/v1/private/attachment/download?file_name=a.bin"
                ),
            )
        } else if t.contains("/attachment/download") {
            respond(
                conn,
                "302 Found",
                "Location: /s3/bucket/a.bin?X-Amz-Signature=abc&X-Amz-Credential=x\r\n",
                b"",
            )
        } else {
            respond(conn, "200 OK", "", b"hello")
        }
    });
    let (r, got, seen) = download_seen(port, &seen);
    let presigned = seen.last().unwrap();
    assert!(
        presigned.target().starts_with("/s3/bucket/a.bin?"),
        "{seen:#?}"
    );
    for name in ["authorization", "comet-workspace"] {
        assert_eq!(presigned.header(name), None, "{}", presigned.head);
    }
    r.unwrap_or_else(|e| panic!("{:?} {}", e.status, e.message));
    assert_eq!(got, b"hello");
}
