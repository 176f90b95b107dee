//! HTTP, the lowest layer: the transport (connection-pooled clients, which headers go to which
//! peer, retries, stall timers, capped reads, redaction of the API key) and the mapping of HTTP
//! failures to errors. It knows nothing of the Opik API beyond its base URL.

pub(crate) mod body;
mod connect;
pub(crate) mod errors;
mod h1;
pub(crate) mod peer;
mod pool;
mod retry;
pub(crate) mod stall;
mod tcp;
#[cfg(test)]
pub(crate) mod test_wire;
pub(crate) mod transport;
mod unsent;

pub(crate) use body::Body;
pub(crate) use errors::SourceReadError;
pub(crate) use peer::is_presigned;
pub(crate) use transport::Transport;
