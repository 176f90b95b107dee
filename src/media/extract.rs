//! Embedded media: base64 blobs inside JSON strings become attachments, the way the official
//! Python SDK's `AttachmentsExtractor` does it (opik-protocol.md §8.1, api.md "Embedded media"),
//! decision for decision, in one pass over the text.
//!
//! The SDK parses the JSON, then searches every string value (not keys) of at least `min_chars`
//! characters with the regular expression
//! `(data:[^,]*;base64,)?(?:[A-Za-z0-9+/]{4}){N,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?`,
//! `N = min_chars / 4`, decodes each match, sniffs its type ([`super::sniff`]) and replaces the
//! whole match (data: prefix included) by `[<file name>]` unless the type is unknown,
//! `application/octet-stream` or `text/plain`. A skipped match still consumes its text.
//!
//! Here the JSON text is checked and walked once, without building a tree: a string too short to
//! hold a match is passed over; a longer one is searched in place (escapes are decoded into a
//! buffer of that string only, which plain base64 never needs); each match is decoded straight
//! into the attachment's bytes. The rewritten text copies the input between replacements as it
//! was written (escapes, spacing, number spellings kept). Time and memory are linear in the size of
//! the text: the search caches the next comma and the current base64 run, so no position is
//! examined more than a bounded number of times.

use crate::error::{Error, Result};
use crate::media::attachment::Attachment;
use crate::media::sniff;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// The SDKs' default threshold, in base64 characters.
pub const DEFAULT_MIN_CHARS: usize = 256_000;

/// What [`extract`] found: the rewritten JSON and the attachments, in the order of their
/// placeholders in the text.
#[derive(Clone, Debug)]
pub struct Extraction {
    json: String,
    attachments: Vec<Attachment>,
}

impl Extraction {
    /// The JSON with each extracted run replaced by `[<file name>]`.
    pub fn json(&self) -> &str {
        &self.json
    }
    /// The attachments, in text order; each file name is the one in its placeholder.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }
    /// Both parts, without copying.
    pub fn into_parts(self) -> (String, Vec<Attachment>) {
        (self.json, self.attachments)
    }
}

/// Finds base64 media of at least `min_chars` characters in the string values of `json` and
/// moves it into attachments named `<context>-attachment-<n>-<unix-ms>-sdk.<ext>` (`n` random in
/// 1..=99,999,999). `context` is `input`, `output` or `metadata`. Text that is not JSON is an
/// invalid argument naming the line and column of the problem.
pub fn extract(json: &str, context: &str, min_chars: usize) -> Result<Extraction> {
    let context = match context {
        "input" => "input",
        "output" => "output",
        "metadata" => "metadata",
        other => {
            return Err(Error::invalid(format!(
                "context {other:?} is not one of \"input\", \"output\", \"metadata\""
            )))
        }
    };
    extract_with(json, min_chars, &mut |ext| file_name(context, ext))
}

/// [`extract`] with the file names made by `name` (given the extension). For tests and fuzzing.
#[doc(hidden)]
pub fn extract_with(
    json: &str,
    min_chars: usize,
    name: &mut dyn FnMut(&'static str) -> String,
) -> Result<Extraction> {
    let mut walker = Walker {
        src: json.as_bytes(),
        min_chars,
        groups: min_chars / 4,
        out: Vec::new(),
        copied: 0,
        attachments: Vec::new(),
        name,
        scratch: Vec::new(),
        escapes: Vec::new(),
    };
    walker.walk()?;
    let Walker {
        mut out,
        copied,
        attachments,
        ..
    } = walker;
    let json = if attachments.is_empty() {
        json.to_owned()
    } else {
        out.extend_from_slice(&json.as_bytes()[copied..]);
        // Only whole ASCII runs were replaced by ASCII, between character boundaries.
        String::from_utf8(out).map_err(|_| Error::internal("extraction broke UTF-8"))?
    };
    Ok(Extraction { json, attachments })
}

/// `<context>-attachment-<n>-<unix-ms>-sdk.<ext>`, as the SDK names them.
pub fn file_name(context: &str, ext: &str) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    // 62 random bits of a UUIDv7 (its rand_b field).
    let bytes = uuid::Uuid::now_v7().into_bytes();
    let mut random = [0u8; 8];
    random.copy_from_slice(&bytes[8..16]);
    let n = (u64::from_be_bytes(random) & ((1 << 62) - 1)) % 99_999_999 + 1;
    format!("{context}-attachment-{n}-{ms}-sdk.{ext}")
}

