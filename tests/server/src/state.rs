//! Server state: projects, attachment rows, local objects, multipart uploads, faults, transcript.
//!
//! One mutex guards everything mutable; it is never held across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hyper::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::config::{Config, StorageMode};
use crate::faults::{self, ActiveFault, FaultRule, Target};
use crate::presign::Presigner;
use crate::s3_external::ExternalStore;
use crate::storage::{self, Segment, StoredObject};
use crate::transcript::{self, Entry, RecordedRequest};

/// Name used when `project_name` is null or absent.
pub(crate) const DEFAULT_PROJECT: &str = "Default Project";

/// One stored attachment, as returned by `GET /_test/attachments` and
/// [`crate::TestServer::attachments`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttachmentRow {
    /// Project name.
    pub project_name: String,
    /// Project id (UUID).
    pub project_id: String,
    /// `trace` or `span`.
    pub entity_type: String,
    /// Trace or span id.
    pub entity_id: String,
    /// File name.
    pub file_name: String,
    /// Size as recorded (direct mode: bytes received; S3 mode: `file_size` from upload-complete,
    /// checked against the stored object).
    pub file_size: u64,
    /// Resolved MIME type.
    pub mime_type: String,
    /// Lowercase hex SHA-256 of the stored object, or `None` if it could not be read.
    pub sha256: Option<String>,
}

/// Counters returned by `GET /_test/stats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Total request-body bytes received (excluding `/_test/*`).
    pub bytes_received: u64,
    /// Number of requests received (excluding `/_test/*`).
    pub requests: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct Project {
    pub id: String,
    pub name: String,
}

/// An attachment row plus its object key and a cached hash.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub row: AttachmentRow,
    pub key: String,
    /// Changes whenever the row is replaced; guards the lazily computed `row.sha256`.
    pub version: u64,
    pub sha256_done: bool,
}

/// The attachment rows, oldest first (a replaced row moves to the end), found by (project, entity
/// type, entity id, file name) in one hash lookup: with a scan, every upload-complete compared
/// strings with every row ever stored, so the server's cost per upload grew with the number of
/// uploads before it (70% of its CPU after 60,000 small uploads).
#[derive(Default)]
pub(crate) struct Records {
    /// By version: versions only grow, so this is the order rows were (last) stored in.
    rows: BTreeMap<u64, Record>,
    versions: HashMap<RowKey, u64>,
}

type RowKey = (String, String, String, String);

fn row_key(row: &AttachmentRow) -> RowKey {
    (
        row.project_id.clone(),
        row.entity_type.clone(),
        row.entity_id.clone(),
        row.file_name.clone(),
    )
}

impl Records {
    /// Stores `record`, replacing the row with its key.
    pub fn upsert(&mut self, record: Record) {
        if let Some(old) = self.versions.insert(row_key(&record.row), record.version) {
            self.rows.remove(&old);
        }
        self.rows.insert(record.version, record);
    }

    /// Keeps the rows `keep` says to keep.
    pub fn retain(&mut self, mut keep: impl FnMut(&Record) -> bool) {
        let versions = &mut self.versions;
        self.rows.retain(|_, r| {
            let kept = keep(r);
            if !kept {
                versions.remove(&row_key(&r.row));
            }
            kept
        });
    }

    pub fn iter(&self) -> impl Iterator<Item = &Record> {
        self.rows.values()
    }

    pub fn by_version_mut(&mut self, version: u64) -> Option<&mut Record> {
        self.rows.get_mut(&version)
    }

    /// The storage keys of all rows, consuming them.
    pub fn into_keys(self) -> Vec<String> {
        self.rows.into_values().map(|r| r.key).collect()
    }
}

/// A multipart upload in the built-in emulator.
#[derive(Debug)]
pub(crate) struct MultipartUpload {
    pub key: String,
    pub mime_type: String,
    pub parts: BTreeMap<u32, Part>,
}

#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub segment: Segment,
    pub md5_hex: String,
}

impl Part {
    /// The ETag header value S3 returns for this part (quoted).
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.md5_hex)
    }
}

#[derive(Default)]
pub(crate) struct Inner {
    pub projects: Vec<Project>,
    pub records: Records,
    pub objects: HashMap<String, StoredObject>,
    pub uploads: HashMap<String, MultipartUpload>,
    pub faults: Vec<ActiveFault>,
    pub transcript: Vec<Entry>,
    pub next_id: u64,
    pub requests: u64,
    pub traces: crate::entities::EntityStore,
    pub spans: crate::entities::EntityStore,
}

