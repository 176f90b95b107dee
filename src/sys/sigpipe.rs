//! SIGPIPE: writing to a pipe or socket whose reader has gone away raises it, and its default
//! action kills the process. A Rust program ignores it from `main`, but this library lives in C
//! programs that may not. The library's own socket writes never raise it (`crate::http`'s
//! connections write with `MSG_NOSIGNAL`); what is left is the caller's code that runs inside
//! the library. The library's threads, where completions and log callbacks run, block it for
//! good; a blocking download blocks it on the caller's thread while its `on_data` may run, and a
//! SIGPIPE raised meanwhile is consumed before the mask is restored (the way curl handles it), so
//! the host's own SIGPIPE handling is untouched.

/// Blocks SIGPIPE on the current thread for its whole life (the library's worker threads).
pub fn block_on_this_thread() {
    #[cfg(unix)]
    // SAFETY: plain signal-mask calls on the current thread, with valid local sets.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Blocks SIGPIPE on the calling thread until dropped (then consumes one raised meanwhile).
pub struct CallerGuard {
    #[cfg(unix)]
    restore: Option<libc::sigset_t>,
}

impl CallerGuard {
    pub fn new() -> CallerGuard {
        #[cfg(unix)]
        // SAFETY: as above; `old` receives the previous mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) != 0 {
                return CallerGuard { restore: None };
            }
            // Already blocked by the caller: nothing to undo, nothing of ours to consume.
            let restore = if libc::sigismember(&old, libc::SIGPIPE) == 1 {
                None
            } else {
                Some(old)
            };
            CallerGuard { restore }
        }
        #[cfg(not(unix))]
        CallerGuard {}
    }
}

impl Default for CallerGuard {
    fn default() -> Self {
        CallerGuard::new()
    }
}

impl Drop for CallerGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(old) = self.restore.take() {
            // SAFETY: signal-set calls on valid local sets; sigtimedwait with a zero timeout
            // only dequeues a pending SIGPIPE, it never blocks.
            unsafe {
                let mut pending: libc::sigset_t = std::mem::zeroed();
                if libc::sigpending(&mut pending) == 0
                    && libc::sigismember(&pending, libc::SIGPIPE) == 1
                {
                    let mut only: libc::sigset_t = std::mem::zeroed();
                    libc::sigemptyset(&mut only);
                    libc::sigaddset(&mut only, libc::SIGPIPE);
                    let zero = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    };
                    libc::sigtimedwait(&only, std::ptr::null_mut(), &zero);
                }
                libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            }
        }
    }
}
