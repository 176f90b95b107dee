//! Socket options on connections the HTTP stack made, and writes to them that never raise
//! SIGPIPE.

use std::io;

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

/// Writes `bufs` to `socket` in one `sendmsg` with `MSG_NOSIGNAL` (and without waiting): a peer that has gone away
/// makes it fail with `EPIPE` instead of raising SIGPIPE, whose default action kills the host
/// program. (A single buffer goes out with `send`, which Rust's standard library already flags
/// the same way.) Elsewhere than Linux, a plain vectored write.
pub(crate) fn send_vectored<S: std::os::fd::AsRawFd>(
    socket: &S,
    bufs: &[io::IoSlice<'_>],
) -> io::Result<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a zeroed msghdr is valid (no address, no control data).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        // IoSlice is ABI-compatible with iovec on Unix; sendmsg only reads the buffers.
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = bufs.len().min(libc::UIO_MAXIOV as usize) as _;
        // `MSG_DONTWAIT`: a lane's sockets block for reads ([`block_reads`]), never for writes.
        // SAFETY: `socket` is an open socket borrowed for the call, and `msg` points at `bufs`,
        // which outlive it.
        byte_count(unsafe {
            libc::sendmsg(
                socket.as_raw_fd(),
                &msg,
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        use std::io::Write;
        use std::os::fd::{FromRawFd, IntoRawFd};
        // SAFETY: borrows the descriptor for one write; `into_raw_fd` gives it back unclosed.
        let mut stream = unsafe { std::net::TcpStream::from_raw_fd(socket.as_raw_fd()) };
        let written = stream.write_vectored(bufs);
        let _ = stream.into_raw_fd();
        written
    }
}

/// Makes `socket`'s reads block, each for at most `limit`, so that a thread can wait for data in
/// the read itself; writes and the other reads then go with `MSG_DONTWAIT` ([`send`],
/// [`send_vectored`], [`recv`]). Linux only; `false` elsewhere or when the socket refuses, and
/// then it is left non-blocking.
pub(crate) fn block_reads<S: std::os::fd::AsRawFd>(socket: &S, limit: std::time::Duration) -> bool {
    #[cfg(target_os = "linux")]
    {
        let fd = socket.as_raw_fd();
        let timeout = libc::timeval {
            tv_sec: limit.as_secs() as libc::time_t,
            tv_usec: limit.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: `fd` is an open socket borrowed for the calls; the option value is a timeval
        // that outlives the call.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            flags >= 0
                && libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&timeout as *const libc::timeval).cast(),
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                ) == 0
                && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) == 0
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (socket, limit);
        false
    }
}

/// Reads into `buf` from a socket [`block_reads`] made blocking: waiting for data (up to its
/// limit, then `WouldBlock`) when `wait`, else returning `WouldBlock` at once when none is there.
#[cfg(target_os = "linux")]
pub(crate) fn recv<S: std::os::fd::AsRawFd>(
    socket: &S,
    buf: &mut [std::mem::MaybeUninit<u8>],
    wait: bool,
) -> io::Result<usize> {
    let flags = if wait { 0 } else { libc::MSG_DONTWAIT };
    // SAFETY: `socket` is an open socket borrowed for the call; recv writes at most `buf.len()`
    // bytes into `buf`, which outlives the call (uninitialised bytes may be written).
    byte_count(unsafe {
        libc::recv(
            socket.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags,
        )
    })
}

/// Writes `buf` to `socket` without waiting and without SIGPIPE (`MSG_DONTWAIT | MSG_NOSIGNAL`),
/// whether or not the socket blocks.
#[cfg(target_os = "linux")]
pub(crate) fn send<S: std::os::fd::AsRawFd>(socket: &S, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `socket` is an open socket borrowed for the call; send only reads `buf`.
    byte_count(unsafe {
        libc::send(
            socket.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    })
}

/// A send or receive call's result: the bytes it moved, or the error `errno` names.
#[cfg(target_os = "linux")]
fn byte_count(returned: isize) -> io::Result<usize> {
    usize::try_from(returned).map_err(|_| io::Error::last_os_error())
}

/// Elsewhere no socket is made blocking ([`block_reads`]), so nothing calls these.
#[cfg(not(target_os = "linux"))]
pub(crate) fn recv<S: std::os::fd::AsRawFd>(
    _: &S,
    _: &mut [std::mem::MaybeUninit<u8>],
    _: bool,
) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn send<S: std::os::fd::AsRawFd>(_: &S, _: &[u8]) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A connection whose peer reset it, with the reset already reported to a read: the next
    /// write on it fails with `EPIPE`, the case that raises SIGPIPE.
    fn reset_connection() -> std::net::TcpStream {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut ours = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a live socket and a linger value that outlives the call.
        unsafe {
            libc::setsockopt(
                theirs.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        drop(theirs); // closing with a zero linger sends a reset
        let mut buf = [0u8; 16];
        let read = ours.read(&mut buf);
        assert!(read.is_err(), "the reset reaches the read: {read:?}");
        ours
    }

    /// Runs `write` with SIGPIPE blocked on this thread and says whether it raised one (a raised
    /// SIGPIPE stays pending, then is taken off again).
    fn raises_sigpipe(write: impl FnOnce() -> io::Result<usize>) -> (io::Result<usize>, bool) {
        // SAFETY: signal-mask calls on this thread with valid local sets; sigtimedwait with a
        // zero timeout only takes a SIGPIPE that is already pending.
        unsafe {
            let mut pipe: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pipe);
            libc::sigaddset(&mut pipe, libc::SIGPIPE);
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
            let result = write();
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            let raised = libc::sigismember(&pending, libc::SIGPIPE) == 1;
            if raised {
                let zero = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                libc::sigtimedwait(&pipe, std::ptr::null_mut(), &zero);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            (result, raised)
        }
    }

    #[test]
    fn a_vectored_write_to_a_reset_connection_fails_without_sigpipe() {
        let bufs = [
            io::IoSlice::new(b"PUT / HTTP/1.1\r\n"),
            io::IoSlice::new(b"body"),
        ];
        // The control: the same write as a plain writev does raise SIGPIPE here.
        let plain = reset_connection();
        let (result, raised) = raises_sigpipe(|| {
            use std::io::Write;
            (&plain).write_vectored(&bufs)
        });
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert!(
            raised,
            "the control write raised no SIGPIPE: the test proves nothing"
        );

        let ours = reset_connection();
        let (result, raised) = raises_sigpipe(|| send_vectored(&ours, &bufs));
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert!(!raised, "send_vectored raised SIGPIPE");
    }

    #[test]
    fn a_vectored_write_sends_every_buffer_in_order() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut theirs, _) = listener.accept().unwrap();
        let bufs = [
            io::IoSlice::new(b"head "),
            io::IoSlice::new(b""),
            io::IoSlice::new(b"body"),
        ];
        assert_eq!(send_vectored(&ours, &bufs).unwrap(), 9);
        drop(ours);
        let mut got = Vec::new();
        theirs.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"head body");
    }

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