/// Shared by all connections.
pub(crate) struct State {
    pub config: Config,
    /// `http://host:port` of this server (no trailing slash).
    pub self_origin: String,
    /// Built-in emulator presigner (S3 mode without external S3).
    pub builtin: Option<Presigner>,
    /// External S3 (S3 mode with [`Config::external_s3`]).
    pub external: Option<ExternalStore>,
    pub data_dir: tempfile::TempDir,
    pub inner: Mutex<Inner>,
    pub bytes_received: Arc<AtomicU64>,
    file_counter: AtomicU64,
    /// Fired by `POST /_test/close-idle`: every connection closes once it is idle.
    pub close_idle: tokio::sync::Notify,
    /// The recording second listener of the hostile modes, once started.
    pub recorder: Mutex<Option<Arc<crate::hostile::Recorder>>>,
}

impl State {
    pub fn new(
        config: Config,
        self_origin: String,
        builtin: Option<Presigner>,
        external: Option<ExternalStore>,
    ) -> std::io::Result<State> {
        let data_dir = tempfile::Builder::new()
            .prefix("opik-test-server-")
            .tempdir()?;
        Ok(State {
            config,
            self_origin,
            builtin,
            external,
            data_dir,
            inner: Mutex::new(Inner::default()),
            bytes_received: Arc::new(AtomicU64::new(0)),
            file_counter: AtomicU64::new(0),
            close_idle: tokio::sync::Notify::new(),
            recorder: Mutex::new(None),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn is_s3(&self) -> bool {
        self.config.mode == StorageMode::S3
    }

    /// A fresh file path in the data directory, or `None` when bodies are discarded.
    pub fn new_file_path(&self) -> Option<PathBuf> {
        if self.config.discard_bodies {
            return None;
        }
        let n = self.file_counter.fetch_add(1, Ordering::Relaxed);
        Some(self.data_dir.path().join(format!("blob-{n}")))
    }

    pub fn object_key(
        &self,
        project_id: &str,
        entity_type: &str,
        entity_id: &str,
        file_name: &str,
    ) -> String {
        storage::object_key(
            &self.config.workspace,
            project_id,
            entity_type,
            entity_id,
            file_name,
        )
    }

    pub fn get_or_create_project(&self, name: &str) -> Project {
        let mut inner = self.lock();
        if let Some(p) = inner.projects.iter().find(|p| p.name == name) {
            return p.clone();
        }
        let project = Project {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
        };
        inner.projects.push(project.clone());
        project
    }

    pub fn find_project_by_name(&self, name: &str) -> Option<Project> {
        self.lock()
            .projects
            .iter()
            .find(|p| p.name == name)
            .cloned()
    }

    /// Inserts or replaces the row for (project, entity, file name): the latest upload wins.
    pub fn upsert_row(&self, row: AttachmentRow, key: String) {
        let mut inner = self.lock();
        inner.next_id += 1;
        let version = inner.next_id;
        inner.records.upsert(Record {
            row,
            key,
            version,
            sha256_done: false,
        });
    }

    /// Stores a local object, deleting the files of the one it replaces.
    pub fn put_local_object(&self, key: String, object: StoredObject) {
        let old = self.lock().objects.insert(key, object);
        if let Some(old) = old {
            storage::remove_segments(&old.segments);
        }
    }

    /// Removes a local object and its files.
    pub fn remove_local_object(&self, key: &str) {
        let old = self.lock().objects.remove(key);
        if let Some(old) = old {
            storage::remove_segments(&old.segments);
        }
    }

    pub fn local_object(&self, key: &str) -> Option<StoredObject> {
        self.lock().objects.get(key).cloned()
    }

    pub fn add_faults(&self, rules: Vec<FaultRule>) {
        self.lock()
            .faults
            .extend(rules.into_iter().map(ActiveFault::new));
    }

    pub fn take_fault(
        &self,
        method: &str,
        path_and_query: &str,
        target: Target,
    ) -> Option<FaultRule> {
        faults::take_matching(&mut self.lock().faults, method, path_and_query, target)
    }

    /// Appends a transcript entry; returns its id.
    pub fn begin_request(&self, parts: &Parts, target: Target) -> u64 {
        let mut inner = self.lock();
        inner.next_id += 1;
        inner.requests += 1;
        let id = inner.next_id;
        inner.transcript.push(Entry {
            id,
            request: RecordedRequest::begin(parts, target),
        });
        id
    }

    pub fn record_json(&self, id: u64, json: Option<serde_json::Value>) {
        if let Some(r) = transcript::find(&mut self.lock().transcript, id) {
            r.body_json = json;
        }
    }

    pub fn finish_request(&self, id: u64, status: u16, body_len: u64) {
        if let Some(r) = transcript::find(&mut self.lock().transcript, id) {
            r.status = status;
            r.body_len = body_len;
        }
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock()
            .transcript
            .iter()
            .map(|e| e.request.clone())
            .collect()
    }

    pub fn clear_requests(&self) {
        self.lock().transcript.clear();
    }

    pub fn stats(&self) -> Stats {
        Stats {
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            requests: self.lock().requests,
        }
    }

    /// Clears projects, rows, local objects, uploads, traces, spans, faults, transcript and
    /// counters. Returns the keys of rows whose objects live in external S3, for the caller to
    /// delete.
    pub fn reset(&self) -> Vec<String> {
        let old = {
            let mut inner = self.lock();
            let old = std::mem::take(&mut *inner);
            // Ids stay unique across resets: in-flight requests still update their own entries.
            inner.next_id = old.next_id;
            old
        };
        self.bytes_received.store(0, Ordering::Relaxed);
        for object in old.objects.values() {
            storage::remove_segments(&object.segments);
        }
        for upload in old.uploads.values() {
            for part in upload.parts.values() {
                storage::remove_segments(std::slice::from_ref(&part.segment));
            }
        }
        old.records.into_keys()
    }

    /// All rows, computing missing SHA-256 values from storage (and caching them).
    pub async fn attachments(&self) -> Vec<AttachmentRow> {
        let pending: Vec<(u64, String, Option<Vec<Segment>>)> = {
            let inner = self.lock();
            inner
                .records
                .iter()
                .filter(|r| !r.sha256_done)
                .map(|r| {
                    (
                        r.version,
                        r.key.clone(),
                        inner.objects.get(&r.key).map(|o| o.segments.clone()),
                    )
                })
                .collect()
        };
        for (version, key, segments) in pending {
            let hash = match (&self.external, segments) {
                (Some(ext), _) => ext.sha256(&key).await.ok(),
                (None, Some(segments)) => storage::sha256_of(segments).await.ok(),
                (None, None) => None,
            };
            let mut inner = self.lock();
            if let Some(r) = inner.records.by_version_mut(version) {
                r.row.sha256 = hash;
                r.sha256_done = true;
            }
        }
        self.lock().records.iter().map(|r| r.row.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(entity: &str, name: &str, version: u64) -> Record {
        Record {
            row: AttachmentRow {
                project_name: "p".into(),
                project_id: "pid".into(),
                entity_type: "trace".into(),
                entity_id: entity.into(),
                file_name: name.into(),
                file_size: version,
                mime_type: "text/plain".into(),
                sha256: None,
            },
            key: format!("{entity}/{name}"),
            version,
            sha256_done: false,
        }
    }

    fn listed(records: &Records) -> Vec<(String, u64)> {
        records
            .iter()
            .map(|r| (r.key.clone(), r.row.file_size))
            .collect()
    }

    #[test]
    fn records_keep_the_latest_row_per_key_in_the_order_they_were_stored() {
        let mut records = Records::default();
        records.upsert(record("e1", "a", 1));
        records.upsert(record("e1", "b", 2));
        records.upsert(record("e2", "a", 3));
        // Replacing a row moves it to the end, as it did when rows were a list.
        records.upsert(record("e1", "a", 4));
        let pairs = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
            v.iter().map(|(k, s)| (k.to_string(), *s)).collect()
        };
        assert_eq!(
            listed(&records),
            pairs(&[("e1/b", 2), ("e2/a", 3), ("e1/a", 4)])
        );
        assert_eq!(records.by_version_mut(4).map(|r| r.version), Some(4));
        assert!(records.by_version_mut(1).is_none());

        // A removed row's key is free again: storing it adds one row, it replaces none.
        records.retain(|r| r.row.entity_id != "e1");
        assert_eq!(listed(&records), pairs(&[("e2/a", 3)]));
        records.upsert(record("e1", "a", 5));
        records.upsert(record("e2", "a", 6));
        assert_eq!(listed(&records), pairs(&[("e1/a", 5), ("e2/a", 6)]));
        assert_eq!(records.into_keys(), vec!["e1/a", "e2/a"]);
    }
}