/// Strict standard-alphabet decoding as Python's `b64decode(validate=True)`: padding as matched,
/// non-zero trailing bits accepted (Python does not check them).
const DECODER: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Byte classes: the standard base64 alphabet.
static IS_B64: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
        c += 1;
    }
    t
};

struct Walker<'a, 'n> {
    src: &'a [u8],
    min_chars: usize,
    groups: usize,
    /// The rewritten text up to `copied` (only used once something was extracted).
    out: Vec<u8>,
    copied: usize,
    attachments: Vec<Attachment>,
    name: &'n mut dyn FnMut(&'static str) -> String,
    /// A string with escapes, decoded (reused).
    scratch: Vec<u8>,
    /// For each escape in `scratch`: (decoded offset after it, raw offset after it).
    escapes: Vec<(usize, usize)>,
}

/// A string's body `[start, end)` (without quotes) and what it holds.
struct Body {
    start: usize,
    end: usize,
    escaped: bool,
    non_ascii: bool,
}

#[derive(Clone, Copy)]
enum State {
    Value,
    /// An object key (after `{` or `,`).
    Key,
    AfterValue,
}

const HI: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

/// Whether any byte of `w` is zero (exact as an any-test).
fn has_zero(w: u64) -> bool {
    w.wrapping_sub(ONES) & !w & HI != 0
}

