//! What to upload: a file (streamed at upload time), bytes (copied once) or base64 (decoded once).

use crate::error::{Error, Result};
use crate::media::mime;
use bytes::Bytes;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where an attachment's content lives.
#[derive(Clone, Debug)]
pub enum Source {
    /// A local file, read (and re-read on retry) when uploaded; never loaded whole.
    File(PathBuf),
    /// Content held in memory; `Bytes` so that parts are zero-copy slices.
    Memory(Bytes),
}

/// An immutable attachment; cheap to clone and safe to upload from several threads at once.
#[derive(Clone, Debug)]
pub struct Attachment {
    source: Source,
    file_name: String,
    content_type: String,
    size: u64,
}

impl Attachment {
    /// A file attachment. Checks that `path` is a readable regular file and records its size.
    pub fn from_file(
        path: impl AsRef<Path>,
        file_name: Option<&str>,
        content_type: Option<&str>,
    ) -> Result<Attachment> {
        let path = path.as_ref();
        let shown = path.display();
        let file_name = match file_name {
            Some(name) => validate_file_name(name),
            None => match path.file_name().and_then(|n| n.to_str()) {
                Some(base) => validate_file_name(base),
                None => Err(Error::invalid(format!(
                    "{shown} has no UTF-8 base name; pass file_name"
                ))),
            },
        };
        let cannot_use = |e| Error::io(format!("cannot use {shown}"), &e);
        // Opened only to read the head, when the name says nothing about the type. A file that
        // cannot be used is reported before a bad name.
        let needs_sniff = content_type.is_none_or(|t| t.trim().is_empty())
            && file_name
                .as_ref()
                .is_ok_and(|name| mime::from_file_name(name).is_none());
        let mut head = Vec::new();
        let meta = if needs_sniff {
            let (file, meta) = crate::sys::file_reads::open_regular(path).map_err(cannot_use)?;
            file.take(mime::SNIFF_LEN as u64)
                .read_to_end(&mut head)
                .map_err(|e| Error::io(format!("cannot read {shown}"), &e))?;
            meta
        } else {
            crate::sys::file_reads::check_regular(path).map_err(cannot_use)?
        };
        let file_name = file_name?;
        Ok(Attachment {
            content_type: mime::infer(content_type, &file_name, &head),
            source: Source::File(path.to_path_buf()),
            file_name,
            size: meta.len(),
        })
    }

    /// An attachment from bytes in memory (copied by the caller into `data`). `file_name` is required.
    pub fn from_bytes(
        data: impl Into<Bytes>,
        file_name: &str,
        content_type: Option<&str>,
    ) -> Result<Attachment> {
        let data: Bytes = data.into();
        let file_name = validate_file_name(file_name)?;
        Ok(Attachment {
            content_type: mime::infer(
                content_type,
                &file_name,
                &data[..data.len().min(mime::SNIFF_LEN)],
            ),
            size: data.len() as u64,
            source: Source::Memory(data),
            file_name,
        })
    }

    /// An attachment from base64 text: standard or URL-safe alphabet, padding optional, optionally
    /// prefixed by `data:<mime>;base64,` (whose MIME type is used when `content_type` is absent).
    /// ASCII whitespace (line wrapping) is ignored.
    pub fn from_base64(
        text: &str,
        file_name: &str,
        content_type: Option<&str>,
    ) -> Result<Attachment> {
        let (uri_mime, payload) = split_data_uri(text)?;
        let compact: String = payload
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let data = crate::encoding::decode_base64_lenient(&compact).ok_or_else(|| {
            Error::invalid(
                "malformed base64: expected the standard or URL-safe alphabet, padding optional",
            )
        })?;
        let explicit = content_type.filter(|t| !t.trim().is_empty()).or(uri_mime);
        Attachment::from_bytes(data, file_name, explicit)
    }

    /// An attachment with known parts (the outbox rebuilds attachments from its records).
    pub(crate) fn from_parts(
        source: Source,
        file_name: String,
        content_type: String,
        size: u64,
    ) -> Attachment {
        Attachment {
            source,
            file_name,
            content_type,
            size,
        }
    }

    /// The same attachment, read from elsewhere.
    pub(crate) fn with_source(&self, source: Source, size: u64) -> Attachment {
        Attachment {
            source,
            size,
            ..self.clone()
        }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }
    pub fn file_name(&self) -> &str {
        &self.file_name
    }
    pub fn content_type(&self) -> &str {
        &self.content_type
    }
    /// Size when the attachment was created. A file is measured again when an upload starts.
    pub fn size(&self) -> u64 {
        self.size
    }
}

fn validate_file_name(name: &str) -> Result<String> {
    if name.trim().is_empty() {
        return Err(Error::invalid("file_name must not be empty"));
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "file_name {name:?} must be a plain name without path separators or control characters"
        )));
    }
    Ok(name.to_owned())
}

