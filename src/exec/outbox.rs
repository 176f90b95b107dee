//! The durable outbox: an accepted background upload is recorded on disk before
//! `opik_upload_async` returns, and removed only once the server confirmed it (or refused it for
//! good). A new client on the same directory resumes whatever a killed process left.
//!
//! Layout, one pair per upload: `<id>.data` (the bytes; for a file attachment a hard link to it,
//! or a copy when a link is impossible) and `<id>.json` (where it goes). The manifest is written
//! last, through a rename, so a record exists only once its data is complete. `.lock` keeps two
//! clients from sharing a directory. Records survive a process crash (kill -9); they are not
//! fsync'ed, so an operating-system crash or power loss may lose the newest ones.
//!
//! Ended traces and spans are recorded in `entities/<id>.json` (the encoded entity, and the ids of
//! its attachments' records, which are *held*: they name the entity record in their manifest and
//! are uploaded only after the entity was sent). The entity record is removed once the server
//! accepted the entity (its attachments then stand on their own) or refused it for good.

use crate::error::{Error, Result, Status};
use crate::media::attachment::{Attachment, Source};
use crate::opik::protocol::EntityType;
use crate::opik::protocol::Target;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Serialize, Deserialize, Debug)]
struct Manifest {
    version: u32,
    project_name: String,
    entity_type: EntityType,
    entity_id: String,
    file_name: String,
    content_type: String,
    size: u64,
    /// The entity record this upload waits for (an attachment of a trace or span not sent yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    held_for: Option<String>,
}

#[derive(Serialize, Deserialize, Debug)]
struct EntityManifest {
    version: u32,
    kind: String,
    id: String,
    project_name: String,
    /// The entity's JSON, as sent in a batch.
    body: Box<serde_json::value::RawValue>,
    /// Ids of the held upload records of its attachments.
    attachments: Vec<String>,
}

/// One recorded trace or span.
#[derive(Debug, Clone)]
pub struct EntityRecord {
    path: PathBuf,
}

/// An entity found at start-up, with its held attachments.
pub struct ResumedEntity {
    pub record: EntityRecord,
    pub kind: String,
    pub target: Target,
    pub body: Vec<u8>,
    pub attachments: Vec<Resumed>,
}

/// One recorded upload.
#[derive(Debug, Clone)]
pub struct Record {
    manifest_path: PathBuf,
    data_path: PathBuf,
}

