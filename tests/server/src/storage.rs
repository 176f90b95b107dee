//! Local object storage on disk (direct mode and the built-in S3 emulator).
//!
//! Bodies are streamed to files by a blocking writer fed through a bounded channel, and streamed
//! back by a blocking reader; no object is ever held whole in memory. An object is a list of file
//! segments, so completing a multipart upload just adopts its part files (no copy).
//!
//! With [`crate::Config::discard_bodies`] (for benchmarks) bodies are read to the end and counted
//! but not written: such a segment has no file, and reading it back yields synthetic bytes of the
//! recorded length, so the server spends next to no CPU on either direction.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::body::{body_from_channel, ReqBody, RespBody};

/// `AttachmentUtils.KEY_TEMPLATE` (protocol §12); `file_name` is used raw.
pub(crate) fn object_key(
    workspace: &str,
    project_id: &str,
    entity_type: &str,
    entity_id: &str,
    file_name: &str,
) -> String {
    format!(
        "opik/attachment/workspaces/{workspace}/projects/{project_id}/{entity_type}s/{entity_id}/files/{file_name}"
    )
}

/// One file holding a contiguous run of an object's bytes (`path` is `None` for discarded bytes,
/// which read back as a synthetic pattern).
#[derive(Clone, Debug)]
pub(crate) struct Segment {
    pub path: Option<PathBuf>,
    pub len: u64,
}

/// A stored object: its bytes are the concatenation of `segments`.
#[derive(Clone, Debug)]
pub(crate) struct StoredObject {
    pub segments: Vec<Segment>,
    pub size: u64,
    pub mime_type: String,
    /// Quoted ETag as S3 would report it.
    pub etag: String,
}

/// Result of streaming a request body to a file.
pub(crate) struct Received {
    pub size: u64,
    /// Lowercase hex MD5 of the bytes, when requested.
    pub md5_hex: Option<String>,
}

/// Why a body could not be stored.
#[derive(Debug)]
pub(crate) enum ReceiveError {
    /// The client's body stream failed (disconnect, reset, malformed chunking).
    Client(String),
    /// Writing the file failed.
    Io(io::Error),
}

/// Streams the rest of `body` into a new file at `path` (removed on failure), or, when `path` is
/// `None`, reads and counts it only; then `md5_hex` is a unique stand-in, not the bytes' MD5.
pub(crate) async fn receive_to_file(
    body: &mut ReqBody,
    path: Option<&Path>,
    want_md5: bool,
) -> Result<Received, ReceiveError> {
    let Some(path) = path else {
        return receive_discarding(body, want_md5).await;
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(32);
    let file_path = path.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || -> io::Result<Received> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&file_path)?);
        let mut md5 = want_md5.then(Md5::new);
        let mut size = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            if let Some(h) = md5.as_mut() {
                h.update(&chunk);
            }
            out.write_all(&chunk)?;
            size += chunk.len() as u64;
        }
        out.flush()?;
        Ok(Received {
            size,
            md5_hex: md5.map(|h| hex::encode(h.finalize())),
        })
    });
    let mut client_error = None;
    loop {
        match body.next_chunk().await {
            Ok(Some(chunk)) => {
                if tx.send(chunk).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Ok(None) => break,
            Err(e) => {
                client_error = Some(e.to_string());
                break;
            }
        }
    }
    drop(tx);
    let written = writer
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
    match (client_error, written) {
        (None, Ok(received)) => Ok(received),
        (Some(e), _) => {
            let _ = std::fs::remove_file(path);
            Err(ReceiveError::Client(e))
        }
        (None, Err(e)) => {
            let _ = std::fs::remove_file(path);
            Err(ReceiveError::Io(e))
        }
    }
}

