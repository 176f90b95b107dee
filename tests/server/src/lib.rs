//! An Opik-compatible attachment, trace and span server for tests.
//!
//! It fakes the attachment endpoints of the Opik backend (see `shared/opik-protocol.md`) in both
//! storage modes:
//!
//! - **direct** (`IS_MINIO=true`): `upload-start` answers `"BEMinIO"` and one backend upload URL;
//!   bytes are PUT to the server (chunked or with Content-Length) and downloaded from it.
//! - **S3**: `upload-start` creates a multipart upload and answers presigned UploadPart URLs;
//!   list links are presigned GetObject URLs. Storage is either the built-in S3 emulator (served
//!   under `/s3/`, verifying SigV4 query signatures and expiry, strict about Content-Length and
//!   stray `Authorization` headers) or an external S3 server such as SeaweedFS.
//!
//! It also takes traces and spans (`POST v1/private/{traces,spans}/batch`, `PATCH
//! v1/private/{traces,spans}/{id}`) and answers the reads the official SDK makes
//! (`GET v1/private/{traces,spans}/{id}`, the NDJSON `POST v1/private/{traces,spans}/search`),
//! validating like the backend (UUIDv7 ids, required `start_time`, field types) and recording the
//! names of unknown fields; [`TestServer::traces`] and [`TestServer::spans`] return what it holds.
//! The README lists the merge rules.
//!
//! Objects live on disk in a temporary directory and are streamed in both directions.
//! Test controls under `/_test/` inject faults (statuses with Retry-After, delays, dropped
//! connections, expired presigned URLs) and expose the request transcript and the stored rows.
//!
//! In Rust tests, start it in-process with [`TestServer::start`]; other languages run the
//! `opik-test-server` binary and use the HTTP controls.

// Handlers return `Result<Response, Response>` so that validation can bail out with `?`; the
// error variant is a whole response by design.
#![allow(clippy::result_large_err)]

mod body;
mod config;
mod control;
mod direct;
mod dispatch;
mod entities;
mod faults;
mod hostile;
mod params;
mod presign;
mod rest;
mod s3_builtin;
mod s3_external;
mod server;
mod sigv4;
mod state;
mod storage;
mod tls;
mod transcript;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use config::{Config, ExternalS3, StorageMode, TlsPem};
pub use entities::EntityLog;
pub use faults::{FaultRule, TARGETS};
pub use hostile::RecorderRequest;
pub use state::{AttachmentRow, Stats};
pub use transcript::RecordedRequest;

/// A running server on its own thread with its own tokio runtime. Dropping it shuts the server
/// down (open connections are closed) and joins the thread.
///
/// The methods may be called from any thread, including from inside another tokio runtime.
pub struct TestServer {
    base_url: String,
    state: Arc<state::State>,
    handle: tokio::runtime::Handle,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server and returns once it is listening.
    ///
    /// # Panics
    /// If the server cannot start (address in use, external S3 unreachable, ...); use
    /// [`TestServer::try_start`] to get the error instead.
    pub fn start(config: Config) -> TestServer {
        Self::try_start(config).unwrap_or_else(|e| panic!("opik-test-server failed to start: {e}"))
    }

    /// Starts a server and returns once it is listening, or the reason it could not start.
    pub fn try_start(config: Config) -> Result<TestServer, String> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("opik-test-server".to_string())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("opik-test-server-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot build tokio runtime: {e}")));
                        return;
                    }
                };
                match runtime.block_on(server::setup(config)) {
                    Ok((listener, state)) => {
                        let _ = ready_tx.send(Ok((state.clone(), runtime.handle().clone())));
                        runtime.block_on(server::serve(listener, state, shutdown_rx));
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
                runtime.shutdown_timeout(Duration::from_secs(5));
            })
            .map_err(|e| format!("cannot spawn server thread: {e}"))?;
        let ready = ready_rx
            .recv()
            .unwrap_or_else(|_| Err("server thread exited during start-up".to_string()));
        match ready {
            Ok((state, handle)) => Ok(TestServer {
                base_url: format!("{}/", state.self_origin),
                state,
                handle,
                shutdown: Some(shutdown_tx),
                thread: Some(thread),
            }),
            Err(e) => {
                let _ = thread.join();
                Err(e)
            }
        }
    }

    /// The API root, e.g. `http://127.0.0.1:41234/` (`https://` with [`Config::tls`]);
    /// endpoints are `v1/private/...` under it.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Appends a fault rule (see [`FaultRule`] for the semantics).
    ///
    /// # Panics
    /// If `rule.target` is not one of [`TARGETS`].
    pub fn add_fault(&self, rule: FaultRule) {
        if let Err(e) = rule.validate() {
            panic!("{e}");
        }
        self.state.add_faults(vec![rule]);
    }

    /// Removes all fault rules.
    pub fn clear_faults(&self) {
        self.state.lock().faults.clear();
    }

    /// The recorded requests in arrival order (control requests excluded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.state.clear_requests();
    }

    /// Every stored attachment row, with the SHA-256 of its object (computed on first request).
    /// Blocks while hashing.
    pub fn attachments(&self) -> Vec<AttachmentRow> {
        let state = self.state.clone();
        self.run(async move { state.attachments().await })
    }

    /// The traces received through `POST v1/private/traces/batch` and `PATCH v1/private/traces/{id}`:
    /// the entities as received, the updates, the stored (merged) traces in their public shape,
    /// and the names of unknown fields seen.
    pub fn traces(&self) -> EntityLog {
        entities::log(&self.state, entities::Kind::Trace)
    }

    /// The spans, as [`TestServer::traces`] gives the traces.
    pub fn spans(&self) -> EntityLog {
        entities::log(&self.state, entities::Kind::Span)
    }

    /// Request and byte counters.
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Makes every open connection close as soon as it is idle (as a keep-alive timeout would).
    pub fn close_idle_connections(&self) {
        let state = self.state.clone();
        self.run(async move { state.close_idle.notify_waiters() });
    }

    /// The origin (`http://127.0.0.1:PORT`, no trailing slash) of the recorder: a second
    /// listener, started on first use, that answers every request 200 `{}` and records it (the
    /// `{recorder}` of [`FaultRule::redirect_to`]).
    pub fn recorder_url(&self) -> String {
        let state = self.state.clone();
        self.run(async move { hostile::recorder(&state).origin.clone() })
    }

    /// What the recorder received, in arrival order (empty if it was never started).
    pub fn recorder_requests(&self) -> Vec<RecorderRequest> {
        let r = self
            .state
            .recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        r.map(|r| r.requests()).unwrap_or_default()
    }

    /// Clears projects, attachments, objects, uploads, traces, spans, faults, transcript and
    /// counters.
    pub fn reset(&self) {
        let state = self.state.clone();
        self.run(async move { control::reset(&state).await });
    }

    /// Runs a future on the server's runtime and waits for it (works from any thread).
    fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().expect("the server runtime stopped")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}