/// Splits `data:<mime>;base64,<payload>` into the MIME type and the payload.
fn split_data_uri(text: &str) -> Result<(Option<&str>, &str)> {
    let trimmed = text.trim_start();
    // `get` and not `[..5]`: byte 5 may fall inside a character of non-ASCII text.
    if !trimmed
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
    {
        return Ok((None, text));
    }
    let (header, payload) = trimmed[5..]
        .split_once(',')
        .ok_or_else(|| Error::invalid("malformed data: URI: no ',' before the payload"))?;
    let mut params = header.split(';');
    let mime = params.next().map(str::trim).filter(|m| !m.is_empty());
    if !params.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return Err(Error::invalid(
            "data: URI is not base64-encoded (missing ';base64')",
        ));
    }
    Ok((mime, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe";

    #[test]
    fn text_with_a_character_across_byte_five_is_refused_not_a_panic() {
        // Found by the base64_attachment fuzz target (fuzz/regressions/base64_attachment).
        for text in ["abcd\u{e9}xyz", "\u{1F600}\u{1F600}", "dat\u{e9}:,"] {
            let e = Attachment::from_base64(text, "x.bin", None).unwrap_err();
            assert_eq!(e.status, Status::InvalidArgument, "{text:?}");
        }
    }

    #[test]
    fn base64_forms_decode_to_the_same_bytes() {
        use base64::Engine;
        let std_pad = base64::engine::general_purpose::STANDARD.encode(PNG);
        let std_nopad = std_pad.trim_end_matches('=').to_string();
        let url = base64::engine::general_purpose::URL_SAFE.encode(PNG);
        let url_nopad = url.trim_end_matches('=').to_string();
        assert_ne!(
            std_pad, url,
            "the sample must exercise the alphabet difference"
        );
        let wrapped = format!("{}\n{}", &std_pad[..8], &std_pad[8..]);
        let data_uri = format!("data:image/png;base64,{std_pad}");
        for text in [&std_pad, &std_nopad, &url, &url_nopad, &wrapped, &data_uri] {
            let a = Attachment::from_base64(text, "x", None).unwrap();
            match a.source() {
                Source::Memory(b) => assert_eq!(&b[..], PNG, "{text}"),
                _ => unreachable!(),
            }
            assert_eq!(
                a.content_type(),
                "image/png",
                "sniffed or from the data: URI"
            );
        }
    }

    #[test]
    fn data_uri_mime_is_used_unless_explicit() {
        let a = Attachment::from_base64("data:text/markdown;base64,IyBoaQ==", "n", None).unwrap();
        assert_eq!(a.content_type(), "text/markdown");
        let a = Attachment::from_base64(
            "data:text/markdown;base64,IyBoaQ==",
            "n",
            Some("text/plain"),
        )
        .unwrap();
        assert_eq!(a.content_type(), "text/plain");
        assert_eq!(a.size(), 4);
    }

    #[test]
    fn malformed_base64_is_invalid_argument() {
        for bad in [
            "not base64!",
            "QUJD$",
            "data:image/png,QUJD",
            "data:image/png;base64",
            "A",
        ] {
            let e = Attachment::from_base64(bad, "x", None).unwrap_err();
            assert_eq!(e.status, Status::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn empty_base64_is_a_valid_zero_byte_attachment() {
        let a = Attachment::from_base64("", "empty.bin", None).unwrap();
        assert_eq!(a.size(), 0);
    }

    #[test]
    fn file_name_rules() {
        assert_eq!(
            Attachment::from_bytes(&b"x"[..], "", None)
                .unwrap_err()
                .status,
            Status::InvalidArgument
        );
        assert_eq!(
            Attachment::from_bytes(&b"x"[..], "a/b", None)
                .unwrap_err()
                .status,
            Status::InvalidArgument
        );
        let dir = std::env::temp_dir().join(format!("opik-att-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.pdf");
        std::fs::write(&path, b"%PDF-1.4 hello").unwrap();
        let a = Attachment::from_file(&path, None, None).unwrap();
        assert_eq!(
            (a.file_name(), a.content_type(), a.size()),
            ("report.pdf", "application/pdf", 14)
        );
        let noext = dir.join("noext");
        std::fs::write(&noext, PNG).unwrap();
        let a = Attachment::from_file(&noext, Some("shown.name"), None).unwrap();
        assert_eq!(a.file_name(), "shown.name");
        assert_eq!(a.content_type(), "image/png", "no known extension: sniffed");
        let e = Attachment::from_file(dir.join("missing"), None, None).unwrap_err();
        assert_eq!(e.status, Status::Io);
        assert!(e.message.contains("missing"), "{}", e.message);
        assert_eq!(
            Attachment::from_file(&dir, None, None).unwrap_err().status,
            Status::Io
        );
    }
}
