//! The client: configuration, transport and the tokio runtime that runs its I/O.

use crate::error::{Error, Result, Status};
use crate::exec::lanes::Lanes;
use crate::exec::outbox::Outbox;
use crate::exec::queue::{Completion, Operation, Queue};
use crate::exec::sender::Sender;
use crate::http::Transport;
use crate::media::attachment::Attachment;
use crate::observe::{Counter, Observer};
use crate::opik::download::Wanted;
use crate::opik::protocol::Target;
use crate::opik::protocol::{AttachmentInfo, EntityType};
use crate::opik::upload::Progress;
use crate::settings::{Config, Options};
use crate::tracing::Trace;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A connection to one Opik installation. Thread-safe: every method may be called from any number
/// of threads at once. Blocking methods do their HTTP on the calling thread (see [`crate::exec::lanes`]),
/// except uploads over 64 KiB, which run on the client's I/O threads; they must not be called from
/// those threads nor from a download's sink (both get `OPIK_ERR_INVALID_ARGUMENT`).
pub struct Client {
    runtime: Option<tokio::runtime::Runtime>,
    config: Config,
    transport: Arc<Transport>,
    observer: Arc<Observer>,
    queue: Arc<Queue>,
    sender: Arc<Sender>,
    lanes: Lanes,
    born: crate::sys::fork::Birthplace,
    /// Set by [`Client::close_soon`]: blocking calls still running stop at their next step.
    closing: AtomicBool,
}

impl Client {
    pub fn new(options: &Options) -> Result<Client> {
        let config = Config::resolve(options)?;
        Client::with_config(config)
    }

