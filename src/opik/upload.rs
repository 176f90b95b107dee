//! Uploads: the part plan, `upload-start`, then either one direct PUT to the backend or parallel
//! part PUTs to presigned storage URLs followed by `upload-complete`.

use crate::error::{Error, Result, Status};
use crate::http::Body;
use crate::http::{SourceReadError, Transport};
use crate::media::attachment::{Attachment, Source};
use crate::opik::protocol::{
    self, CompleteUploadRequest, StartUploadRequest, StartUploadResponse, Target, UploadedPart,
};
use crate::sys::file_reads::{open_regular, read_at, READ_CHUNK};
use bytes::Bytes;
use futures_util::StreamExt;
use http::header::ETAG;
use http::Method;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
pub const MAX_PARTS: u64 = 10_000;
/// A storage 403 on a part (expired URL) restarts the upload with fresh URLs this many times.
pub const MAX_RESTARTS: u32 = 2;
/// File bodies up to this size are read in one go on the I/O thread instead of streamed.
const INLINE_READ_MAX: usize = 64 * 1024;
/// Reads in flight per streamed body (so memory per body is about READ_CHUNK × READ_AHEAD).
const READ_AHEAD: usize = 2;

/// How a file of a given size is cut into parts (the same math as the Opik SDKs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartPlan {
    pub size: u64,
    pub count: u32,
    pub part_size: u64,
}

impl PartPlan {
    /// Parts of at least 5 MiB (only the last may be shorter), at most 10,000 of them, each at
    /// most 5 GiB. A 0-byte attachment is one empty part.
    pub fn for_size(size: u64) -> Result<PartPlan> {
        if size == 0 {
            return Ok(PartPlan {
                size,
                count: 1,
                part_size: 0,
            });
        }
        let count = size.div_ceil(MIN_PART_SIZE).min(MAX_PARTS);
        let part_size = size.div_ceil(count).max(MIN_PART_SIZE);
        if part_size > MAX_PART_SIZE {
            return Err(Error::new(
                Status::TooLarge,
                format!("{size} bytes is more than 10,000 parts of at most 5 GiB can hold"),
            ));
        }
        // With part_size ≥ ceil(size/count) the real count may be smaller than `count`.
        let count = size.div_ceil(part_size) as u32;
        Ok(PartPlan {
            size,
            count,
            part_size,
        })
    }

    /// Byte range `(offset, len)` of part `number` (1-based).
    pub fn range(&self, number: u32) -> (u64, u64) {
        let offset = (number as u64 - 1) * self.part_size;
        (offset, self.part_size.min(self.size - offset))
    }
}

/// Bytes sent so far by an upload (observable from another thread).
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub total: AtomicU64,
}

/// Uploads `attachment` to `target`, choosing the flow from the server's `upload-start` answer.
pub async fn upload(
    transport: &Arc<Transport>,
    concurrency: u32,
    target: &Target,
    attachment: &Attachment,
    progress: Option<&Arc<Progress>>,
) -> Result<()> {
    let mut restarts = 0;
    loop {
        let (content, size) = Content::open(attachment)?;
        let plan = PartPlan::for_size(size)?;
        if let Some(p) = progress {
            p.total.store(size, Ordering::Relaxed);
            p.sent.store(0, Ordering::Relaxed);
        }
        let body = StartUploadRequest {
            file_name: attachment.file_name(),
            num_of_file_parts: plan.count,
            mime_type: Some(attachment.content_type()),
            project_name: Some(&target.project_name),
            entity_type: target.entity_type,
            entity_id: &target.entity_id,
            path: &protocol::encode_path(transport.base_url()),
        };
        let start: StartUploadResponse = transport
            .post_encoded_json_for("upload-start", protocol::UPLOAD_START, body.to_json())
            .await?;
        let Some(first_url) = start.pre_sign_urls.first() else {
            return Err(Error::protocol(
                "upload-start: the server returned no upload URL",
            ));
        };
        if start.upload_id == protocol::DIRECT_UPLOAD_ID {
            return put_whole(transport, first_url, &content, size, progress).await;
        }
        if start.pre_sign_urls.len() != plan.count as usize {
            return Err(Error::protocol(format!(
                "upload-start: asked for {} part URLs, the server returned {}",
                plan.count,
                start.pre_sign_urls.len()
            )));
        }
        match put_parts(
            transport,
            concurrency,
            &start.pre_sign_urls,
            &content,
            plan,
            progress,
        )
        .await
        {
            Ok(parts) => {
                let body = CompleteUploadRequest {
                    file_name: attachment.file_name(),
                    project_name: Some(&target.project_name),
                    entity_type: target.entity_type,
                    entity_id: &target.entity_id,
                    file_size: size,
                    mime_type: Some(attachment.content_type()),
                    upload_id: &start.upload_id,
                    uploaded_file_parts: parts,
                };
                return transport
                    .post_encoded_json("upload-complete", protocol::UPLOAD_COMPLETE, body.to_json())
                    .await;
            }
            // Presigned URLs expire (and cannot be re-signed): start over with fresh ones. A
            // signature the storage rejects outright will not get better with new URLs.
            Err(e)
                if e.http_status == 403 && restarts < MAX_RESTARTS && !is_signature_refusal(&e) =>
            {
                restarts += 1;
                transport.observer().log.emit(
                    crate::observe::Level::Warn,
                    &format!(
                        "upload restarted with fresh part URLs ({restarts} of {MAX_RESTARTS}): {}",
                        e.message
                    ),
                );
            }
            Err(e) => return Err(e),
        }
    }
}

