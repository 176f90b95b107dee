//! Socket options on connections the HTTP stack made, found by their addresses.

use std::net::SocketAddr;

/// Sets `TCP_NOTSENT_LOWAT` to `bytes` on this process's TCP socket from `local` to `remote`.
/// Best effort: a socket that cannot be found or set keeps the kernel's default (the stall timer
/// then sees progress in larger steps). Linux only; elsewhere a no-op.
pub(crate) fn limit_unsent(local: SocketAddr, remote: SocketAddr, bytes: u32) {
    #[cfg(target_os = "linux")]
    if let Some(fd) = find_socket(local, remote) {
        let value = bytes as libc::c_int;
        // SAFETY: `fd` is an open socket of this process (just matched by its addresses); the
        // option value is a c_int that outlives the call.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NOTSENT_LOWAT,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (local, remote, bytes);
}

#[cfg(target_os = "linux")]
fn find_socket(local: SocketAddr, remote: SocketAddr) -> Option<libc::c_int> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::c_int>().ok())
        .find(|&fd| {
            address_of(fd, libc::getsockname) == Some(local)
                && address_of(fd, libc::getpeername) == Some(remote)
        })
}

#[cfg(target_os = "linux")]
type NameFn =
    unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int;

#[cfg(target_os = "linux")]
fn address_of(fd: libc::c_int, name: NameFn) -> Option<SocketAddr> {
    // SAFETY: an all-zero sockaddr_storage is a valid value; `name` writes at most `len` bytes
    // into it and fails harmlessly (ENOTSOCK, EBADF) on a descriptor that is not a socket.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: as above; the pointers are to live locals of the right sizes.
    if unsafe {
        name(
            fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    } != 0
    {
        return None;
    }
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(&storage as *const _ as *const _) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(&storage as *const _ as *const _) };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::from((ip, u16::from_be(a.sin6_port))))
        }
        _ => None,
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_low_water_mark_lands_on_the_right_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let b = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        limit_unsent(b.local_addr().unwrap(), b.peer_addr().unwrap(), 100_000);
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
