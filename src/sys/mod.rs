//! The operating system: file reads that never block on a FIFO and reuse their buffers, socket
//! options on the HTTP stack's connections, SIGPIPE handling on the library's threads, and
//! telling a forked child from its parent.

pub(crate) mod file_reads;
pub(crate) mod fork;
pub(crate) mod sigpipe;
pub(crate) mod socket;