/// S3 error codes (carried in the message) that say the URL itself is wrong, not expired.
fn is_signature_refusal(e: &Error) -> bool {
    [
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "AuthorizationQueryParametersError",
    ]
    .iter()
    .any(|code| e.message.contains(code))
}

/// Whether the attachment was small enough to be read in one go when it was made (no new `stat`:
/// the upload measures a file again anyway). Such an upload is three short requests in a row,
/// best run on the calling thread (see `crate::exec::lanes`); a larger one gains more from parallel
/// parts on the I/O threads.
pub fn is_small(attachment: &Attachment) -> bool {
    attachment.size() <= INLINE_READ_MAX as u64
}

/// What one upload attempt reads: the attachment's bytes, or its file opened once for the
/// attempt. The size is measured on that open file, so every part is read from the file that was
/// measured, and a file is opened and measured once per attempt, not again per part.
#[derive(Clone)]
enum Content {
    Memory(Bytes),
    File(Arc<OpenFile>),
}

struct OpenFile {
    file: std::fs::File,
    path: PathBuf,
}

impl Content {
    /// The content and its current size.
    fn open(attachment: &Attachment) -> Result<(Content, u64)> {
        match attachment.source() {
            Source::Memory(b) => Ok((Content::Memory(b.clone()), b.len() as u64)),
            Source::File(path) => {
                // "cannot open …: not a regular file" when something else took the file's place.
                let (file, meta) = open_regular(path)
                    .map_err(|e| Error::io(format!("cannot open {}", path.display()), &e))?;
                let file = OpenFile {
                    file,
                    path: path.clone(),
                };
                Ok((Content::File(Arc::new(file)), meta.len()))
            }
        }
    }
}

/// The direct flow: one PUT of the whole content to the backend, with Content-Length.
async fn put_whole(
    transport: &Transport,
    url: &str,
    content: &Content,
    size: u64,
    progress: Option<&Arc<Progress>>,
) -> Result<()> {
    transport
        .send("direct upload PUT", Method::PUT, url, |rb| {
            reset_progress(progress, 0);
            Ok(rb
                .content_length(size)
                .body(body_for(content, 0, size, progress.cloned())?))
        })
        .await
        .map(drop)
}

fn reset_progress(progress: Option<&Arc<Progress>>, to: u64) {
    if let Some(p) = progress {
        p.sent.store(to, Ordering::Relaxed);
    }
}

