//! Keeps the kernel from hiding an upload's progress.
//!
//! A socket's send queue grows to 4 MiB here (Linux autotuning): a request body disappears into it
//! at once, then drains at the link's speed while nothing the library can see moves, so a stall
//! timer could not tell a slow link from a dead peer. `TCP_NOTSENT_LOWAT` makes the socket
//! writable again only when less than [`UNSENT_LOW_WATER`] bytes wait unsent, so each piece of a
//! body is taken from the library about when the link can carry it. Bytes already sent and
//! awaiting acknowledgement are not limited, so throughput on long fat links is not either.
//!
//! reqwest does not expose the socket, so a connector layer reads the new connection's local and
//! remote addresses and finds the socket among the process's descriptors (once per connection).

use hyper_util::client::legacy::connect::{Connection, HttpInfo};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Unsent bytes at which a socket counts as writable again.
pub(crate) const UNSENT_LOW_WATER: u32 = 128 * 1024;

/// A connector layer that applies [`UNSENT_LOW_WATER`] to every new connection.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LimitUnsent;

impl<S> tower_layer::Layer<S> for LimitUnsent {
    type Service = LimitUnsentService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        LimitUnsentService { inner }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct LimitUnsentService<S> {
    inner: S,
}

impl<S, R> tower_service::Service<R> for LimitUnsentService<S>
where
    S: tower_service::Service<R>,
    S::Response: Connection,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let connecting = self.inner.call(request);
        Box::pin(async move {
            let conn = connecting.await?;
            let mut extras = http::Extensions::new();
            conn.connected().get_extras(&mut extras);
            if let Some(info) = extras.get::<HttpInfo>() {
                crate::sys::socket::limit_unsent(
                    info.local_addr(),
                    info.remote_addr(),
                    UNSENT_LOW_WATER,
                );
            }
            Ok(conn)
        })
    }
}
