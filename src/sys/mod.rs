//! The operating system: file reads that never block on a FIFO and reuse their buffers, socket
//! options on the HTTP stack's connections, and SIGPIPE handling on the library's threads.

pub(crate) mod file_reads;
pub(crate) mod sigpipe;
pub(crate) mod socket;