/// The S3 flow: every part PUT to its presigned URL, `concurrency` at a time, each with
/// Content-Length and no Opik header. Returns the parts sorted by number.
async fn put_parts(
    transport: &Arc<Transport>,
    concurrency: u32,
    urls: &[String],
    content: &Content,
    plan: PartPlan,
    progress: Option<&Arc<Progress>>,
) -> Result<Vec<UploadedPart>> {
    let total = plan.count;
    if total == 1 {
        // One part needs no task of its own: as a task, its answer would wake this one through
        // the scheduler (on a lane, one more turn of the event loop per attachment).
        let part = put_part(transport, &urls[0], content, plan, 1, progress).await?;
        return Ok(vec![part]);
    }
    let mut tasks = tokio::task::JoinSet::new();
    let mut parts = Vec::with_capacity(urls.len());
    let mut next = 1u32;
    while parts.len() < total as usize {
        while next <= total && tasks.len() < concurrency.max(1) as usize {
            let (transport, url, content, progress) = (
                transport.clone(),
                urls[next as usize - 1].clone(),
                content.clone(),
                progress.cloned(),
            );
            let number = next;
            tasks.spawn(async move {
                put_part(&transport, &url, &content, plan, number, progress.as_ref()).await
            });
            next += 1;
        }
        match tasks.join_next().await {
            Some(Ok(Ok(part))) => parts.push(part),
            Some(Ok(Err(e))) => return Err(e), // dropping the set aborts the other parts
            Some(Err(join)) => {
                return Err(Error::internal(format!("part upload task failed: {join}")))
            }
            None => break,
        }
    }
    parts.sort_by_key(|p| p.part_number);
    Ok(parts)
}

async fn put_part(
    transport: &Transport,
    url: &str,
    content: &Content,
    plan: PartPlan,
    number: u32,
    progress: Option<&Arc<Progress>>,
) -> Result<UploadedPart> {
    let (offset, len) = plan.range(number);
    // Named in error messages; most uploads are one part.
    let step: std::borrow::Cow<str> = if plan.count == 1 {
        "part 1/1 PUT".into()
    } else {
        format!("part {number}/{} PUT", plan.count).into()
    };
    let sent_before = Arc::new(AtomicU64::new(0));
    let resp = transport
        .send(&step, Method::PUT, url, |rb| {
            // A retried part must not count its bytes twice.
            if let Some(p) = progress {
                p.sent
                    .fetch_sub(sent_before.swap(0, Ordering::Relaxed), Ordering::Relaxed);
            }
            let counter = progress.map(|p| (p.clone(), sent_before.clone()));
            Ok(rb
                .content_length(len)
                .body(body_for_counted(content, offset, len, counter)?))
        })
        .await?;
    let e_tag = resp
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Error::protocol(format!(
                "{step}: storage answered {} without an ETag",
                resp.status().as_u16()
            ))
        })?
        .to_owned();
    Ok(UploadedPart {
        e_tag,
        part_number: number,
    })
}

fn body_for(
    content: &Content,
    offset: u64,
    len: u64,
    progress: Option<Arc<Progress>>,
) -> Result<Body> {
    body_for_counted(
        content,
        offset,
        len,
        progress.map(|p| (p, Arc::new(AtomicU64::new(0)))),
    )
}