impl Record {
    fn id(&self) -> String {
        self.manifest_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// A record found at start-up, ready to be uploaded again.
pub struct Resumed {
    pub record: Record,
    pub target: Target,
    pub attachment: Attachment,
    /// The entity record it waits for, when that record still exists.
    pub held_for: Option<String>,
}

pub struct Outbox {
    dir: PathBuf,
    // Held for the outbox's life: the lock is released when the file is closed (or the process dies).
    _lock: std::fs::File,
}

impl Outbox {
    /// Opens (creating it if needed) and locks the directory; removes half-written leftovers.
    pub fn open(dir: &Path) -> Result<Outbox> {
        let shown = dir.display();
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::config(format!("cannot create the outbox directory {shown}: {e}"))
        })?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))
            .map_err(|e| Error::config(format!("cannot open {shown}/.lock: {e}")))?;
        lock_exclusive(&lock).map_err(|e| {
            Error::config(format!(
                "the outbox {shown} is in use by another client or process ({e})"
            ))
        })?;
        let outbox = Outbox {
            dir: dir.to_path_buf(),
            _lock: lock,
        };
        outbox.remove_leftovers();
        Ok(outbox)
    }

    fn remove_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let orphan_data = name.ends_with(".data") && !path.with_extension("json").exists();
            if name.ends_with(".tmp") || orphan_data {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// Records an upload. Bytes are written; a file is hard-linked (or copied when a link is not
    /// possible, e.g. across file systems), so deleting the original afterwards loses nothing.
    /// Returns the record and the attachment to upload (for a file: the outbox's link or copy).
    pub fn persist(
        &self,
        target: &Target,
        attachment: &Attachment,
    ) -> Result<(Record, Attachment)> {
        self.persist_upload(target, attachment, None)
    }

    /// Records an attachment of an entity not sent yet: like [`Outbox::persist`], but held until
    /// the entity record `entity` is gone.
    pub fn persist_held(
        &self,
        target: &Target,
        attachment: &Attachment,
        entity: &str,
    ) -> Result<(Record, Attachment)> {
        self.persist_upload(target, attachment, Some(entity))
    }

    fn persist_upload(
        &self,
        target: &Target,
        attachment: &Attachment,
        held_for: Option<&str>,
    ) -> Result<(Record, Attachment)> {
        let id = new_id();
        let data_path = self.dir.join(format!("{id}.data"));
        let manifest_path = self.dir.join(format!("{id}.json"));
        let record = Record {
            manifest_path: manifest_path.clone(),
            data_path: data_path.clone(),
        };
        let failed = |what: &str, e: std::io::Error| {
            let _ = std::fs::remove_file(&data_path);
            Error::io(
                format!(
                    "cannot record the upload in the outbox ({what} {})",
                    data_path.display()
                ),
                &e,
            )
        };
        let size = match attachment.source() {
            Source::Memory(bytes) => {
                std::fs::write(&data_path, bytes).map_err(|e| failed("writing", e))?;
                bytes.len() as u64
            }
            Source::File(path) => {
                if std::fs::hard_link(path, &data_path).is_err() {
                    std::fs::copy(path, &data_path).map_err(|e| failed("copying into", e))?;
                }
                std::fs::metadata(&data_path)
                    .map_err(|e| failed("reading", e))?
                    .len()
            }
        };
        let manifest = Manifest {
            version: 1,
            project_name: target.project_name.clone(),
            entity_type: target.entity_type,
            entity_id: target.entity_id.clone(),
            file_name: attachment.file_name().to_owned(),
            content_type: attachment.content_type().to_owned(),
            size,
            held_for: held_for.map(str::to_owned),
        };
        let json = serde_json::to_vec(&manifest)
            .map_err(|e| Error::internal(format!("outbox manifest: {e}")))?;
        let tmp = manifest_path.with_extension("json.tmp");
        std::fs::write(&tmp, json)
            .and_then(|_| std::fs::rename(&tmp, &manifest_path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                failed("writing the manifest beside", e)
            })?;
        let upload_from = match attachment.source() {
            Source::Memory(_) => attachment.clone(),
            Source::File(_) => attachment.with_source(Source::File(data_path), size),
        };
        Ok((record, upload_from))
    }

    /// A name for the next entity record (attachments held for it refer to it).
    pub fn new_entity_name(&self) -> String {
        new_id()
    }

    /// Records an ended trace or span (`body`: its encoded JSON) under `name`, with the ids of its
    /// held attachment records, before the entity is handed to the sender.
    pub fn persist_entity(
        &self,
        name: &str,
        kind: &str,
        target: &Target,
        body: &[u8],
        attachments: &[Record],
    ) -> Result<EntityRecord> {
        let dir = self.dir.join("entities");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), &e))?;
        let raw = serde_json::from_slice::<Box<serde_json::value::RawValue>>(body)
            .map_err(|e| Error::internal(format!("outbox entity record: {e}")))?;
        let manifest = EntityManifest {
            version: 1,
            kind: kind.to_owned(),
            id: target.entity_id.clone(),
            project_name: target.project_name.clone(),
            body: raw,
            attachments: attachments.iter().map(Record::id).collect(),
        };
        let json = serde_json::to_vec(&manifest)
            .map_err(|e| Error::internal(format!("outbox entity record: {e}")))?;
        let path = dir.join(format!("{name}.json"));
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Error::io(
                    format!(
                        "cannot record the {kind} in the outbox ({})",
                        path.display()
                    ),
                    &e,
                )
            })?;
        Ok(EntityRecord { path })
    }

    /// Forgets an entity record (sent, or refused for good).
    pub fn remove_entity(&self, record: &EntityRecord) {
        let _ = std::fs::remove_file(&record.path);
    }

    fn entity_exists(&self, name: &str) -> bool {
        self.dir
            .join("entities")
            .join(format!("{name}.json"))
            .is_file()
    }

    /// Every complete entity record, oldest first, with its held attachments.
    pub fn pending_entities(&self) -> Vec<ResumedEntity> {
        let dir = self.dir.join("entities");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        paths.sort();
        let uploads = self.pending();
        let mut out = Vec::new();
        for path in paths {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let record = EntityRecord { path: path.clone() };
            let parsed = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<EntityManifest>(&b).ok());
            let Some(m) = parsed else {
                self.remove_entity(&record);
                continue;
            };
            let entity_type = if m.kind == "span" {
                EntityType::Span
            } else {
                EntityType::Trace
            };
            let attachments = uploads
                .iter()
                .filter(|u| u.held_for.as_deref() == Some(name.as_str()))
                .map(|u| Resumed {
                    record: u.record.clone(),
                    target: u.target.clone(),
                    attachment: u.attachment.clone(),
                    held_for: u.held_for.clone(),
                })
                .collect();
            out.push(ResumedEntity {
                record,
                kind: m.kind,
                target: Target {
                    project_name: m.project_name,
                    entity_type,
                    entity_id: m.id,
                },
                body: m.body.get().as_bytes().to_vec(),
                attachments,
            });
        }
        out
    }

    /// Forgets a record (its upload is done, or can never succeed).
    pub fn remove(&self, record: &Record) {
        let _ = std::fs::remove_file(&record.manifest_path);
        let _ = std::fs::remove_file(&record.data_path);
    }

    /// Every complete record, oldest first.
    pub fn pending(&self) -> Vec<Resumed> {
        let mut manifests: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        manifests.sort();
        let mut out = Vec::new();
        for manifest_path in manifests {
            let data_path = manifest_path.with_extension("data");
            let record = Record {
                manifest_path: manifest_path.clone(),
                data_path: data_path.clone(),
            };
            let parsed = std::fs::read(&manifest_path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok());
            let (Some(m), true) = (parsed, data_path.is_file()) else {
                // Unreadable or without data: nothing can be uploaded from it.
                self.remove(&record);
                continue;
            };
            let size = std::fs::metadata(&data_path)
                .map(|md| md.len())
                .unwrap_or(m.size);
            let attachment =
                Attachment::from_parts(Source::File(data_path), m.file_name, m.content_type, size);
            let target = Target {
                project_name: m.project_name,
                entity_type: m.entity_type,
                entity_id: m.entity_id,
            };
            // Held for an entity whose record is gone: the entity was sent, so upload it now.
            let held_for = m.held_for.filter(|e| self.entity_exists(e));
            out.push(Resumed {
                record,
                target,
                attachment,
                held_for,
            });
        }
        out
    }
}