impl Walker<'_, '_> {
    fn walk(&mut self) -> Result<()> {
        let src = self.src;
        let mut stack: Vec<u8> = Vec::new();
        let mut i = 0;
        let mut state = State::Value;
        loop {
            i = skip_ws(src, i);
            match state {
                State::Value => {
                    match src.get(i) {
                        None => return Err(self.error(i, "EOF while parsing a value")),
                        Some(b'{') => {
                            i = skip_ws(src, i + 1);
                            if src.get(i) == Some(&b'}') {
                                i += 1;
                                state = State::AfterValue;
                            } else {
                                stack.push(b'{');
                                state = State::Key;
                            }
                            continue;
                        }
                        Some(b'[') => {
                            i = skip_ws(src, i + 1);
                            if src.get(i) == Some(&b']') {
                                i += 1;
                                state = State::AfterValue;
                            } else {
                                stack.push(b'[');
                            }
                            continue;
                        }
                        Some(b'"') => {
                            let body = self.string(i + 1)?;
                            i = body.end + 1;
                            self.search(&body);
                        }
                        Some(b't') => i = self.literal(i, b"true")?,
                        Some(b'f') => i = self.literal(i, b"false")?,
                        Some(b'n') => i = self.literal(i, b"null")?,
                        Some(b'-' | b'0'..=b'9') => i = self.number(i)?,
                        Some(_) => return Err(self.error(i, "expected value")),
                    }
                    state = State::AfterValue;
                }
                State::Key => {
                    match src.get(i) {
                        Some(b'"') => {}
                        None => return Err(self.error(i, "EOF while parsing an object")),
                        Some(b'}') => return Err(self.error(i, "trailing comma")),
                        Some(_) => return Err(self.error(i, "key must be a string")),
                    }
                    i = self.string(i + 1)?.end + 1;
                    i = skip_ws(src, i);
                    match src.get(i) {
                        Some(b':') => i += 1,
                        None => return Err(self.error(i, "EOF while parsing an object")),
                        Some(_) => return Err(self.error(i, "expected `:`")),
                    }
                    state = State::Value;
                }
                State::AfterValue => match (stack.last().copied(), src.get(i).copied()) {
                    (None, None) => return Ok(()),
                    (None, Some(_)) => return Err(self.error(i, "trailing characters")),
                    (Some(open), Some(b',')) => {
                        i += 1;
                        if open == b'{' {
                            state = State::Key;
                        } else {
                            i = skip_ws(src, i);
                            if src.get(i) == Some(&b']') {
                                return Err(self.error(i, "trailing comma"));
                            }
                            state = State::Value;
                        }
                    }
                    (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']')) => {
                        i += 1;
                        stack.pop();
                    }
                    (Some(b'{'), None) => return Err(self.error(i, "EOF while parsing an object")),
                    (Some(_), None) => return Err(self.error(i, "EOF while parsing a list")),
                    (Some(b'{'), Some(_)) => return Err(self.error(i, "expected `,` or `}`")),
                    (Some(_), Some(_)) => return Err(self.error(i, "expected `,` or `]`")),
                },
            }
        }
    }

    /// The error at byte `at`, with serde_json's line and 1-based column (in bytes).
    fn error(&self, at: usize, what: &str) -> Error {
        let at = at.min(self.src.len());
        let before = &self.src[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = at
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1)
            + 1;
        Error::invalid(format!(
            "json is not JSON: {what} at line {line}, column {column}"
        ))
    }

    fn literal(&self, i: usize, word: &[u8]) -> Result<usize> {
        for (k, &c) in word.iter().enumerate() {
            match self.src.get(i + k) {
                Some(&b) if b == c => {}
                None => return Err(self.error(i + k, "EOF while parsing a value")),
                Some(_) => return Err(self.error(i + k, "expected ident")),
            }
        }
        Ok(i + word.len())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&self, mut i: usize) -> Result<usize> {
        let src = self.src;
        let digits = |mut i: usize| {
            while src.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        if src[i] == b'-' {
            i += 1;
        }
        match src.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits(i),
            None => return Err(self.error(i, "EOF while parsing a value")),
            Some(_) => return Err(self.error(i, "invalid number")),
        }
        if src.get(i) == Some(&b'.') {
            i += 1;
            if !src.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(self.error(i, "invalid number"));
            }
            i = digits(i);
        }
        if matches!(src.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(src.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !src.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(self.error(i, "invalid number"));
            }
            i = digits(i);
        }
        Ok(i)
    }

    /// Checks a string whose body starts at `start` (after the quote); its `end` is the closing
    /// quote. Eight bytes at a time while none is a quote, a backslash or a control character.
    fn string(&self, start: usize) -> Result<Body> {
        let src = self.src;
        let n = src.len();
        let mut j = start;
        let mut high = 0u64;
        let mut escaped = false;
        loop {
            let (to, seen) = simd::plain_prefix(&src[j..]);
            j += to;
            high |= seen;
            while j + 8 <= n {
                let mut w = [0u8; 8];
                w.copy_from_slice(&src[j..j + 8]);
                let w = u64::from_le_bytes(w);
                let control = w.wrapping_sub(0x2020_2020_2020_2020) & !w & HI != 0;
                if control
                    || has_zero(w ^ (ONES * u64::from(b'"')))
                    || has_zero(w ^ (ONES * u64::from(b'\\')))
                {
                    break;
                }
                high |= w;
                j += 8;
            }
            let stop = (j + 8).min(n);
            while j < stop {
                match src[j] {
                    b'"' => {
                        return Ok(Body {
                            start,
                            end: j,
                            escaped,
                            non_ascii: escaped || high & HI != 0,
                        })
                    }
                    b'\\' => {
                        escaped = true;
                        match src.get(j + 1) {
                            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 2,
                            Some(b'u') => {
                                for k in j + 2..j + 6 {
                                    match src.get(k) {
                                        Some(h) if h.is_ascii_hexdigit() => {}
                                        None => {
                                            return Err(self.error(k, "EOF while parsing a string"))
                                        }
                                        Some(_) => return Err(self.error(k, "invalid escape")),
                                    }
                                }
                                j += 6;
                            }
                            None => return Err(self.error(j + 1, "EOF while parsing a string")),
                            Some(_) => return Err(self.error(j + 1, "invalid escape")),
                        }
                    }
                    c if c < 0x20 => {
                        return Err(self.error(
                            j,
                            "control character (\\u0000-\\u001F) found while parsing a string",
                        ))
                    }
                    c => {
                        high |= u64::from(c);
                        j += 1;
                    }
                }
            }
            if j >= n {
                return Err(self.error(n, "EOF while parsing a string"));
            }
        }
    }

    /// Searches one string value and extracts what the SDK would.
    fn search(&mut self, body: &Body) {
        let raw_len = body.end - body.start;
        // A string has at most as many characters as bytes: most are passed over here.
        if raw_len < self.min_chars || raw_len == 0 {
            return;
        }
        if !body.escaped {
            let text = &self.src[body.start..body.end];
            if body.non_ascii && chars(text) < self.min_chars {
                return;
            }
            let mut found = Vec::new();
            find_matches(text, self.groups, |m| found.push(m));
            for (at, b64, end) in found {
                let bytes = decode(&self.src[body.start + b64..body.start + end]);
                self.accept(bytes, body.start + at, body.start + end);
            }
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut escapes = std::mem::take(&mut self.escapes);
        let count = unescape(&self.src[body.start..body.end], &mut scratch, &mut escapes);
        if count >= self.min_chars {
            let raw = |dec: usize| {
                let k = escapes.partition_point(|&(d, _)| d <= dec);
                body.start
                    + if k == 0 {
                        dec
                    } else {
                        let (d, r) = escapes[k - 1];
                        r + (dec - d)
                    }
            };
            let mut found = Vec::new();
            find_matches(&scratch, self.groups, |m| found.push(m));
            for (at, b64, end) in found {
                // Decoded from the scratch copy, replaced in the raw text.
                let bytes = decode(&scratch[b64..end]);
                self.accept(bytes, raw(at), raw(end));
            }
        }
        self.scratch = scratch;
        self.escapes = escapes;
    }

    fn accept(&mut self, bytes: Option<Vec<u8>>, rs: usize, re: usize) {
        let Some(bytes) = bytes else { return };
        let mime = sniff::sdk_mime(&bytes);
        if mime == super::mime::OCTET_STREAM || mime == "text/plain" {
            return;
        }
        let name = (self.name)(sniff::sdk_extension(mime));
        let Ok(attachment) = Attachment::from_bytes(bytes, &name, Some(mime)) else {
            return;
        };
        if self.out.is_empty() {
            self.out.reserve(self.src.len() / 4);
        }
        self.out.extend_from_slice(&self.src[self.copied..rs]);
        self.out.push(b'[');
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b']');
        self.copied = re;
        self.attachments.push(attachment);
    }
}