/// A request body for `len` bytes of `source` from `offset`, streamed (files are read in
/// 512 KiB chunks on the blocking pool, so memory does not grow with the file). The caller sets
/// Content-Length. `counter` adds the bytes handed to HTTP to a progress total and to a
/// per-attempt tally.
fn body_for_counted(
    content: &Content,
    offset: u64,
    len: u64,
    counter: Option<(Arc<Progress>, Arc<AtomicU64>)>,
) -> Result<Body> {
    let count = move |n: usize| {
        if let Some((p, attempt)) = &counter {
            p.sent.fetch_add(n as u64, Ordering::Relaxed);
            attempt.fetch_add(n as u64, Ordering::Relaxed);
        }
    };
    match content {
        Content::Memory(bytes) => {
            let slice = bytes.slice(offset as usize..(offset + len) as usize);
            // Hand memory over in chunks so progress moves while a large part is sent.
            let chunks: Vec<Bytes> = (0..slice.len())
                .step_by(READ_CHUNK.max(1))
                .map(|i| slice.slice(i..(i + READ_CHUNK).min(slice.len())))
                .collect();
            let stream = futures_util::stream::iter(chunks.into_iter().map(move |c| {
                count(c.len());
                Ok::<Bytes, std::io::Error>(c)
            }));
            Ok(Body::wrap_stream(stream))
        }
        Content::File(open) => {
            let path = &open.path;
            if len <= INLINE_READ_MAX as u64 {
                // A small body is read right here: a few microseconds from the page cache, less
                // than handing the read to the blocking pool and back.
                let chunk = read_at(&open.file, offset, len as usize)
                    .map_err(|e| Error::io(format!("cannot read {}", path.display()), &e))?;
                if chunk.len() as u64 != len {
                    return Err(Error::new(
                        Status::Io,
                        format!("{} shrank while it was being uploaded", path.display()),
                    ));
                }
                count(chunk.len());
                return Ok(Body::from(chunk));
            }
            let open = open.clone();
            let offsets = (offset..offset + len).step_by(READ_CHUNK);
            let end = offset + len;
            // Reads run on the blocking pool, one chunk ahead of the socket, so disk and network overlap.
            let reads = futures_util::stream::iter(offsets).map(move |pos| {
                let open = open.clone();
                let want = (end - pos).min(READ_CHUNK as u64) as usize;
                async move {
                    let reading = open.clone();
                    let read =
                        tokio::task::spawn_blocking(move || read_at(&reading.file, pos, want))
                            .await;
                    let path = &open.path;
                    let message = match read {
                        Ok(Ok(chunk)) if chunk.len() == want => return Ok(chunk),
                        Ok(Ok(_)) => {
                            format!("{} shrank while it was being uploaded", path.display())
                        }
                        Ok(Err(e)) => format!("cannot read {}: {e}", path.display()),
                        Err(e) => format!("reading {} failed: {e}", path.display()),
                    };
                    Err(std::io::Error::other(SourceReadError(message)))
                }
            });
            let stream = reads
                .buffered(READ_AHEAD)
                .map(move |r: std::io::Result<Bytes>| {
                    if let Ok(c) = &r {
                        count(c.len());
                    }
                    r
                });
            Ok(Body::wrap_stream(stream))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn part_math_at_the_boundaries() {
        let p = PartPlan::for_size(0).unwrap();
        assert_eq!((p.count, p.range(1)), (1, (0, 0)));
        let p = PartPlan::for_size(1).unwrap();
        assert_eq!((p.count, p.part_size, p.range(1)), (1, 5 * MIB, (0, 1)));
        let p = PartPlan::for_size(5 * MIB).unwrap();
        assert_eq!((p.count, p.range(1)), (1, (0, 5 * MIB)));
        let p = PartPlan::for_size(5 * MIB + 1).unwrap();
        assert_eq!(
            (p.count, p.range(1), p.range(2)),
            (2, (0, 5 * MIB), (5 * MIB, 1))
        );
        let p = PartPlan::for_size(12_000_000).unwrap();
        assert_eq!((p.count, p.range(3)), (3, (10_485_760, 1_514_240)));
        let p = PartPlan::for_size(100 * MIB).unwrap();
        assert_eq!(p.count, 20);
    }

    #[test]
    fn part_math_at_the_ten_thousand_part_boundary() {
        let exact = 10_000 * 5 * MIB;
        let p = PartPlan::for_size(exact).unwrap();
        assert_eq!((p.count, p.part_size), (10_000, 5 * MIB));
        let p = PartPlan::for_size(exact + 1).unwrap();
        assert_eq!(p.count, 10_000);
        assert_eq!(p.part_size, (exact + 1).div_ceil(10_000));
        let (off, len) = p.range(10_000);
        assert_eq!(off + len, exact + 1, "the last part ends at the last byte");
        assert!(len >= 1);
    }

    #[test]
    fn too_large_is_refused() {
        let max = 10_000 * MAX_PART_SIZE;
        assert_eq!(PartPlan::for_size(max).unwrap().part_size, MAX_PART_SIZE);
        assert_eq!(
            PartPlan::for_size(max + 1).unwrap_err().status,
            Status::TooLarge
        );
        assert_eq!(
            PartPlan::for_size(u64::MAX).unwrap_err().status,
            Status::TooLarge
        );
    }

    #[test]
    fn every_part_covers_the_file_exactly_once() {
        for size in [
            1,
            5 * MIB - 1,
            5 * MIB,
            5 * MIB + 1,
            3 * 5 * MIB + 7,
            52_428_800_000 + 12_345,
        ] {
            let p = PartPlan::for_size(size).unwrap();
            let mut next = 0;
            for n in 1..=p.count {
                let (off, len) = p.range(n);
                assert_eq!(off, next);
                assert!(len > 0 && len <= MAX_PART_SIZE);
                if n < p.count {
                    assert!(len >= MIN_PART_SIZE, "only the last part may be short");
                }
                next = off + len;
            }
            assert_eq!(next, size);
        }
    }
}

/// Captures raw requests on a loopback socket: what actually goes on the wire, which no local S3
/// server checks (they all accept chunked part PUTs; AWS refuses them).
#[cfg(test)]
mod wire_tests {
    use super::*;
    use crate::settings::{Config, Options};
    use tokio::io::AsyncWriteExt;

    /// Accepts `n` requests, answers each `200` with an ETag, returns their raw heads.
    async fn capture(listener: tokio::net::TcpListener, n: usize) -> Vec<String> {
        let mut heads = Vec::new();
        while heads.len() < n {
            let (mut sock, _) = listener.accept().await.unwrap();
            let (head, _) = crate::http::test_wire::read_request(&mut sock)
                .await
                .expect("connection closed before the headers ended");
            let etag = format!("\"etag-{}\"", heads.len());
            let resp = format!(
                "HTTP/1.1 200 OK\r\nETag: {etag}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            sock.write_all(resp.as_bytes()).await.unwrap();
            heads.push(head);
        }
        heads
    }

    fn transport() -> Arc<Transport> {
        let options = Options {
            url: Some("http://opik.invalid/api/".into()),
            api_key: Some("secret-key".into()),
            ..Default::default()
        };
        Arc::new(
            Transport::new(
                &Config::resolve(&options).unwrap(),
                crate::observe::Observer::quiet(),
            )
            .unwrap(),
        )
    }

    #[test]
    fn every_part_put_has_content_length_and_no_opik_header() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = std::env::temp_dir().join(format!("opik-wire-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("big.bin");
            let size = 2 * MIN_PART_SIZE + 12345;
            std::fs::write(&path, vec![7u8; size as usize]).unwrap();
            for attachment in [
                Attachment::from_file(&path, None, None).unwrap(),
                Attachment::from_bytes(vec![7u8; size as usize], "mem.bin", None).unwrap(),
            ] {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let port = listener.local_addr().unwrap().port();
                let server = tokio::spawn(capture(listener, 3));
                let urls: Vec<String> = (1..=3)
                    .map(|n| {
                        format!(
                            "http://127.0.0.1:{port}/bucket/key?partNumber={n}&X-Amz-Signature=abc"
                        )
                    })
                    .collect();
                let plan = PartPlan::for_size(size).unwrap();
                let (content, measured) = Content::open(&attachment).unwrap();
                assert_eq!(measured, size);
                let parts = put_parts(&transport(), 2, &urls, &content, plan, None)
                    .await
                    .unwrap();
                let numbers: Vec<u32> = parts.iter().map(|p| p.part_number).collect();
                assert_eq!(numbers, [1, 2, 3]);
                assert_eq!(
                    parts[0].e_tag.chars().next(),
                    Some('"'),
                    "ETag kept verbatim, quotes included"
                );
                let heads = server.await.unwrap();
                for head in &heads {
                    assert!(head.starts_with("put "), "{head}");
                    assert!(
                        head.contains("content-length:"),
                        "part PUT without Content-Length: {head}"
                    );
                    assert!(
                        !head.contains("transfer-encoding"),
                        "chunked part PUT: {head}"
                    );
                    assert!(
                        !head.contains("authorization"),
                        "Opik key sent to storage: {head}"
                    );
                    assert!(
                        !head.contains("comet-workspace"),
                        "workspace sent to storage: {head}"
                    );
                    assert!(!head.contains("content-type"), "{head}");
                }
                let mut lengths: Vec<u64> = heads
                    .iter()
                    .map(|h| {
                        h.lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .unwrap()
                            .trim()
                            .parse()
                            .unwrap()
                    })
                    .collect();
                lengths.sort_unstable();
                assert_eq!(lengths, [12345, MIN_PART_SIZE, MIN_PART_SIZE]);
            }
        });
    }
}
