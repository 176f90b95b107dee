//! The background sender of traces and spans.
//!
//! `*_end` hands an entity over (after checking the limits); a task on the client's runtime
//! batches what was handed over — at most [`MAX_BATCH`] entities and [`MAX_BATCH_BYTES`] of JSON
//! per request, a batch leaving at the latest [`MAX_AGE`] after its first entity was queued, or at
//! once on a flush — sends traces, then spans, and only then queues each sent entity's
//! attachments on the background upload queue. Encoding happens here, never on the caller's
//! thread. Failures after the call returned are counted and logged, never reported to a caller.

use crate::error::{Error, Result, Status};
use crate::exec::outbox::{self, EntityRecord, Outbox, Record};
use crate::exec::queue::Queue;
use crate::http::Transport;
use crate::media::attachment::Attachment;
use crate::media::extract::extract;
use crate::observe::{Counter, Level, Observer};
use crate::opik::entities::{BatchBody, Entity, SPANS_BATCH, TRACES_BATCH};
use crate::opik::json_field::JsonObject;
use crate::opik::protocol::{EntityType, Target};
use crate::settings::{EmbeddedMedia, Limits};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Entities per batch request (the SDKs' limit).
pub const MAX_BATCH: usize = 1_000;
/// JSON bytes per batch request.
pub const MAX_BATCH_BYTES: usize = 10 * 1024 * 1024;
/// How long an entity may wait for its batch.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// With an outbox, an unreachable server is retried until this backoff cap, forever.
const OUTBOX_MAX_BACKOFF: Duration = Duration::from_secs(30);

struct Queued {
    seq: u64,
    kind: &'static str,
    target: Target,
    body: Body,
    attachments: Vec<Held>,
    record: Option<EntityRecord>,
    weight: u64,
}

/// An entity to send: as built, or already encoded (recorded in the outbox, or resumed from it).
enum Body {
    Entity(Box<Entity>),
    Encoded(Vec<u8>),
}

/// An attachment of a queued entity, with its held outbox record when there is an outbox.
type Held = (Attachment, Option<Record>);

impl Queued {
    fn id(&self) -> &str {
        &self.target.entity_id
    }

    fn encode(&self) -> Vec<u8> {
        match &self.body {
            Body::Entity(e) => e.encode(),
            Body::Encoded(b) => b.clone(),
        }
    }
}

#[derive(Default)]
struct State {
    pending: VecDeque<Queued>,
    first_queued: Option<Instant>,
    bytes: u64,
    /// Sequence numbers: handed over so far, and settled (sent or finally failed) so far.
    submitted: u64,
    settled: u64,
    /// Entities taken by the task and not settled yet.
    in_flight: usize,
    /// Entities admitted whose outbox records are being written.
    reserved: usize,
    flush_requested: bool,
    closed: bool,
    stop: bool,
}

pub struct Sender {
    born: crate::sys::fork::Birthplace,
    state: Mutex<State>,
    settled: Condvar,
    wake: tokio::sync::Notify,
    transport: Arc<Transport>,
    uploads: Arc<Queue>,
    observer: Arc<Observer>,
    limits: Limits,
    outbox: Option<Arc<Outbox>>,
    embedded: EmbeddedMedia,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sender {
    pub fn new(
        handle: &tokio::runtime::Handle,
        transport: Arc<Transport>,
        uploads: Arc<Queue>,
        observer: Arc<Observer>,
        limits: Limits,
        outbox: Option<Arc<Outbox>>,
        embedded: EmbeddedMedia,
    ) -> Arc<Sender> {
        let sender = Arc::new(Sender {
            born: crate::sys::fork::Birthplace::here(),
            state: Mutex::default(),
            settled: Condvar::new(),
            wake: tokio::sync::Notify::new(),
            transport,
            uploads,
            observer,
            limits,
            outbox,
            embedded,
        });
        sender.resume();
        handle.spawn(sender.clone().run());
        sender
    }

    /// Queues what an earlier client left in the outbox: entities not sent yet, each with its
    /// held attachments.
    fn resume(&self) {
        let Some(ob) = &self.outbox else { return };
        let resumed = ob.pending_entities();
        if resumed.is_empty() {
            return;
        }
        self.observer.log.emit(
            Level::Warn,
            &format!(
                "resuming {} traces and spans left in the outbox by an earlier client",
                resumed.len()
            ),
        );
        let mut st = lock(&self.state);
        for r in resumed {
            st.submitted += 1;
            let weight = r.body.len() as u64;
            st.bytes += weight;
            st.first_queued.get_or_insert_with(Instant::now);
            let seq = st.submitted;
            st.pending.push_back(Queued {
                seq,
                kind: if r.kind == "span" { "span" } else { "trace" },
                target: r.target,
                body: Body::Encoded(r.body),
                attachments: r
                    .attachments
                    .into_iter()
                    .map(|a| (a.attachment, Some(a.record)))
                    .collect(),
                record: Some(r.record),
                weight,
            });
        }
    }

    /// Hands an ended entity and its attachments over. Only checks and copies: no I/O, no
    /// encoding. Over the queue limits the entity is refused (`OPIK_ERR_TOO_LARGE`).
    pub fn submit(&self, entity: Entity, attachments: Vec<Attachment>) -> Result<()> {
        if !self.born.is_here() {
            return Err(Error::forked());
        }
        let weight = entity.common().weight();
        {
            let mut st = lock(&self.state);
            if st.closed {
                return Err(Error::new(
                    Status::Shutdown,
                    format!(
                        "the client is closing: {} {} is not sent",
                        entity.kind(),
                        entity.id()
                    ),
                ));
            }
            let queued = st.pending.len() + st.in_flight + st.reserved;
            if queued >= self.limits.max_queued || st.bytes + weight > self.limits.max_memory {
                return Err(Error::new(
                    Status::TooLarge,
                    format!(
                        "the send queue is full ({queued} entities, {} bytes; limits {} and {}): \
                         {} {} is not sent; flush more often or raise the queue limits",
                        st.bytes,
                        self.limits.max_queued,
                        self.limits.max_memory,
                        entity.kind(),
                        entity.id()
                    ),
                ));
            }
            st.reserved += 1;
            st.bytes += weight;
        }
        let kind = entity.kind();
        let target = target_of(&entity);
        let recorded = match &self.outbox {
            None => Ok((
                Body::Entity(Box::new(entity)),
                attachments.into_iter().map(|a| (a, None)).collect(),
                None,
            )),
            Some(ob) => record(ob, &entity, &target, attachments),
        };
        let mut st = lock(&self.state);
        st.reserved -= 1;
        let (body, attachments, record) = match recorded {
            Ok(r) => r,
            Err(e) => {
                st.bytes -= weight;
                return Err(e);
            }
        };
        st.submitted += 1;
        let seq = st.submitted;
        st.first_queued.get_or_insert_with(Instant::now);
        st.pending.push_back(Queued {
            seq,
            kind,
            target,
            body,
            attachments,
            record,
            weight,
        });
        // The task sleeps without a deadline until a batch's first entity arrives, and must be
        // woken early when a batch is full; otherwise its deadline wakes it.
        let wake = st.pending.len() == 1 || st.pending.len() >= MAX_BATCH;
        drop(st);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Entities handed over and not settled.
    pub fn pending(&self) -> usize {
        let st = lock(&self.state);
        st.pending.len() + st.in_flight
    }

    /// Sends what is queued at once and waits until every entity handed over before this call
    /// was sent or finally failed (its attachments are then on the upload queue), or `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        if !self.born.is_here() {
            return Err(Error::forked());
        }
        let deadline = Instant::now().checked_add(timeout);
        let mut st = lock(&self.state);
        let target = st.submitted;
        if st.settled >= target {
            return Ok(());
        }
        st.flush_requested = true;
        self.wake.notify_one();
        while st.settled < target {
            let left = deadline.map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return Err(Error::new(
                    Status::Timeout,
                    format!(
                        "flush timed out with {} traces and spans not sent yet",
                        st.pending.len() + st.in_flight
                    ),
                ));
            }
            st = self
                .settled
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Ok(())
    }

    /// Stops intake, gives what is queued `grace` to go out, then stops the task; what is left is
    /// counted and logged as failed.
    pub fn shutdown(&self, grace: Duration) {
        lock(&self.state).closed = true;
        let _ = self.flush(grace);
        let left: Vec<Queued> = {
            let mut st = lock(&self.state);
            st.stop = true;
            st.pending.drain(..).collect()
        };
        self.wake.notify_one();
        if !left.is_empty() {
            let error = Error::new(Status::Shutdown, "the client closed before it was sent");
            let refs: Vec<&Queued> = left.iter().collect();
            self.fail_refs(&refs, &error, self.outbox.is_some());
            let mut st = lock(&self.state);
            st.settled = st.submitted;
            self.settled.notify_all();
        }
    }

    async fn run(self: Arc<Self>) {
        loop {
            let Some(mut batch) = self.next_batch().await else {
                return;
            };
            if self.embedded.enabled {
                for q in &mut batch {
                    self.extract_media(q);
                }
            }
            self.deliver(&batch).await;
            let mut st = lock(&self.state);
            st.in_flight -= batch.len();
            st.bytes -= batch.iter().map(|q| q.weight).sum::<u64>();
            if let Some(last) = batch.last() {
                st.settled = st.settled.max(last.seq);
            }
            if st.pending.is_empty() && st.in_flight == 0 {
                st.flush_requested = false;
            }
            self.settled.notify_all();
        }
    }

    /// Waits for a batch to be due and takes it; `None` when the sender stopped.
    async fn next_batch(&self) -> Option<Vec<Queued>> {
        loop {
            let notified = self.wake.notified();
            let due = {
                let mut st = lock(&self.state);
                if st.stop {
                    return None;
                }
                let ready = !st.pending.is_empty()
                    && (st.flush_requested
                        || st.closed
                        || st.pending.len() >= MAX_BATCH
                        || st.bytes >= MAX_BATCH_BYTES as u64
                        || st.first_queued.is_some_and(|t| t.elapsed() >= MAX_AGE));
                if ready {
                    let n = st.pending.len().min(MAX_BATCH);
                    let batch: Vec<Queued> = st.pending.drain(..n).collect();
                    st.in_flight += batch.len();
                    st.first_queued = if st.pending.is_empty() {
                        None
                    } else {
                        Some(Instant::now())
                    };
                    return Some(batch);
                }
                st.first_queued.map(|t| t + MAX_AGE)
            };
            match due {
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Sends the batch (traces first, then spans, cut at [`MAX_BATCH_BYTES`]); after each sent
    /// request, queues its entities' attachments.
    async fn deliver(&self, batch: &[Queued]) {
        for (key, path, want) in [
            ("traces", TRACES_BATCH, "trace"),
            ("spans", SPANS_BATCH, "span"),
        ] {
            let of_kind: Vec<&Queued> = batch.iter().filter(|q| q.kind == want).collect();
            let mut body = BatchBody::new(key);
            let mut members: Vec<&Queued> = Vec::new();
            for q in of_kind {
                let encoded = q.encode();
                if body.count() > 0 && body.len() + encoded.len() + 2 > MAX_BATCH_BYTES {
                    let full = std::mem::replace(&mut body, BatchBody::new(key));
                    self.send(path, full, &std::mem::take(&mut members)).await;
                }
                body.push(&encoded);
                members.push(q);
            }
            if body.count() > 0 {
                self.send(path, body, &members).await;
            }
        }
    }

    async fn send(&self, path: &str, body: BatchBody, members: &[&Queued]) {
        let count = body.count();
        let json = body.finish();
        let bytes = json.len() as u64;
        let first = members.first().map_or("", |q| q.id());
        let step = format!("{path} ({count} entities from {first})");
        let context = format!(
            "{} batch of {count}",
            members.first().map_or("", |q| q.kind)
        );
        let mut wait = Duration::from_secs(1);
        let sent = loop {
            let sent = crate::observe::in_context(
                context.clone(),
                self.transport.post_encoded_json(&step, path, json.clone()),
            )
            .await;
            // With an outbox, what a later try can fix waits for the server, as uploads do.
            match sent {
                Err(e) if self.outbox.is_some() && outbox::keep_after(&e) && !self.stopping() => {
                    self.observer.log.emit(
                        Level::Warn,
                        &format!("{context}: {}; kept in the outbox, trying again", e.message),
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(OUTBOX_MAX_BACKOFF);
                }
                other => break other,
            }
        };
        let counters = &self.observer.counters;
        match sent {
            Ok(()) => {
                counters.add(Counter::EntitiesSent, count as u64);
                counters.add(Counter::BytesSent, bytes);
                for q in members {
                    self.queue_attachments(q);
                    if let (Some(ob), Some(rec)) = (&self.outbox, &q.record) {
                        ob.remove_entity(rec);
                    }
                }
            }
            Err(e) => {
                let keep = self.outbox.is_some() && outbox::keep_after(&e);
                self.fail_refs(members, &e, keep);
            }
        }
    }

    /// Moves base64 media out of the entity's `input`, `output` and `metadata` into attachments
    /// uploaded after it (as the Opik SDKs do), here on the sender, never on the caller's thread.
    /// A field the extractor cannot handle is sent as it was.
    fn extract_media(&self, q: &mut Queued) {
        let min = self.embedded.min_chars;
        let mut found = Vec::new();
        match &mut q.body {
            Body::Entity(e) => {
                let c = e.common_mut();
                for (context, field) in [
                    ("input", &mut c.input),
                    ("output", &mut c.output),
                    ("metadata", &mut c.metadata),
                ] {
                    let Some(json) = field.as_ref() else { continue };
                    if let Some((text, media)) = extracted(json.as_str(), context, min) {
                        if let Ok(replaced) = JsonObject::from_json(text) {
                            *field = Some(replaced);
                            found.extend(media);
                        }
                    }
                }
            }
            // Recorded in the outbox before extraction: the fields are taken out of the encoded
            // entity. The attachments found are held in memory only (they are in the record).
            Body::Encoded(bytes) => {
                let Ok(mut map) =
                    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes)
                else {
                    return;
                };
                let mut changed = false;
                for context in ["input", "output", "metadata"] {
                    let Some(value) = map.get(context) else {
                        continue;
                    };
                    let text = value.to_string();
                    if let Some((text, media)) = extracted(&text, context, min) {
                        if let Ok(v) = serde_json::from_str(&text) {
                            map.insert(context.to_owned(), v);
                            found.extend(media);
                            changed = true;
                        }
                    }
                }
                if changed {
                    if let Ok(encoded) = serde_json::to_vec(&map) {
                        *bytes = encoded;
                    }
                }
            }
        }
        q.attachments.extend(found.into_iter().map(|a| (a, None)));
    }

    fn stopping(&self) -> bool {
        let st = lock(&self.state);
        st.stop || st.closed
    }

    fn queue_attachments(&self, q: &Queued) {
        for (a, record) in &q.attachments {
            let queued = match record {
                Some(r) => self
                    .uploads
                    .submit_recorded(q.target.clone(), a.clone(), r.clone()),
                None => self.uploads.submit(q.target.clone(), a.clone(), None),
            };
            if let Err(e) = queued {
                self.observer.counters.add(Counter::AttachmentsFailed, 1);
                self.observer.log.emit(
                    Level::Error,
                    &format!(
                        "{} {} file {}: attachment not queued: {}",
                        q.kind,
                        q.id(),
                        a.file_name(),
                        e.message
                    ),
                );
            }
        }
    }

    /// Counts and logs entities finally not sent (and their attachments). `kept`: their outbox
    /// records stay for the next client; otherwise they are removed.
    fn fail_refs(&self, items: &[&Queued], error: &Error, kept: bool) {
        let counters = &self.observer.counters;
        counters.add(Counter::EntitiesFailed, items.len() as u64);
        let note = if kept { "; kept in the outbox" } else { "" };
        for q in items {
            let (kind, id) = (q.kind, q.id());
            self.observer.log.emit(
                Level::Error,
                &format!(
                    "{kind} {id} not sent: {}: {}{note}",
                    error.status.name(),
                    error.message
                ),
            );
            for (a, record) in &q.attachments {
                counters.add(Counter::AttachmentsFailed, 1);
                self.observer.log.emit(
                    Level::Error,
                    &format!(
                        "{kind} {id} file {}: not uploaded, its {kind} was not sent{note}",
                        a.file_name()
                    ),
                );
                if let (Some(ob), Some(r), false) = (&self.outbox, record, kept) {
                    ob.remove(r);
                }
            }
            if let (Some(ob), Some(r), false) = (&self.outbox, &q.record, kept) {
                ob.remove_entity(r);
            }
        }
    }
}

fn target_of(entity: &Entity) -> Target {
    let (entity_type, project) = match entity {
        Entity::Trace(t) => (EntityType::Trace, &t.common.project_name),
        Entity::Span(s) => (EntityType::Span, &s.common.project_name),
    };
    Target {
        project_name: project.clone(),
        entity_type,
        entity_id: entity.id().to_owned(),
    }
}

/// Records an entity and its attachments in the outbox before it is handed over: the attachments
/// as held uploads, then the encoded entity. On failure nothing stays on disk.
fn record(
    ob: &Outbox,
    entity: &Entity,
    target: &Target,
    attachments: Vec<Attachment>,
) -> Result<(Body, Vec<Held>, Option<EntityRecord>)> {
    let name = ob.new_entity_name();
    let mut held: Vec<Held> = Vec::new();
    let undo = |held: &[Held]| {
        for (_, r) in held {
            if let Some(r) = r {
                ob.remove(r);
            }
        }
    };
    for a in attachments {
        match ob.persist_held(target, &a, &name) {
            Ok((rec, from)) => held.push((from, Some(rec))),
            Err(e) => {
                undo(&held);
                return Err(e);
            }
        }
    }
    let encoded = entity.encode();
    let records: Vec<Record> = held.iter().filter_map(|(_, r)| r.clone()).collect();
    match ob.persist_entity(&name, entity.kind(), target, &encoded, &records) {
        Ok(rec) => Ok((Body::Encoded(encoded), held, Some(rec))),
        Err(e) => {
            undo(&held);
            Err(e)
        }
    }
}

/// The rewritten field and its media, when the extractor found any.
fn extracted(json: &str, context: &str, min_chars: usize) -> Option<(String, Vec<Attachment>)> {
    let (text, media) = extract(json, context, min_chars).ok()?.into_parts();
    (!media.is_empty()).then_some((text, media))
}