/// Decodes a match: whole groups of the alphabet, the last one possibly padded. Sixteen
/// characters at a time where SSSE3 is there (they are known to be alphabet), the rest strictly.
fn decode(b64: &[u8]) -> Option<Vec<u8>> {
    let whole = if b64.ends_with(b"=") {
        b64.len().saturating_sub(4)
    } else {
        b64.len()
    };
    let mut out = Vec::with_capacity(b64.len() / 4 * 3 + 16);
    let done = simd::decode_alphabet(&b64[..whole], &mut out);
    DECODER.decode_vec(&b64[done..], &mut out).ok()?;
    Some(out)
}

fn skip_ws(src: &[u8], mut i: usize) -> usize {
    while matches!(src.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Characters (code points) of UTF-8 text.
fn chars(text: &[u8]) -> usize {
    text.iter().filter(|&&b| (b as i8) >= -0x40).count()
}

/// Decodes a checked string body into `out` (UTF-8; an unpaired surrogate escape as its 3-byte
/// form, which is never base64), recording after each escape its decoded and raw offsets.
/// Returns the number of characters as Python counts them (a surrogate pair is one).
fn unescape(raw: &[u8], out: &mut Vec<u8>, escapes: &mut Vec<(usize, usize)>) -> usize {
    out.clear();
    escapes.clear();
    let hex = |at: usize| -> u32 {
        raw[at..at + 4]
            .iter()
            .fold(0, |v, &h| v * 16 + (h as char).to_digit(16).unwrap_or(0))
    };
    let mut count = 0;
    let mut j = 0;
    while j < raw.len() {
        let c = raw[j];
        if c != b'\\' {
            if (c as i8) >= -0x40 {
                count += 1;
            }
            out.push(c);
            j += 1;
            continue;
        }
        count += 1;
        let simple = match raw[j + 1] {
            b'b' => Some(b'\x08'),
            b'f' => Some(b'\x0c'),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            other => Some(other),
        };
        if let Some(c) = simple {
            out.push(c);
            j += 2;
        } else {
            let mut code = hex(j + 2);
            j += 6;
            if (0xD800..0xDC00).contains(&code)
                && raw.get(j) == Some(&b'\\')
                && raw.get(j + 1) == Some(&b'u')
            {
                let low = hex(j + 2);
                if (0xDC00..0xE000).contains(&low) {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    j += 6;
                }
            }
            push_code_point(out, code);
        }
        escapes.push((out.len(), j));
    }
    count
}

/// UTF-8 encoding extended to surrogates (WTF-8).
fn push_code_point(out: &mut Vec<u8>, c: u32) {
    if c < 0x80 {
        out.push(c as u8);
    } else if c < 0x800 {
        out.extend_from_slice(&[0xC0 | (c >> 6) as u8, 0x80 | (c & 0x3F) as u8]);
    } else if c < 0x10000 {
        out.extend_from_slice(&[
            0xE0 | (c >> 12) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            0xF0 | (c >> 18) as u8,
            0x80 | ((c >> 12) & 0x3F) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ]);
    }
}

/// The end of the base64 part of the SDK's pattern at `r`, where a run of `len` alphabet
/// characters starts: as many whole groups of four as the run has (at least `groups`, else no
/// match), then `xx==` or `xxx=` when exactly that follows. The regex never gives groups back.
fn base64_end(s: &[u8], r: usize, len: usize, groups: usize) -> Option<usize> {
    let whole = len / 4;
    if whole < groups {
        return None;
    }
    let e = r + 4 * whole;
    let tail = match len % 4 {
        2 if s.get(e + 2) == Some(&b'=') && s.get(e + 3) == Some(&b'=') => 4,
        3 if s.get(e + 3) == Some(&b'=') => 4,
        _ => 0,
    };
    Some(e + tail)
}

/// Calls `found(start, base64_start, end)` for each match of the SDK's pattern in `s`, in order,
/// as Python's `finditer` finds them (leftmost, then from the end of the previous match).
/// Linear: the first comma after a position and the current run of alphabet characters are
/// remembered, so "data:" prefixes that share a comma or a run cost O(1) each.
pub(crate) fn find_matches(s: &[u8], groups: usize, mut found: impl FnMut((usize, usize, usize))) {
    let n = s.len();
    // The first comma at or after `comma_from` (None: there is none).
    let mut comma_from = 0;
    let mut comma: Option<usize> = s.iter().position(|&c| c == b',');
    let mut next_comma = |from: usize| -> Option<usize> {
        debug_assert!(from >= comma_from);
        comma_from = from;
        match comma {
            Some(q) if q < from => {
                comma = s[from..].iter().position(|&c| c == b',').map(|k| from + k);
            }
            _ => {}
        }
        comma
    };
    // The run of alphabet characters that ends at `run_end` and contains the positions asked.
    let mut run_start = usize::MAX;
    let mut run_end = 0;
    let mut run_len = |at: usize| -> usize {
        if !(run_start <= at && at <= run_end) {
            run_start = at;
            run_end = at + alphabet_run(&s[at..]);
        }
        run_end - at
    };
    let mut prefix_run: Option<(usize, usize)> = None;
    let mut p = 0;
    while p < n {
        let c = s[p];
        if c == b'd' && s[p..].starts_with(b"data:") {
            if let Some(q) = next_comma(p + 5) {
                if q >= p + 12 && &s[q - 7..q] == b";base64" {
                    let r = q + 1;
                    // Prefixes that share this comma share the run after it: measured once.
                    let len = match prefix_run {
                        Some((at, len)) if at == r => len,
                        _ => {
                            let len = alphabet_run(&s[r..]);
                            prefix_run = Some((r, len));
                            len
                        }
                    };
                    if let Some(e) = base64_end(s, r, len, groups) {
                        found((p, r, e));
                        p = e;
                        continue;
                    }
                }
            }
        }
        if IS_B64[c as usize] {
            let len = run_len(p);
            match base64_end(s, p, len, groups) {
                Some(e) if e > p => {
                    found((p, p, e));
                    p = e;
                }
                // An empty match (no groups asked, none there): Python moves on by one.
                Some(_) => p += 1,
                None => {
                    // No later start inside this run matches (its runs are shorter), except a
                    // "data:" whose "data" ends the run.
                    let end = p + len;
                    p = if end >= p + 5 && s[end - 4..].starts_with(b"data:") {
                        end - 4
                    } else {
                        end
                    };
                }
            }
            continue;
        }
        p += 1;
    }
}

/// The length of the run of standard-alphabet characters at the start of `s`.
fn alphabet_run(s: &[u8]) -> usize {
    let mut k = simd::alphabet_prefix(s);
    // Eight at a time: a chunk is all alphabet when every byte is.
    while k + 8 <= s.len() {
        if !s[k..k + 8].iter().all(|&b| IS_B64[b as usize]) {
            break;
        }
        k += 8;
    }
    while k < s.len() && IS_B64[s[k] as usize] {
        k += 1;
    }
    k
}

/// Sixteen bytes at a time where SSE2 is there (every x86-64); elsewhere the callers' scalar
/// loops do all the work.
mod simd {
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::*;

    /// How many leading bytes of `s` are neither a quote, a backslash nor a control character
    /// (a multiple of 16, or the exact count up to a special byte), and the OR of the bytes looked
    /// at (bit 7 set when any was non-ASCII; bytes after a special one may be included).
    #[cfg(target_arch = "x86_64")]
    pub(super) fn plain_prefix(s: &[u8]) -> (usize, u64) {
        let mut k = 0;
        let mut high = 0i32;
        // SAFETY: SSE2 is part of the x86-64 baseline; every load reads 16 bytes inside `s`
        // (k + 16 <= s.len()), unaligned loads allowed.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let control_max = _mm_set1_epi8(0x1f);
            let zero = _mm_setzero_si128();
            while k + 16 <= s.len() {
                let v = _mm_loadu_si128(s.as_ptr().add(k).cast());
                // A byte <= 0x1f saturates to zero when 0x1f is subtracted.
                let control = _mm_cmpeq_epi8(_mm_subs_epu8(v, control_max), zero);
                let special = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                    control,
                );
                high |= _mm_movemask_epi8(v);
                let mask = _mm_movemask_epi8(special);
                if mask != 0 {
                    return (
                        k + mask.trailing_zeros() as usize,
                        if high != 0 { 0x80 } else { 0 },
                    );
                }
                k += 16;
            }
        }
        (k, if high != 0 { 0x80 } else { 0 })
    }

    /// How many leading bytes of `s` are in the standard base64 alphabet (a multiple of 16, or
    /// the exact count up to the first other byte).
    #[cfg(target_arch = "x86_64")]
    pub(super) fn alphabet_prefix(s: &[u8]) -> usize {
        let mut k = 0;
        // SAFETY: as in `plain_prefix`.
        unsafe {
            let range = |v: __m128i, lo: u8, hi: u8| {
                // Signed compares: bytes >= 0x80 are negative, below every range here.
                _mm_and_si128(
                    _mm_cmpgt_epi8(v, _mm_set1_epi8(lo as i8 - 1)),
                    _mm_cmplt_epi8(v, _mm_set1_epi8(hi as i8 + 1)),
                )
            };
            while k + 16 <= s.len() {
                let v = _mm_loadu_si128(s.as_ptr().add(k).cast());
                let ok = _mm_or_si128(
                    _mm_or_si128(range(v, b'A', b'Z'), range(v, b'a', b'z')),
                    _mm_or_si128(
                        range(v, b'0', b'9'),
                        _mm_or_si128(
                            _mm_cmpeq_epi8(v, _mm_set1_epi8(b'+' as i8)),
                            _mm_cmpeq_epi8(v, _mm_set1_epi8(b'/' as i8)),
                        ),
                    ),
                );
                let bad = !_mm_movemask_epi8(ok) & 0xffff;
                if bad != 0 {
                    return k + bad.trailing_zeros() as usize;
                }
                k += 16;
            }
        }
        k
    }

    /// Decodes the longest prefix of `s` (alphabet characters only) that is a multiple of 16
    /// characters and leaves at least 16 undecoded bytes of room unneeded, appending to `out`
    /// (whose spare capacity must cover all of `s` decoded plus 16); returns the characters
    /// decoded. SSSE3: each 16 characters become 16 sextets (an offset per character class,
    /// picked by the high nibble), then 12 bytes.
    #[cfg(target_arch = "x86_64")]
    pub(super) fn decode_alphabet(s: &[u8], out: &mut Vec<u8>) -> usize {
        if !std::is_x86_feature_detected!("ssse3") {
            return 0;
        }
        assert!(out.capacity() - out.len() >= s.len() / 4 * 3 + 16);
        // SAFETY: SSSE3 was detected; the caller's `s` holds only alphabet bytes (not checked
        // again, but other bytes only give wrong output, never unsafety).
        unsafe { decode_ssse3(s, out) }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "ssse3")]
    unsafe fn decode_ssse3(s: &[u8], out: &mut Vec<u8>) -> usize {
        let shift_lut = _mm_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
        let slash = _mm_set1_epi8(b'/' as i8);
        let nibble = _mm_set1_epi8(0x0f);
        let pack = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
        let mut k = 0;
        let mut len = out.len();
        let base = out.as_mut_ptr();
        while k + 16 <= s.len() {
            // SAFETY: reads 16 bytes inside `s`; writes 16 bytes at `len`, inside the capacity
            // asserted by the caller (12 are kept).
            unsafe {
                let v = _mm_loadu_si128(s.as_ptr().add(k).cast());
                let high = _mm_and_si128(_mm_srli_epi32(v, 4), nibble);
                // '/' and '+' share the high nibble 2: '/' takes entry 1.
                let index = _mm_add_epi8(high, _mm_cmpeq_epi8(v, slash));
                let sextets = _mm_add_epi8(v, _mm_shuffle_epi8(shift_lut, index));
                // aaaaaa bbbbbb -> 12 bits per pair, then 24 bits per quad, then byte order.
                let pairs = _mm_maddubs_epi16(sextets, _mm_set1_epi32(0x0140_0140));
                let quads = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_1000));
                let bytes = _mm_shuffle_epi8(quads, pack);
                _mm_storeu_si128(base.add(len).cast(), bytes);
            }
            len += 12;
            k += 16;
        }
        // SAFETY: the first `len` bytes are initialised (the old ones and 12 per step).
        unsafe { out.set_len(len) };
        k
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub(super) fn decode_alphabet(_: &[u8], _: &mut Vec<u8>) -> usize {
        0
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub(super) fn plain_prefix(_: &[u8]) -> (usize, u64) {
        (0, 0)
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub(super) fn alphabet_prefix(_: &[u8]) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(s: &str, groups: usize) -> Vec<(usize, usize, usize)> {
        let mut v = Vec::new();
        find_matches(s.as_bytes(), groups, |m| v.push(m));
        v
    }

    #[test]
    fn the_sixteen_byte_scans_agree_with_byte_tables() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..200 {
            for _ in 0..20 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        // Mostly alphabet, sometimes anything.
                        let b = (state >> 24) as u8;
                        if state % 23 == 0 {
                            b
                        } else {
                            b"AZaz09+/Qq"[(b % 10) as usize]
                        }
                    })
                    .collect();
                let want = s.iter().take_while(|&&b| IS_B64[b as usize]).count();
                assert_eq!(alphabet_run(&s), want, "{s:?}");
                let (to, _) = simd::plain_prefix(&s);
                let first_special = s
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                    .unwrap_or(s.len());
                assert!(to <= first_special);
                assert!(to == first_special || s.len() - to < 16);
            }
        }
    }

    #[test]
    fn decoding_agrees_with_the_base64_crate() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in 0..300 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect();
            let text = base64::engine::general_purpose::STANDARD.encode(&data);
            assert_eq!(decode(text.as_bytes()).as_deref(), Some(&data[..]), "{len}");
        }
        // Every character in every position of a group.
        let all: Vec<u8> = (0..=255u8).cycle().take(3 * 256).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&all);
        assert_eq!(decode(text.as_bytes()).unwrap(), all);
    }

    #[test]
    fn the_pattern_as_python_finds_it() {
        assert_eq!(matches("abcdefgh", 2), vec![(0, 0, 8)]);
        assert_eq!(matches("abcdefg", 2), vec![]);
        assert_eq!(matches("abcdefghij==x", 2), vec![(0, 0, 12)]);
        assert_eq!(matches("abcdefghijk=", 2), vec![(0, 0, 12)]);
        assert_eq!(matches("abcdefghijk==", 2), vec![(0, 0, 12)]);
        assert_eq!(matches("abcdefghij=", 2), vec![(0, 0, 8)]);
        assert_eq!(
            matches("xx data:image/png;base64,abcdefgh!", 2),
            vec![(3, 25, 33)]
        );
        // The prefix ends at the first comma after "data:".
        assert_eq!(matches("data:a,b;base64,abcdefgh", 2), vec![(16, 16, 24)]);
        // A prefix without enough base64 after it is not part of a match.
        assert_eq!(matches("data:x;base64,abc!abcdefgh", 2), vec![(18, 18, 26)]);
        // "data" ending a short run, and a run inside the prefix.
        assert_eq!(matches("zzdata:;base64,abcdefgh", 2), vec![(2, 15, 23)]);
        assert_eq!(matches("data:abcdefgh;base64,!", 2), vec![(5, 5, 13)]);
        assert_eq!(
            matches("a-bcdefghi_jklmnopq", 2),
            vec![(2, 2, 10), (11, 11, 19)]
        );
    }
}
