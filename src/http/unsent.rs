//! Keeps the kernel from hiding an upload's progress.
//!
//! A socket's send queue grows to 4 MiB here (Linux autotuning): a request body disappears into it
//! at once, then drains at the link's speed while nothing the library can see moves, so a stall
//! timer could not tell a slow link from a dead peer. `TCP_NOTSENT_LOWAT` makes the socket
//! writable again only when less than [`UNSENT_LOW_WATER`] bytes wait unsent, so each piece of a
//! body is taken from the library about when the link can carry it. Bytes already sent and
//! awaiting acknowledgement are not limited, so throughput on long fat links is not either.
//!
//! The connector (`connect.rs`) owns each new socket and applies it there, once per connection.

/// Unsent bytes at which a socket counts as writable again.
pub(crate) const UNSENT_LOW_WATER: u32 = 128 * 1024;

/// Applies [`UNSENT_LOW_WATER`] to a new connection's socket.
pub(crate) fn limit(socket: &tokio::net::TcpStream) {
    crate::sys::socket::limit_unsent(socket, UNSENT_LOW_WATER);
}
