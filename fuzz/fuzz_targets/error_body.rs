//! `transport::server_message`: the message taken from a server's error body (JSON `errors` or
//! `message`, S3 XML `<Code>`/`<Message>` with entities, else the first 300 characters).
#![no_main]
use libfuzzer_sys::fuzz_target;
use opik_attachments::fuzzing::transport::server_message;

fuzz_target!(|body: &[u8]| {
    let msg = server_message(body);
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    // Never (much) longer than what the server sent: entities and JSON escapes only shrink; a
    // number re-serialised from `errors` (1E15 -> 1000000000000000.0) grows at most ~5x; an XML
    // <Message> nested inside <Code> is repeated once.
    assert!(
        msg.len() <= 5 * body.len() + 16,
        "message of {} bytes from a body of {}",
        msg.len(),
        body.len()
    );
    // Only a JSON object can carry `errors` or `message`.
    let object = trimmed.starts_with('{');
    // A body that is neither a JSON object nor S3 XML gives its first 300 characters, trimmed.
    if !object && !trimmed.contains("<Code>") {
        let want: String = trimmed.chars().take(300).collect();
        assert_eq!(msg, want);
    }
    // S3 XML: the code comes verbatim at the start of the message.
    if !object {
        if let Some(code) = xml_tag(trimmed, "Code") {
            assert!(
                msg.starts_with(code),
                "{msg:?} does not start with the code {code:?}"
            );
        }
    }
});

fn xml_tag<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(&text[start..end])
}
