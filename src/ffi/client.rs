//! `opik_client`: creation and destruction.

use super::boundary::{call, Out};
use super::error::opik_error;
use super::guard::{call_infallible, free_handle};
use super::options::opik_options;
use super::status::opik_status;
use crate::client::Client;
use crate::error::Result;
use crate::settings::Options;
use std::sync::Arc;

/// A connection to one Opik installation, with its own worker threads and connection pool.
/// Fully thread-safe: every function taking it may be called from any number of threads at once.
pub struct opik_client {
    /// Shared with the calls in progress (see [`super::boundary::client_arg`]), so that freeing
    /// the handle from a download's `on_data` leaves the running call a live client.
    pub(crate) inner: Arc<Client>,
}

/// Creates a client. `o` may be NULL (then only the environment, the config file and defaults
/// apply); the options are copied, so the caller may free them right after. Fails with
/// `OPIK_ERR_CONFIG` when no URL is configured anywhere, the URL is not http(s), or the CA file
/// cannot be read. On success `*out` receives the client; free it with `opik_client_free`.
#[no_mangle]
pub extern "C" fn opik_client_new(
    o: *const opik_options,
    out: *mut *mut opik_client,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_client_new", err, || {
        // SAFETY: `out` is NULL or points to a writable `opik_client *` (C contract); `Out::new`
        // refuses NULL, and `set` writes it only on success.
        let out = unsafe { Out::new(out, "out") }?;
        let default = Options::default();
        // SAFETY: `o` is NULL (the defaults) or live options from `opik_options_new` that no other
        // thread modifies meanwhile (options are not thread-safe; C contract). Only read here;
        // `Client::new` copies what it keeps.
        let options = unsafe { o.as_ref() }.map_or(&default, |o| &o.inner);
        out.set(opik_client {
            inner: Arc::new(Client::new(options)?),
        });
        Ok(())
    })
}

/// Frees a client. Intake stops; background uploads get the shutdown timeout
/// (`opik_options_set_shutdown_timeout_ms`, default 5 s) to finish, then the rest are cancelled
/// (their `on_done` runs with `OPIK_ERR_SHUTDOWN`; with an outbox they stay on disk for the next
/// client); every thread is joined before it returns, and no callback or other library code runs
/// after it returns. Exceptions: called from inside one of this client's own `on_done` callbacks,
/// it cannot join the thread it is running on, so it returns at once and the same steps finish on
/// a library thread after the callback returns; called from a download's `on_data`, it returns
/// at once, the download stops with `OPIK_ERR_SHUTDOWN`, and the client closes when
/// `opik_download` returns (on that thread). In a forked child it only releases what it safely
/// can and never blocks. NULL is a no-op. Do not use `c` afterwards.
#[no_mangle]
pub extern "C" fn opik_client_free(c: *mut opik_client) {
    call_infallible((), || {
        // SAFETY: `c` is NULL or a live client handle (C contract); this borrow ends before the
        // handle is freed below.
        if let Some(client) = unsafe { c.as_ref() } {
            client.inner.close_soon();
        }
        // SAFETY: `c` is NULL or a client boxed by `Out::set`, freed once and not used afterwards
        // (C contract). Calls still running hold their own `Arc<Client>` (see `client_arg`), so
        // dropping the handle's reference does not free the client under them.
        unsafe { free_handle(c) }
    })
}

/// The client behind a required `opik_client *`, shared for the length of a call: the handle
/// may be freed while the call runs (from one of its callbacks) without pulling the client from
/// under it.
///
/// # Safety
/// `c` is NULL or a live client handle.
pub(crate) unsafe fn client_arg(c: *const opik_client) -> Result<Arc<Client>> {
    super::boundary::ref_arg(c, "client").map(|c| c.inner.clone())
}
