//! Content-type inference: the file name's extension first, then magic bytes, then
//! `application/octet-stream`.

pub const OCTET_STREAM: &str = "application/octet-stream";

/// How many leading bytes `sniff` looks at.
pub const SNIFF_LEN: usize = 1024;

/// The MIME type for a file name's extension, if it has a well-known one.
pub fn from_file_name(file_name: &str) -> Option<String> {
    let ext = std::path::Path::new(file_name)
        .extension()?
        .to_str()?
        .to_ascii_lowercase();
    // Opik previews these types; prefer the spellings its UI recognises.
    let preferred = match ext.as_str() {
        "wav" => Some("audio/wav"),
        "md" | "markdown" => Some("text/markdown"),
        "ogg" | "oga" => Some("audio/ogg"),
        "webm" => Some("video/webm"),
        "webp" => Some("image/webp"),
        "json" => Some("application/json"),
        _ => None,
    };
    if let Some(p) = preferred {
        return Some(p.to_owned());
    }
    mime_guess::from_ext(&ext).first_raw().map(str::to_owned)
}

/// The MIME type that the leading bytes of a file announce, if any.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    let starts = |sig: &[u8]| head.starts_with(sig);
    let at = |offset: usize, sig: &[u8]| {
        head.len() >= offset + sig.len() && &head[offset..offset + sig.len()] == sig
    };
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if starts(b"\xFF\xD8\xFF") {
        return Some("image/jpeg");
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Some("image/gif");
    }
    if starts(b"RIFF") && at(8, b"WEBP") {
        return Some("image/webp");
    }
    if starts(b"RIFF") && at(8, b"WAVE") {
        return Some("audio/wav");
    }
    if starts(b"%PDF-") {
        return Some("application/pdf");
    }
    if at(4, b"ftyp") {
        return Some("video/mp4");
    }
    if starts(b"\x1A\x45\xDF\xA3") {
        return Some("video/webm");
    }
    if starts(b"OggS") {
        return Some("audio/ogg");
    }
    let window = &head[..head.len().min(SNIFF_LEN)];
    let text = match std::str::from_utf8(window) {
        Ok(t) => t,
        // A multi-byte character cut by the window is still text.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&window[..e.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return Some("application/json");
    }
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("<svg")
        || ((lower.starts_with("<?xml") || lower.starts_with("<!doctype svg"))
            && lower.contains("<svg"))
    {
        return Some("image/svg+xml");
    }
    None
}

/// Applies the contract's rule: explicit, then extension, then magic bytes, then octet-stream.
pub fn infer(explicit: Option<&str>, file_name: &str, head: &[u8]) -> String {
    if let Some(t) = explicit.map(str::trim).filter(|t| !t.is_empty()) {
        return t.to_owned();
    }
    from_file_name(file_name)
        .or_else(|| sniff(head).map(str::to_owned))
        .unwrap_or_else(|| OCTET_STREAM.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_wins_over_content() {
        assert_eq!(infer(None, "photo.png", b"%PDF-1.4"), "image/png");
        assert_eq!(infer(None, "a.JPG", b""), "image/jpeg");
        assert_eq!(infer(None, "clip.mp4", b""), "video/mp4");
        assert_eq!(infer(None, "notes.md", b""), "text/markdown");
        assert_eq!(infer(None, "sound.wav", b""), "audio/wav");
        assert_eq!(infer(None, "doc.pdf", b""), "application/pdf");
        assert_eq!(infer(None, "data.json", b""), "application/json");
        assert_eq!(infer(None, "log.txt", b""), "text/plain");
    }

    #[test]
    fn explicit_wins_over_everything() {
        assert_eq!(
            infer(Some("image/x-custom"), "photo.png", b"\x89PNG\r\n\x1a\n"),
            "image/x-custom"
        );
        assert_eq!(
            infer(Some("  "), "photo.png", b""),
            "image/png",
            "blank counts as not given"
        );
    }

    #[test]
    fn magic_bytes_when_no_extension() {
        let cases: &[(&[u8], &str)] = &[
            (b"\x89PNG\r\n\x1a\n\0\0", "image/png"),
            (b"\xFF\xD8\xFF\xE0\0\x10JFIF", "image/jpeg"),
            (b"GIF89a\x01\0", "image/gif"),
            (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
            (b"RIFF\0\0\0\0WAVEfmt ", "audio/wav"),
            (b"%PDF-1.7\n", "application/pdf"),
            (b"\0\0\0\x18ftypmp42", "video/mp4"),
            (b"\x1A\x45\xDF\xA3\x01", "video/webm"),
            (b"OggS\0\x02", "audio/ogg"),
            (b"  {\"a\": 1}", "application/json"),
            (b"[1,2]", "application/json"),
            (
                b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
                "image/svg+xml",
            ),
            (b"<?xml version=\"1.0\"?>\n<svg/>", "image/svg+xml"),
        ];
        for (head, want) in cases {
            assert_eq!(infer(None, "noext", head), *want, "{head:?}");
        }
    }

    #[test]
    fn unknown_falls_back_to_octet_stream() {
        assert_eq!(infer(None, "blob", b"\x00\x01\x02\x03"), OCTET_STREAM);
        assert_eq!(infer(None, "blob", b""), OCTET_STREAM);
        assert_eq!(infer(None, "blob", b"plain text"), OCTET_STREAM);
        assert_eq!(infer(None, "blob.unknownext123", b""), OCTET_STREAM);
    }
}