/// Sortable, unique across processes: nanoseconds since the epoch, pid, counter.
fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{nanos:020}-{}-{:06}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(unix)]
fn lock_exclusive(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Not enforced outside Unix (std's file locks need a newer Rust than the MSRV): there, two
/// clients must not be given the same outbox directory. The option's documentation says so.
#[cfg(not(unix))]
fn lock_exclusive(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

/// Whether an upload that failed with `e` should stay in the outbox for a later try.
pub fn keep_after(e: &Error) -> bool {
    match e.status {
        Status::Network | Status::Timeout | Status::Shutdown | Status::Auth | Status::Io => true,
        Status::Http => e.http_status >= 500 || e.http_status == 429 || e.http_status == 408,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("opik-outbox-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn target() -> Target {
        Target {
            project_name: "p".into(),
            entity_type: EntityType::Span,
            entity_id: "01a1fd85-70ca-7a3b-9c84-0027fde3f4aa".into(),
        }
    }

    #[test]
    fn records_survive_and_resume_in_order() {
        let d = dir("resume");
        let src = std::env::temp_dir().join(format!("opik-outbox-src-{}.png", std::process::id()));
        std::fs::write(&src, b"\x89PNG\r\n\x1a\nabc").unwrap();
        {
            let ob = Outbox::open(&d).unwrap();
            ob.persist(
                &target(),
                &Attachment::from_bytes(&b"one"[..], "1.txt", None).unwrap(),
            )
            .unwrap();
            let (_, from) = ob
                .persist(&target(), &Attachment::from_file(&src, None, None).unwrap())
                .unwrap();
            assert!(
                matches!(from.source(), Source::File(p) if p.starts_with(&d)),
                "uploads from the outbox copy"
            );
            assert!(
                Outbox::open(&d).is_err(),
                "a second client cannot share the outbox"
            );
        }
        std::fs::remove_file(&src).unwrap(); // the original is gone; the record is not
        std::fs::write(d.join("junk.data"), b"orphan").unwrap();
        let ob = Outbox::open(&d).unwrap();
        assert!(!d.join("junk.data").exists(), "orphan data is cleaned up");
        let pending = ob.pending();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].attachment.file_name(), "1.txt");
        assert_eq!(pending[1].attachment.content_type(), "image/png");
        assert_eq!(pending[1].attachment.size(), 11);
        assert_eq!(pending[1].target.entity_type, EntityType::Span);
        for r in &pending {
            ob.remove(&r.record);
        }
        assert!(ob.pending().is_empty());
    }

    #[test]
    fn what_stays_for_a_later_try() {
        assert!(keep_after(&Error::new(Status::Network, "x")));
        assert!(keep_after(
            &Error::new(Status::Http, "x").with_http_status(503)
        ));
        assert!(!keep_after(
            &Error::new(Status::Http, "x").with_http_status(400)
        ));
        assert!(!keep_after(&Error::new(Status::Cancelled, "x")));
        assert!(!keep_after(&Error::new(Status::TooLarge, "x")));
    }
}
