//! Where work runs: lanes (a blocking call's HTTP on the calling thread), the background queue
//! (uploads on the client's I/O threads, completions on its callback thread) and the durable
//! outbox behind it.

pub(crate) mod lanes;
pub(crate) mod outbox;
pub(crate) mod queue;
pub(crate) mod sender;
