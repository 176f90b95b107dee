//! Lanes: blocking calls do their HTTP on the calling thread.
//!
//! A lane is a single-threaded runtime with its own HTTP connection pool. A blocking call borrows
//! an idle lane from its client (or builds one), drives its requests to the end on the calling
//! thread, and gives the lane back. Nothing crosses threads: the sockets are polled, the response
//! bodies decoded and a download's `on_data` called on the caller's own thread, so a chunk reaches
//! `on_data` straight from the socket read and a small upload's three requests wake no other
//! thread. The thread waits for each answer in the `recv` that reads it, not in the runtime's
//! `epoll_wait` (see `crate::http`'s `tcp.rs`). Run on the shared I/O threads instead, a 1 GiB download handed every chunk across
//! threads and reached 0.55 x curl's throughput (1.21 x on a lane, same benchmark), and a 1 KiB
//! upload cost 200 us of CPU (161 us on a lane).
//!
//! Each lane needs its own connections: a connection belongs to the runtime that opened it, and a
//! lane's runtime runs only while a caller is in it.

use crate::error::{Error, Result};
use crate::http::Transport;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Idle lanes a client keeps (with their connections) for the next blocking calls; beyond that,
/// a lane is closed when its call ends. One per thread that makes blocking calls at the same time.
const LANES_KEPT: usize = 16;

pub(crate) struct Lane {
    runtime: tokio::runtime::Runtime,
    pub transport: Arc<Transport>,
    /// When the lane's last call ended (`None`: never run).
    idle_since: Option<Instant>,
}

impl Lane {
    fn new(template: &Transport) -> Result<Lane> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::internal(format!("cannot start a runtime for this call: {e}")))?;
        // Started now, first polled by the first call.
        drop(runtime.spawn(anchor()));
        Ok(Lane {
            runtime,
            transport: Arc::new(template.for_lane()?),
            idle_since: None,
        })
    }

    /// Runs `fut` to completion on the calling thread. The caller must not be inside a runtime
    /// (the client checks that before taking a lane).
    pub fn block_on<T>(&self, fut: impl Future<Output = T>) -> T {
        let catch_up_first = self
            .idle_since
            .is_none_or(|since| since.elapsed() >= CATCH_UP_AFTER);
        self.runtime.block_on(async {
            if catch_up_first {
                catch_up().await;
            }
            fut.await
        })
    }
}

/// Lets the lane's runtime note what happened to its idle connections while nobody ran it. An
/// idle connection is polled by the next request that takes it (`crate::http`'s pool), which then
/// sees a server's close (a keep-alive timeout) only if the runtime's event loop has noted the
/// socket's readiness since; without this a call could pick that dead connection and fail with
/// "connection closed before message completed". One yield makes the current-thread runtime poll
/// its event loop once without blocking before the call goes on.
async fn catch_up() {
    tokio::task::yield_now().await;
}

/// A lane idle at least this long notes its connections' closes before a call ([`catch_up`]).
/// A call that follows the previous one more closely (a loop of uploads) skips that turn of the
/// event loop and its system call: servers close idle connections after seconds (a keep-alive
/// timeout), and one that closes a connection within this time of answering on it, without
/// saying so, costs that call a retry, not its data.
const CATCH_UP_AFTER: Duration = Duration::from_millis(1);

/// How often a lane's anchor timer fires (only while a call runs the lane).
const ANCHOR_PERIOD: Duration = Duration::from_secs(1);

/// Keeps a timer due within [`ANCHOR_PERIOD`] registered in the lane's runtime. tokio wakes the
/// runtime's driver (an eventfd write, then one more `epoll_wait`) whenever a new timer is due
/// before every timer already registered, so each request's stall timer did that when it was the
/// only one: two extra system calls per request. With this timer due earlier, a stall timer (due
/// after the client's timeout, 60 s by default) is never the first.
async fn anchor() {
    loop {
        tokio::time::sleep(ANCHOR_PERIOD).await;
    }
}

/// A client's idle lanes.
#[derive(Default)]
pub(crate) struct Lanes {
    idle: Mutex<Vec<Lane>>,
}

impl Lanes {
    /// An idle lane, or a new one whose transport is `template`'s [`Transport::for_lane`].
    pub fn take(&self, template: &Transport) -> Result<Lane> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(lane) => Ok(lane),
            None => Lane::new(template),
        }
    }

    /// Keeps `lane` for the next call (or closes it when enough are kept).
    pub fn give_back(&self, mut lane: Lane) {
        lane.idle_since = Some(Instant::now());
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < LANES_KEPT {
            idle.push(lane);
        }
    }

    /// In a forked child the lanes' sockets and event queues are shared with the parent: they are
    /// left alone, never closed from here.
    pub fn abandon(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        std::mem::forget(idle);
    }
}
