//! The operating system: file reads that never block on a FIFO and reuse their buffers, and
//! SIGPIPE handling on the threads the library runs.

pub(crate) mod file_reads;
pub(crate) mod sigpipe;
