//! Background uploads: operations queued by `opik_upload_async`, run on the client's runtime, and
//! reported on one dedicated callback thread (not a runtime thread, so callbacks may call any
//! library function, blocking ones included).
//!
//! Guarantees: the caller's thread only validates, counts and spawns (plus, with an outbox, writes
//! the record); every accepted operation completes exactly once — success, failure, cancel or
//! shutdown — and its completion runs once on the callback thread; nothing runs after
//! [`Queue::shutdown`] returns.

use crate::error::{Error, Result, Status};
use crate::exec::outbox::{self, Outbox, Record};
use crate::http::Transport;
use crate::media::attachment::{Attachment, Source};
use crate::observe::{Counter, Level};
use crate::opik::protocol::Target;
use crate::opik::upload::Progress;
use crate::settings::Limits;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Called once with the operation's result, on the callback thread.
pub type Completion = Box<dyn FnOnce(&Result<()>) + Send>;

/// Files uploaded at once by the background queue (each with its own parts in flight).
const FILES_IN_FLIGHT: usize = 4;
/// With an outbox, an unreachable server is retried until this backoff cap, forever.
const OUTBOX_MAX_BACKOFF: Duration = Duration::from_secs(30);

thread_local! {
    /// On a callback thread: (queue id, id of the operation whose completion is running).
    static IN_CALLBACK: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

/// One background upload, shared by its handle, its task and the queue.
pub struct Operation {
    id: u64,
    queue_id: u64,
    born: crate::sys::fork::Birthplace,
    state: Mutex<OpState>,
    changed: Condvar,
    cancel: CancellationToken,
    pub progress: Arc<Progress>,
}

#[derive(Default)]
struct OpState {
    result: Option<Result<()>>,
    completion_ran: bool,
}

impl Operation {
    /// The result, or `None` while the upload runs.
    pub fn result(&self) -> Option<Result<()>> {
        lock(&self.state).result.clone()
    }

    /// Asks the operation to stop; idempotent, from any thread.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits until the operation finished and its completion returned (from inside a completion:
    /// until it finished). `Ok(true)` when finished, `Ok(false)` on timeout.
    pub fn wait(&self, timeout: Duration) -> Result<bool> {
        if !self.born.is_here() {
            return Err(Error::forked());
        }
        let on_callback_thread = match IN_CALLBACK.get() {
            Some((queue, op)) if queue == self.queue_id && op == self.id => {
                return Err(Error::invalid(
                    "waiting on the operation whose completion callback is running would wait for itself; it has already finished",
                ))
            }
            Some((queue, _)) => queue == self.queue_id,
            None => false,
        };
        let deadline = Instant::now().checked_add(timeout);
        let mut st = lock(&self.state);
        loop {
            // The callback thread cannot wait for completions it has yet to run.
            let done = if on_callback_thread {
                st.result.is_some()
            } else {
                st.completion_ran
            };
            if done {
                return Ok(true);
            }
            st = match deadline {
                None => self.changed.wait(st).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    self.changed
                        .wait_timeout(st, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Counters {
    /// Accepted operations without a result yet.
    running: usize,
    /// Accepted operations whose completion has not returned yet (≥ running).
    uncalled: usize,
    memory: u64,
    closed: bool,
    ops: HashMap<u64, Arc<Operation>>,
}

struct Job {
    op: Arc<Operation>,
    result: Result<()>,
    completion: Option<Completion>,
}

/// The background queue of one client.
pub struct Queue {
    id: u64,
    born: crate::sys::fork::Birthplace,
    handle: tokio::runtime::Handle,
    transport: Arc<Transport>,
    part_concurrency: u32,
    limits: Limits,
    outbox: Option<Arc<Outbox>>,
    counters: Mutex<Counters>,
    changed: Condvar,
    callbacks: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
    callback_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    files_in_flight: Arc<tokio::sync::Semaphore>,
    shutting_down: AtomicBool,
    next_op: AtomicU64,
}

impl Queue {
    pub fn new(
        handle: tokio::runtime::Handle,
        transport: Arc<Transport>,
        part_concurrency: u32,
        limits: Limits,
        outbox: Option<Arc<Outbox>>,
    ) -> Result<Arc<Queue>> {
        static QUEUE_IDS: AtomicU64 = AtomicU64::new(1);
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Queue {
            id: QUEUE_IDS.fetch_add(1, Ordering::Relaxed),
            born: crate::sys::fork::Birthplace::here(),
            handle,
            transport,
            part_concurrency,
            limits,
            outbox,
            counters: Mutex::new(Counters {
                running: 0,
                uncalled: 0,
                memory: 0,
                closed: false,
                ops: HashMap::new(),
            }),
            changed: Condvar::new(),
            callbacks: Mutex::new(Some(tx)),
            callback_thread: Mutex::new(None),
            files_in_flight: Arc::new(tokio::sync::Semaphore::new(FILES_IN_FLIGHT)),
            shutting_down: AtomicBool::new(false),
            next_op: AtomicU64::new(1),
        });
        // The thread holds only a weak reference, so the queue can be dropped while it runs.
        let weak = Arc::downgrade(&queue);
        let queue_id = queue.id;
        let thread = std::thread::Builder::new()
            .name("opik-callbacks".into())
            .spawn(move || {
                crate::sys::sigpipe::block_on_this_thread();
                for job in rx {
                    let op = run_completion(queue_id, job);
                    if let Some(q) = weak.upgrade() {
                        q.completion_returned(&op);
                    }
                }
            })
            .map_err(|e| Error::internal(format!("cannot start the callback thread: {e}")))?;
        *lock(&queue.callback_thread) = Some(thread);
        if let Some(ob) = &queue.outbox {
            // Attachments held for an entity not sent yet are the sender's to queue.
            let resumed: Vec<_> = ob
                .pending()
                .into_iter()
                .filter(|r| r.held_for.is_none())
                .collect();
            if !resumed.is_empty() {
                queue.transport.observer().log.emit(
                    Level::Warn,
                    &format!(
                        "resuming {} uploads left in the outbox by an earlier client",
                        resumed.len()
                    ),
                );
            }
            for r in resumed {
                queue.admit(0)?;
                queue.spawn(r.target, r.attachment, Some(r.record), None, 0);
            }
        }
        Ok(queue)
    }

    /// Accepts an upload: checks the limits, records it in the outbox when there is one, and
    /// starts it. Does no network I/O and reads no file (with an outbox, writes the record).
    pub fn submit(
        self: &Arc<Self>,
        target: Target,
        attachment: Attachment,
        completion: Option<Completion>,
    ) -> Result<Arc<Operation>> {
        if !self.born.is_here() {
            return Err(Error::forked());
        }
        let memory = match attachment.source() {
            Source::Memory(b) => b.len() as u64,
            Source::File(_) => 0,
        };
        self.admit(memory)?;
        let (record, attachment) = match &self.outbox {
            None => (None, attachment),
            Some(ob) => match ob.persist(&target, &attachment) {
                Ok((record, from)) => (Some(record), from),
                Err(e) => {
                    self.release(memory, None, false);
                    return Err(e);
                }
            },
        };
        Ok(self.spawn(target, attachment, record, completion, memory))
    }

    /// Starts an upload already recorded in the outbox (an attachment held for its entity until
    /// the entity was sent).
    pub fn submit_recorded(
        self: &Arc<Self>,
        target: Target,
        attachment: Attachment,
        record: Record,
    ) -> Result<Arc<Operation>> {
        self.admit(0)?;
        Ok(self.spawn(target, attachment, Some(record), None, 0))
    }

    fn admit(&self, memory: u64) -> Result<()> {
        let mut c = lock(&self.counters);
        if c.closed {
            return Err(Error::new(
                Status::Shutdown,
                "the client is closing; no new uploads are accepted",
            ));
        }
        if c.uncalled >= self.limits.max_queued {
            return Err(Error::new(
                Status::TooLarge,
                format!(
                    "the upload queue is full ({} uploads not finished; limit {}): wait with a flush or raise the queue limits option",
                    c.uncalled, self.limits.max_queued
                ),
            ));
        }
        if c.memory + memory > self.limits.max_memory {
            return Err(Error::new(
                Status::TooLarge,
                format!(
                    "queued in-memory attachments would hold {} bytes (limit {}): wait with a flush, upload from a file, or raise the queue limits option",
                    c.memory + memory,
                    self.limits.max_memory
                ),
            ));
        }
        c.running += 1;
        c.uncalled += 1;
        c.memory += memory;
        Ok(())
    }

    /// Undoes `admit` for an operation that did not start, or accounts a finished one.
    fn release(&self, memory: u64, op: Option<u64>, started: bool) {
        let mut c = lock(&self.counters);
        c.running -= 1;
        if !started {
            c.uncalled -= 1;
        }
        c.memory -= memory;
        if let Some(id) = op {
            c.ops.remove(&id);
        }
        self.changed.notify_all();
    }

    fn spawn(
        self: &Arc<Self>,
        target: Target,
        attachment: Attachment,
        record: Option<Record>,
        completion: Option<Completion>,
        memory: u64,
    ) -> Arc<Operation> {
        let op = Arc::new(Operation {
            id: self.next_op.fetch_add(1, Ordering::Relaxed),
            queue_id: self.id,
            born: self.born,
            state: Mutex::new(OpState::default()),
            changed: Condvar::new(),
            cancel: CancellationToken::new(),
            progress: Arc::new(Progress::default()),
        });
        op.progress
            .total
            .store(attachment.size(), Ordering::Relaxed);
        lock(&self.counters).ops.insert(op.id, op.clone());
        let label = format!(
            "{} {} file {}",
            target.entity_type.as_str(),
            target.entity_id,
            attachment.file_name()
        );
        let finisher = Finisher {
            queue: self.clone(),
            op: op.clone(),
            record,
            completion,
            memory,
            label: label.clone(),
            size: attachment.size(),
            done: false,
        };
        let queue = self.clone();
        let task_op = op.clone();
        // The task spawned here stays small: the upload's large state machine is boxed when the
        // task first runs on a worker, not allocated on the caller's thread.
        self.handle.spawn(async move {
            let mut finisher = finisher;
            let upload = Box::pin(crate::observe::in_context(
                label,
                queue.upload_until_settled(&target, &attachment, &task_op),
            ));
            let result = tokio::select! {
                biased;
                _ = task_op.cancel.cancelled() => Err(queue.cancelled_error()),
                r = upload => r,
            };
            finisher.finish(result);
        });
        op
    }

    fn cancelled_error(&self) -> Error {
        if self.shutting_down.load(Ordering::Relaxed) {
            let kept = if self.outbox.is_some() {
                "; it stays in the outbox for the next client"
            } else {
                ""
            };
            Error::new(
                Status::Shutdown,
                format!("the client was closed before the upload finished{kept}"),
            )
        } else {
            Error::new(Status::Cancelled, "the upload was cancelled")
        }
    }

    /// One upload, with a bounded number of files in flight. With an outbox, failures that a later
    /// try can fix (server unreachable, 5xx) are retried with backoff until cancelled.
    async fn upload_until_settled(
        &self,
        target: &Target,
        attachment: &Attachment,
        op: &Operation,
    ) -> Result<()> {
        let _permit = self
            .files_in_flight
            .acquire()
            .await
            .map_err(|_| Error::new(Status::Shutdown, "the client is closing"))?;
        let mut wait = Duration::from_secs(1);
        loop {
            let result = crate::opik::upload::upload(
                &self.transport,
                self.part_concurrency,
                target,
                attachment,
                Some(&op.progress),
            )
            .await;
            match result {
                Err(e)
                    if self.outbox.is_some()
                        && matches!(e.status, Status::Network | Status::Timeout | Status::Http)
                        && outbox::keep_after(&e) =>
                {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(OUTBOX_MAX_BACKOFF);
                }
                other => return other,
            }
        }
    }

    /// Books a returned completion: first the queue's count (so `pending()` never counts an
    /// operation whose waiters were already released), then the operation's waiters.
    fn completion_returned(&self, op: &Operation) {
        {
            let mut c = lock(&self.counters);
            c.uncalled -= 1;
            self.changed.notify_all();
        }
        lock(&op.state).completion_ran = true;
        op.changed.notify_all();
    }

    /// Operations accepted and whose completion has not returned.
    pub fn pending(&self) -> usize {
        lock(&self.counters).uncalled
    }

    /// Blocks until every accepted operation completed (and, unless called from a completion,
    /// its completion returned), or `timeout` passed.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        if !self.born.is_here() {
            return Err(Error::forked());
        }
        let from_callback = IN_CALLBACK.get().is_some_and(|(q, _)| q == self.id);
        let done = self.wait_until(timeout, |c| {
            if from_callback {
                c.running == 0
            } else {
                c.uncalled == 0
            }
        });
        if done {
            return Ok(());
        }
        let c = lock(&self.counters);
        let kept = if self.outbox.is_some() {
            " (they are kept in the outbox)"
        } else {
            ""
        };
        Err(Error::new(
            Status::Timeout,
            format!(
                "flush timed out with {} uploads still pending, {} of them still running{kept}",
                c.uncalled, c.running
            ),
        ))
    }

    fn wait_until(&self, timeout: Duration, done: impl Fn(&Counters) -> bool) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut c = lock(&self.counters);
        loop {
            if done(&c) {
                return true;
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return false;
            }
            c = self
                .changed
                .wait_timeout(c, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Stops intake, lets running uploads finish for up to `grace`, cancels the rest (they
    /// complete with `OPIK_ERR_SHUTDOWN`; outbox records stay), then waits for every completion.
    /// Runtime tasks must be stopped by the caller before [`Queue::join_callbacks`].
    pub fn shutdown(&self, grace: Duration) {
        lock(&self.counters).closed = true;
        if !self.wait_until(grace, |c| c.uncalled == 0) {
            self.shutting_down.store(true, Ordering::Relaxed);
            let ops: Vec<Arc<Operation>> = lock(&self.counters).ops.values().cloned().collect();
            for op in ops {
                op.cancel();
            }
            // Cancellation is prompt; a task stuck in a file read is stopped by the runtime drop.
            self.wait_until(Duration::from_secs(5), |c| c.running == 0);
        }
    }

    /// Closes the callback channel and joins the callback thread after it ran every completion.
    /// Call after the runtime is gone (no task can queue a completion any more).
    pub fn join_callbacks(&self) {
        drop(lock(&self.callbacks).take());
        let thread = lock(&self.callback_thread).take();
        if let Some(t) = thread {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }

    /// Whether the current thread is this queue's callback thread.
    pub fn on_callback_thread(&self) -> bool {
        IN_CALLBACK.get().is_some_and(|(q, _)| q == self.id)
    }
}

/// Completes an operation exactly once: from its task, or — if the task is dropped unfinished
/// (runtime shutdown) — from the drop.
struct Finisher {
    queue: Arc<Queue>,
    op: Arc<Operation>,
    record: Option<Record>,
    completion: Option<Completion>,
    memory: u64,
    /// What the upload is, for log lines: "span <id> file <name>".
    label: String,
    size: u64,
    done: bool,
}

impl Finisher {
    /// Counts the outcome and logs a failure (a cancel asked for by the program at INFO).
    fn count(&self, result: &Result<()>) {
        let observer = self.queue.transport.observer();
        match result {
            Ok(()) => {
                observer.counters.add(Counter::AttachmentsSent, 1);
                observer.counters.add(Counter::BytesSent, self.size);
            }
            Err(e) => {
                observer.counters.add(Counter::AttachmentsFailed, 1);
                let level = if e.status == Status::Cancelled {
                    Level::Info
                } else {
                    Level::Error
                };
                let kept = if self.record.is_some() && outbox::keep_after(e) {
                    "; kept in the outbox"
                } else {
                    ""
                };
                observer.log.emit(
                    level,
                    &format!(
                        "{}: not uploaded: {}: {}{kept}",
                        self.label,
                        e.status.name(),
                        e.message
                    ),
                );
            }
        }
    }

    fn finish(&mut self, result: Result<()>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        if let (Some(ob), Some(rec)) = (&self.queue.outbox, &self.record) {
            let keep = matches!(&result, Err(e) if outbox::keep_after(e));
            if !keep {
                ob.remove(rec);
            }
        }
        self.count(&result);
        lock(&self.op.state).result = Some(result.clone());
        self.op.changed.notify_all();
        self.queue.release(self.memory, Some(self.op.id), true);
        let job = Job {
            op: self.op.clone(),
            result,
            completion: self.completion.take(),
        };
        let unsent = match &*lock(&self.queue.callbacks) {
            Some(tx) => tx.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        // The callback thread is gone only after shutdown; run the completion here then.
        if let Some(job) = unsent {
            let op = run_completion(self.queue.id, job);
            self.queue.completion_returned(&op);
        }
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        if !self.done {
            // Dropped unfinished: either the task panicked (a bug: unwinding drops it) or the
            // runtime stopped with the task still queued (the client closed).
            let error = if std::thread::panicking() {
                Error::internal("the upload task panicked (please report this bug)")
            } else {
                Error::new(
                    Status::Shutdown,
                    "the client was closed before the upload finished",
                )
            };
            self.finish(Err(error));
        }
    }
}

/// Runs the caller's completion (if any) and returns the operation, for
/// [`Queue::completion_returned`].
fn run_completion(queue_id: u64, job: Job) -> Arc<Operation> {
    let Job {
        op,
        result,
        completion,
    } = job;
    if let Some(f) = completion {
        let previous = IN_CALLBACK.replace(Some((queue_id, op.id)));
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&result)));
        IN_CALLBACK.set(previous);
    }
    op
}
