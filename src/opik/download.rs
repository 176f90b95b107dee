//! Downloads: find the attachment in the list, follow its link with the right headers, stream
//! the body to a sink.

use crate::error::{Error, Result, Status};
use crate::http::{is_presigned, Transport};
use crate::opik::protocol::{AttachmentInfo, EntityType};
use http::Method;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What to download.
#[derive(Clone, Debug)]
pub struct Wanted<'a> {
    pub project_name: &'a str,
    pub entity_type: EntityType,
    pub entity_id: &'a str,
    pub file_name: &'a str,
    /// Matched too when given.
    pub mime_type: Option<&'a str>,
}

async fn find(transport: &Transport, w: &Wanted<'_>) -> Result<AttachmentInfo> {
    let project_id = crate::opik::list::project_id(transport, w.project_name).await?;
    let entries =
        crate::opik::list::list(transport, &project_id, w.entity_type, w.entity_id).await?;
    entries
        .into_iter()
        .find(|e| {
            e.file_name == w.file_name
                && w.mime_type
                    .is_none_or(|m| e.mime_type.as_deref() == Some(m))
        })
        .ok_or_else(|| {
            let mime = w
                .mime_type
                .map(|m| format!(" with MIME type {m:?}"))
                .unwrap_or_default();
            Error::new(
                Status::NotFound,
                format!(
                    "no attachment {:?}{mime} on {} {} in project {:?}",
                    w.file_name,
                    w.entity_type.as_str(),
                    w.entity_id,
                    w.project_name
                ),
            )
        })
}

/// Where downloaded chunks go; an error stops the download.
pub type Sink<'a> = &'a mut dyn FnMut(&[u8]) -> Result<()>;

/// Streams the attachment to `sink`, chunk by chunk. `sink` stops the download by returning an
/// error. Returns the number of bytes delivered.
///
/// Transient failures before the first byte are retried; an expired presigned link (403) is
/// replaced by listing again, once. A failure after bytes were delivered is reported, never
/// retried, so the sink never sees a byte twice.
pub async fn download(transport: &Transport, w: &Wanted<'_>, sink: Sink<'_>) -> Result<u64> {
    let mut relisted = false;
    loop {
        let entry = find(transport, w).await?;
        let Some(link) = entry.link.as_deref() else {
            return Err(Error::new(
                Status::NotFound,
                format!("attachment {:?} has no download link", w.file_name),
            ));
        };
        let resp = match transport.send("download", Method::GET, link, Ok).await {
            Ok(resp) => resp,
            Err(e) if e.http_status == 403 && is_presigned(link) && !relisted => {
                relisted = true;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut resp = resp;
        let mut delivered = 0u64;
        loop {
            match transport.next_chunk("download", link, &mut resp).await {
                Ok(Some(chunk)) => {
                    delivered += chunk.len() as u64;
                    if delivered > entry.file_size {
                        // Stop before handing over bytes the listing did not announce.
                        return Err(Error::protocol(format!(
                            "download: the server listed {:?} as {} bytes but sent more",
                            w.file_name, entry.file_size
                        )));
                    }
                    sink(&chunk)?;
                }
                Ok(None) => break,
                Err(e) => return Err(e.context(format!("after {delivered} bytes"))),
            }
        }
        if delivered != entry.file_size {
            return Err(Error::protocol(format!(
                "download: the server listed {:?} as {} bytes but sent {delivered}",
                w.file_name, entry.file_size
            )));
        }
        return Ok(delivered);
    }
}

/// Downloads into a temporary file beside `dest` and renames it into place only when the whole
/// body arrived, so `dest` is never left partial.
pub async fn download_to_file(transport: &Transport, w: &Wanted<'_>, dest: &Path) -> Result<u64> {
    let tmp = temp_path_beside(dest)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(format!("cannot create {}", tmp.display()), &e))?;
    let guard = RemoveOnDrop(Some(tmp.clone()));
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let mut write = |chunk: &[u8]| {
        out.write_all(chunk)
            .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), &e))
    };
    let n = download(transport, w, &mut write).await?;
    let file = out
        .into_inner()
        .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e.error()))?;
    file.sync_all()
        .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), &e))?;
    drop(file);
    std::fs::rename(&tmp, dest).map_err(|e| {
        Error::io(
            format!("cannot move the download into {}", dest.display()),
            &e,
        )
    })?;
    guard.disarm();
    Ok(n)
}

fn temp_path_beside(dest: &Path) -> Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = dest
        .file_name()
        .ok_or_else(|| Error::invalid(format!("dest_path {} names no file", dest.display())))?
        .to_string_lossy();
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let unique = format!(
        ".{name}.opik-part-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    Ok(dir.join(unique))
}

/// Removes the temporary file unless the download was moved into place.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}