async fn receive_discarding(body: &mut ReqBody, want_md5: bool) -> Result<Received, ReceiveError> {
    let mut size = 0u64;
    loop {
        match body.next_chunk().await {
            Ok(Some(chunk)) => size += chunk.len() as u64,
            Ok(None) => break,
            Err(e) => return Err(ReceiveError::Client(e.to_string())),
        }
    }
    // Parts still need distinct ETags for CompleteMultipartUpload's checks to mean something.
    let md5_hex = want_md5.then(|| hex::encode(Md5::digest(uuid::Uuid::new_v4().as_bytes())));
    Ok(Received { size, md5_hex })
}

/// The bytes a discarded segment reads back as: a fixed pattern, shared (sent without copying).
fn synthetic_chunk() -> Bytes {
    static PATTERN: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    PATTERN
        .get_or_init(|| (0..SYNTHETIC_CHUNK).map(|i| (i % 251) as u8).collect())
        .clone()
}
const SYNTHETIC_CHUNK: usize = 256 * 1024;

/// Streams `len` bytes of the object starting at `offset`. All segment files are opened up front,
/// so replacing or deleting the object meanwhile does not disturb the download.
pub(crate) fn stream_object(object: &StoredObject, offset: u64, len: u64) -> RespBody {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
    let segments = object.segments.clone();
    tokio::task::spawn_blocking(move || {
        let opened: io::Result<Vec<(Option<File>, u64)>> = segments
            .iter()
            .map(|s| Ok((s.path.as_ref().map(File::open).transpose()?, s.len)))
            .collect();
        let files = match opened {
            Ok(files) => files,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        let mut skip = offset;
        let mut left = len;
        let mut buf = vec![0u8; 256 * 1024];
        for (file, seg_len) in files {
            if left == 0 {
                break;
            }
            if skip >= seg_len {
                skip -= seg_len;
                continue;
            }
            let Some(mut file) = file else {
                let mut seg_left = (seg_len - skip).min(left);
                skip = 0;
                left -= seg_left;
                while seg_left > 0 {
                    let n = (SYNTHETIC_CHUNK as u64).min(seg_left) as usize;
                    seg_left -= n as u64;
                    if tx.blocking_send(Ok(synthetic_chunk().slice(..n))).is_err() {
                        return;
                    }
                }
                continue;
            };
            if let Err(e) = file.seek(SeekFrom::Start(skip)) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            let mut seg_left = (seg_len - skip).min(left);
            skip = 0;
            while seg_left > 0 {
                let want = (buf.len() as u64).min(seg_left) as usize;
                match file.read(&mut buf[..want]) {
                    Ok(0) => {
                        let _ = tx.blocking_send(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "stored object is shorter than recorded",
                        )));
                        return;
                    }
                    Ok(n) => {
                        seg_left -= n as u64;
                        left -= n as u64;
                        if tx
                            .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                            .is_err()
                        {
                            return; // the client went away
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        }
    });
    body_from_channel(rx)
}

/// Hex SHA-256 of the object's bytes, read from disk on a blocking thread; an error for discarded
/// bytes.
pub(crate) async fn sha256_of(segments: Vec<Segment>) -> io::Result<String> {
    tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        for seg in &segments {
            let path = seg
                .path
                .as_ref()
                .ok_or_else(|| io::Error::other("bytes were discarded"))?;
            let mut file = File::open(path)?;
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        }
        Ok(hex::encode(hasher.finalize()))
    })
    .await
    .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
}

/// Deletes segment files (best effort; an open download keeps reading its handles).
pub(crate) fn remove_segments(segments: &[Segment]) {
    for path in segments.iter().filter_map(|s| s.path.as_ref()) {
        let _ = std::fs::remove_file(path);
    }
}

/// S3's multipart ETag: MD5 of the concatenated binary part MD5s, then `-<part count>`, quoted.
pub(crate) fn multipart_etag(part_md5_hex: &[&str]) -> String {
    let mut hasher = Md5::new();
    for hex_md5 in part_md5_hex {
        hasher.update(hex::decode(hex_md5).unwrap_or_default());
    }
    format!(
        "\"{}-{}\"",
        hex::encode(hasher.finalize()),
        part_md5_hex.len()
    )
}