    pub fn with_config(config: Config) -> Result<Client> {
        let observer = Observer::new(config.log.clone(), config.api_key.as_deref());
        let transport = Arc::new(Transport::new(&config, observer.clone())?);
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 4);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .max_blocking_threads(16)
            .thread_name("opik-attachments")
            .on_thread_start(crate::sys::sigpipe::block_on_this_thread)
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::internal(format!("cannot start the I/O runtime: {e}")))?;
        let outbox = config
            .outbox_dir
            .as_deref()
            .map(Outbox::open)
            .transpose()?
            .map(Arc::new);
        let queue = Queue::new(
            runtime.handle().clone(),
            transport.clone(),
            config.upload_concurrency,
            config.queue_limits,
            outbox.clone(),
        )?;
        let sender = Sender::new(
            runtime.handle(),
            transport.clone(),
            queue.clone(),
            observer.clone(),
            config.queue_limits,
            outbox,
            config.embedded_media,
        );
        Ok(Client {
            runtime: Some(runtime),
            config,
            transport,
            observer,
            queue,
            sender,
            lanes: Lanes::default(),
            born: crate::sys::fork::Birthplace::here(),
            closing: AtomicBool::new(false),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Marks the client as closing, for an owner that lets go of it while one of its blocking
    /// calls may still run (the C API's `opik_client_free` from a download's `on_data`): a running
    /// download stops at its next chunk with `OPIK_ERR_SHUTDOWN`, new calls are refused, and the
    /// client closes when the last holder drops it.
    pub fn close_soon(&self) {
        self.closing.store(true, Ordering::Release);
    }

    fn closing_error() -> Error {
        Error::new(Status::Shutdown, "the client is closed")
    }

    /// Checks that the client may be used from this thread in this process.
    fn check_usable(&self) -> Result<&tokio::runtime::Runtime> {
        if self.closing.load(Ordering::Acquire) {
            return Err(Client::closing_error());
        }
        if !self.born.is_here() {
            return Err(Error::forked());
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::invalid("blocking call from inside the library's I/O threads or a download's on_data; use the async API or another thread"));
        }
        self.runtime.as_ref().ok_or_else(Client::closing_error)
    }

    /// Runs a blocking call's HTTP on the calling thread, in a lane (see [`crate::exec::lanes`]).
    fn run<T>(&self, call: impl AsyncFnOnce(&Arc<Transport>) -> Result<T>) -> Result<T> {
        self.check_usable()?;
        let lane = self.lanes.take(&self.transport)?;
        let outcome = lane.block_on(call(&lane.transport));
        self.lanes.give_back(lane);
        outcome
    }

    /// Runs `fut` as a task on the I/O threads and waits for it: for uploads whose parts go out in
    /// parallel, where using every core matters more than a wake-up per request.
    fn run_on_workers<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let runtime = self.check_usable()?;
        let task = runtime.spawn(fut);
        runtime
            .block_on(task)
            .unwrap_or_else(|e| Err(Error::internal(format!("the I/O task failed: {e}"))))
    }

    fn project<'a>(&'a self, project_name: Option<&'a str>) -> Result<&'a str> {
        match project_name {
            None => Ok(&self.config.project_name),
            Some(p) if p.trim().is_empty() => Err(Error::invalid("project_name must not be empty")),
            Some(p) => Ok(p),
        }
    }

    /// Uploads an attachment; blocks until the server has it.
    pub fn upload(
        &self,
        project_name: Option<&str>,
        entity_type: EntityType,
        entity_id: &str,
        attachment: &Attachment,
    ) -> Result<()> {
        self.upload_with_progress(project_name, entity_type, entity_id, attachment, None)
    }

    pub fn upload_with_progress(
        &self,
        project_name: Option<&str>,
        entity_type: EntityType,
        entity_id: &str,
        attachment: &Attachment,
        progress: Option<&Arc<Progress>>,
    ) -> Result<()> {
        let target = Target {
            project_name: self.project(project_name)?.to_owned(),
            entity_type,
            entity_id: validate_entity_id(entity_id)?.to_owned(),
        };
        let concurrency = self.config.upload_concurrency;
        if crate::opik::upload::is_small(attachment) {
            return self.run(async |transport| {
                crate::opik::upload::upload(transport, concurrency, &target, attachment, progress)
                    .await
            });
        }
        let transport = self.transport.clone();
        let (attachment, progress) = (attachment.clone(), progress.cloned());
        self.run_on_workers(async move {
            crate::opik::upload::upload(
                &transport,
                concurrency,
                &target,
                &attachment,
                progress.as_ref(),
            )
            .await
        })
    }

    /// Queues an upload and returns at once: validation, limits and (with an outbox) the durable
    /// record happen here; the upload runs on the client's threads. `completion` runs exactly once,
    /// on the callback thread.
    pub fn upload_async(
        &self,
        project_name: Option<&str>,
        entity_type: EntityType,
        entity_id: &str,
        attachment: &Attachment,
        completion: Option<Completion>,
    ) -> Result<Arc<Operation>> {
        let target = Target {
            project_name: self.project(project_name)?.to_owned(),
            entity_type,
            entity_id: validate_entity_id(entity_id)?.to_owned(),
        };
        if self.runtime.is_none() || self.closing.load(Ordering::Acquire) {
            return Err(Client::closing_error());
        }
        self.queue.submit(target, attachment.clone(), completion)
    }

    /// Starts a trace in `project_name` (`None`: the client's project). Nothing is sent until it
    /// ends; see [`Trace`].
    pub fn trace(&self, project_name: Option<&str>, name: Option<&str>) -> Result<Trace> {
        if !self.born.is_here() {
            return Err(Error::forked());
        }
        if self.runtime.is_none() || self.closing.load(Ordering::Acquire) {
            return Err(Client::closing_error());
        }
        Ok(Trace::start(
            self.sender.clone(),
            self.project(project_name)?,
            name,
        ))
    }

    /// A counter of background work (see [`Counter`]).
    pub fn counter(&self, which: Counter) -> u64 {
        self.observer.counters.get(which)
    }

    /// Blocks until every trace and span ended and every background upload queued before it was
    /// delivered or finally failed, or `timeout` passed (`OPIK_ERR_TIMEOUT`, with the number
    /// still pending).
    pub fn flush(&self, timeout: std::time::Duration) -> Result<()> {
        let start = std::time::Instant::now();
        self.sender.flush(timeout)?;
        self.queue.flush(timeout.saturating_sub(start.elapsed()))
    }

    /// Background uploads accepted and not yet completed.
    pub fn pending(&self) -> usize {
        self.queue.pending() + self.sender.pending()
    }

    /// Every attachment of the entity.
    pub fn list(
        &self,
        project_name: Option<&str>,
        entity_type: EntityType,
        entity_id: &str,
    ) -> Result<Vec<AttachmentInfo>> {
        let project = self.project(project_name)?;
        let entity_id = validate_entity_id(entity_id)?;
        self.run(async |t| {
            let id = crate::opik::list::project_id(t, project).await?;
            crate::opik::list::list(t, &id, entity_type, entity_id).await
        })
    }

    /// Streams an attachment to `sink` on the calling thread; returns the byte count.
    pub fn download(
        &self,
        project_name: Option<&str>,
        entity_type: EntityType,
        entity_id: &str,
        file_name: &str,
        mime_type: Option<&str>,
        mut sink: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<u64> {
        let wanted = self.wanted(project_name, entity_type, entity_id, file_name, mime_type)?;
        let mut sink = |chunk: &[u8]| {
            sink(chunk)?;
            if self.closing.load(Ordering::Acquire) {
                return Err(Error::new(
                    Status::Shutdown,
                    "the client was freed during the download; download stopped",
                ));
            }
            Ok(())
        };
        // The library's own writes never raise SIGPIPE (`crate::http`'s connections), but `sink`
        // runs the caller's code, which may write to a pipe (`opik_download`'s `on_data` writing
        // to stdout piped into `head`): such a write fails with EPIPE instead of killing the
        // program, as it always has.
        let _sigpipe = crate::sys::sigpipe::CallerGuard::new();
        self.run(async |t| crate::opik::download::download(t, &wanted, &mut sink).await)
    }

    /// Downloads an attachment into `dest` atomically (temporary file, then rename).
    pub fn download_to_file(
        &self,
        project_name: Option<&str>,
        entity_type: EntityType,
        entity_id: &str,
        file_name: &str,
        mime_type: Option<&str>,
        dest: &Path,
    ) -> Result<u64> {
        let wanted = self.wanted(project_name, entity_type, entity_id, file_name, mime_type)?;
        self.run(async |t| crate::opik::download::download_to_file(t, &wanted, dest).await)
    }

    fn wanted<'a>(
        &'a self,
        project_name: Option<&'a str>,
        entity_type: EntityType,
        entity_id: &'a str,
        file_name: &'a str,
        mime_type: Option<&'a str>,
    ) -> Result<Wanted<'a>> {
        if file_name.is_empty() {
            return Err(Error::invalid("file_name must not be empty"));
        }
        Ok(Wanted {
            project_name: self.project(project_name)?,
            entity_type,
            entity_id: validate_entity_id(entity_id)?,
            file_name,
            mime_type,
        })
    }

    /// Deletes the named attachments (unknown names are not an error).
    pub fn delete(
        &self,
        project_name: Option<&str>,
        entity_type: EntityType,
        entity_id: &str,
        file_names: &[&str],
    ) -> Result<()> {
        let project = self.project(project_name)?;
        let entity_id = validate_entity_id(entity_id)?;
        if file_names.iter().any(|n| n.is_empty()) {
            return Err(Error::invalid("file_names must not contain an empty name"));
        }
        self.run(async |t| {
            crate::opik::delete::delete(t, project, entity_type, entity_id, file_names).await
        })
    }
}

