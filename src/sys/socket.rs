//! Socket options on connections the HTTP stack made.

/// Sets `TCP_NOTSENT_LOWAT` to `bytes` on `socket`. Best effort: a socket that cannot be set
/// keeps the kernel's default (the stall timer then sees progress in larger steps). Linux only;
/// elsewhere a no-op.
pub(crate) fn limit_unsent<S: std::os::fd::AsRawFd>(socket: &S, bytes: u32) {
    #[cfg(target_os = "linux")]
    {
        let value = bytes as libc::c_int;
        // SAFETY: `socket` is an open socket borrowed for the call; the option value is a c_int
        // that outlives the call.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NOTSENT_LOWAT,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (socket, bytes);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_low_water_mark_lands_on_the_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let b = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        limit_unsent(&b, 100_000);
        let get = |fd: libc::c_int| {
            let mut v: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: a live socket and a c_int out-parameter.
            unsafe {
                libc::getsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NOTSENT_LOWAT,
                    (&mut v as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            v
        };
        assert_eq!(get(b.as_raw_fd()), 100_000);
        assert_ne!(
            get(a.as_raw_fd()),
            100_000,
            "the other connection is left alone"
        );
    }
}
