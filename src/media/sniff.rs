//! The official Python SDK's content sniffing for embedded base64 media
//! (`decoder_helpers.detect_mime_type`, opik-protocol.md §8.4), decision for decision. It differs
//! from [`super::mime::sniff`] (which types user files): JPEG needs its end marker, `<svg` counts
//! anywhere in the first 1024 bytes, JSON is judged on the first 100 bytes only, and there is no
//! WAV, WebM or Ogg. The extractor must make the SDK's decisions, so it has this table of its own.

/// The type the SDK's extractor gives `data`; `application/octet-stream` when it knows none.
pub fn sdk_mime(data: &[u8]) -> &'static str {
    if data.len() < 4 {
        return super::mime::OCTET_STREAM;
    }
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        return "image/png";
    }
    // A JPEG header without the end marker falls through to the checks below (the SDK's rule:
    // only an intact file is a JPEG).
    if data.starts_with(b"\xff\xd8\xff") && data.ends_with(b"\xff\xd9") {
        return "image/jpeg";
    }
    if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        return "image/gif";
    }
    if data.starts_with(b"RIFF") && data.get(8..12) == Some(b"WEBP") {
        return "image/webp";
    }
    if data.starts_with(b"%PDF") {
        return "application/pdf";
    }
    if contains_svg_tag(&data[..data.len().min(1024)]) {
        return "image/svg+xml";
    }
    if data.len() >= 12 && &data[4..8] == b"ftyp" {
        return "video/mp4";
    }
    if starts_like_json(&data[..data.len().min(100)]) {
        return "application/json";
    }
    super::mime::OCTET_STREAM
}

/// The SDK's file extension for a type it sniffs (Python's `mimetypes.guess_extension`, with
/// `jpg` for JPEG); `bin` for anything else.
pub fn sdk_extension(mime: &str) -> &'static str {
    match mime {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        "image/svg+xml" => "svg",
        "video/mp4" => "mp4",
        "application/json" => "json",
        _ => "bin",
    }
}

/// Python: `"<svg" in head.decode("utf-8", errors="ignore").lower()`. Invalid sequences are
/// dropped, so the valid pieces are joined before searching (`<s\xffvg` contains `<svg`). Only
/// ASCII letters lower-case to `s`, `v` and `g`, so ASCII case folding is the same test.
fn contains_svg_tag(head: &[u8]) -> bool {
    const TAG: &[u8] = b"<svg";
    // How much of TAG the text seen so far ends with (a tiny matcher: TAG has no self-overlap).
    let mut matched = 0;
    for chunk in head.utf8_chunks() {
        for &b in chunk.valid().as_bytes() {
            let b = b.to_ascii_lowercase();
            if b == TAG[matched] {
                matched += 1;
                if matched == TAG.len() {
                    return true;
                }
            } else {
                matched = usize::from(b == TAG[0]);
            }
        }
    }
    false
}

/// Python: `head.decode("utf-8", errors="strict").strip()` starts with `{` or `[`. A character
/// cut at byte 100 makes the strict decode fail, so the answer is no. `str.strip()` removes what
/// `str.isspace()` accepts: Unicode White_Space plus the separators U+001C..U+001F.
fn starts_like_json(head: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(head) else {
        return false;
    };
    let trimmed =
        text.trim_start_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c));
    trimmed.starts_with('{') || trimmed.starts_with('[')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_order_and_rules() {
        let cases: &[(&[u8], &str)] = &[
            (b"\x89PNG\r\n\x1a\nrest", "image/png"),
            (b"\xff\xd8\xff\xe0....\xff\xd9", "image/jpeg"),
            (b"\xff\xd8\xff\xe0....", "application/octet-stream"),
            (b"\xff\xd8\xff\xe0<svg", "image/svg+xml"),
            (b"GIF87a..", "image/gif"),
            (b"GIF89a..", "image/gif"),
            (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
            (b"RIFF\0\0\0\0WAVEfmt ", "application/octet-stream"),
            (b"%PDF-1.7", "application/pdf"),
            (b"<?xml?><SVG xmlns", "image/svg+xml"),
            (b"xx<s\xffvg", "image/svg+xml"),
            (b"\0\0\0\x18ftypmp42", "video/mp4"),
            (b"\0\0\0\x18ftyp", "application/octet-stream"),
            (b"\x1c\xe2\x80\x83 {\"a\":1}", "application/json"),
            (b"[1, 2]", "application/json"),
            (b"[1]", "application/octet-stream"),
            (b"abc", "application/octet-stream"),
            (b"plain text", "application/octet-stream"),
        ];
        for (data, want) in cases {
            assert_eq!(sdk_mime(data), *want, "{data:?}");
        }
    }

    #[test]
    fn svg_tag_only_in_the_first_1024_bytes() {
        let mut late = vec![b'x'; 1021];
        late.extend_from_slice(b"<svg");
        assert_eq!(sdk_mime(&late), "application/octet-stream");
        late.remove(0);
        assert_eq!(sdk_mime(&late), "image/svg+xml");
    }

    #[test]
    fn json_needs_whole_characters_in_the_first_100_bytes() {
        let mut text = b"{".to_vec();
        text.extend(std::iter::repeat_n(b'a', 98));
        text.extend_from_slice("é".as_bytes()); // bytes 99 and 100: cut at 100
        assert_eq!(sdk_mime(&text), "application/octet-stream");
        text.remove(1);
        assert_eq!(sdk_mime(&text), "application/json");
    }
}