impl Drop for Client {
    /// Closing: stop intake, give background uploads `shutdown_timeout` to finish, cancel the rest,
    /// stop the runtime, run the last completions, join every thread. Called from inside one of
    /// this client's callbacks, it cannot join the thread it runs on: the same steps then run on a
    /// helper thread and this returns at once.
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        if !self.born.is_here() {
            // The threads do not exist in a forked child and their locks may be held forever:
            // touch nothing, join nothing.
            std::mem::forget(runtime);
            std::mem::forget(self.queue.clone());
            self.lanes.abandon();
            return;
        }
        let queue = self.queue.clone();
        let grace = self.config.shutdown_timeout;
        let sender = self.sender.clone();
        let close = move || {
            let start = std::time::Instant::now();
            sender.shutdown(grace);
            queue.shutdown(grace.saturating_sub(start.elapsed()));
            drop(runtime); // joins the workers; unfinished tasks complete with OPIK_ERR_SHUTDOWN
            queue.join_callbacks();
        };
        if self.queue.on_callback_thread() || tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::Builder::new()
                .name("opik-close".into())
                .spawn(close);
        } else {
            close();
        }
    }
}

/// Trace and span ids are UUIDs (the backend refuses anything else).
pub fn validate_entity_id(id: &str) -> Result<&str> {
    let b = id.as_bytes();
    let ok = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if ok {
        Ok(id)
    } else if id.is_empty() {
        Err(Error::invalid("entity_id must not be empty"))
    } else {
        Err(Error::invalid(format!(
            "entity_id {id:?} is not a UUID (trace and span ids are UUIDs)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_ids_must_be_uuids() {
        assert!(validate_entity_id("01a1fd85-70ca-7a3b-9c84-0027fde3f4aa").is_ok());
        assert!(validate_entity_id("01A1FD85-70CA-7A3B-9C84-0027FDE3F4AA").is_ok());
        for bad in [
            "",
            "x",
            "01a1fd85-70ca-7a3b-9c84-0027fde3f4a",
            "01a1fd85x70ca-7a3b-9c84-0027fde3f4aa",
            "01a1fd85-70ca-7a3b-9c84-0027fde3f4ag",
        ] {
            assert_eq!(
                validate_entity_id(bad).unwrap_err().status,
                Status::InvalidArgument,
                "{bad}"
            );
        }
    }
}
