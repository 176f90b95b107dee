//! Telling a forked child from the process that made a client, without a system call per check.
//!
//! Every call first checks that its client was made in this process: a child of `fork()` shares
//! the parent's sockets and event queues and must not touch them. `getpid()` is a system call
//! (glibc stopped caching it in 2.25), one per call; instead, a handler registered once with
//! `pthread_atfork` counts forks in each child, and a client remembers the count it was made
//! with. A process's count is its parent's plus one, and a client is only ever seen by the
//! process that made it and that process's descendants, so equal counts mean the same process.
//!
//! A child made without the fork handlers (a raw `clone` system call, not `fork()`) is not seen;
//! `posix_spawn` and `vfork` children run no library code before `exec`. Should registering the
//! handler fail, the check falls back to comparing process IDs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;

/// Forks between the first process that registered the handler and this one.
static FORKS: AtomicU64 = AtomicU64::new(0);
/// The handler is registered (otherwise process IDs are compared).
static COUNTING: AtomicBool = AtomicBool::new(false);
static REGISTER: Once = Once::new();

extern "C" fn in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// The process something was made in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Birthplace {
    forks: u64,
    pid: u32,
}

impl Birthplace {
    /// This process.
    pub fn here() -> Birthplace {
        REGISTER.call_once(|| {
            // SAFETY: the handler only increments an atomic, which is async-signal-safe as the
            // child side of fork() requires; it lives as long as the library's code (glibc drops
            // a shared object's fork handlers when it is unloaded).
            let registered = unsafe { libc::pthread_atfork(None, None, Some(in_child)) } == 0;
            COUNTING.store(registered, Ordering::Release);
        });
        Birthplace {
            forks: FORKS.load(Ordering::Relaxed),
            pid: std::process::id(),
        }
    }

    /// Whether this is still the process it names (not a forked child of it).
    pub fn is_here(&self) -> bool {
        if COUNTING.load(Ordering::Acquire) {
            FORKS.load(Ordering::Relaxed) == self.forks
        } else {
            std::process::id() == self.pid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_is_not_the_birthplace_and_its_own_children_are_not_either() {
        let parent = Birthplace::here();
        assert!(parent.is_here());
        // SAFETY: the child only reads atomics, calls the fork handler machinery and _exit()s;
        // it never returns into the test harness.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            let mut code = 0;
            if parent.is_here() {
                code |= 1;
            }
            let own = Birthplace::here();
            if !own.is_here() {
                code |= 2;
            }
            // SAFETY: as above.
            let grandchild = unsafe { libc::fork() };
            if grandchild == 0 {
                let bad = own.is_here() || parent.is_here();
                // SAFETY: leaves the grandchild without running the parent's destructors.
                unsafe { libc::_exit(if bad { 1 } else { 0 }) };
            }
            let mut status = 0;
            // SAFETY: waits for the grandchild made just above.
            unsafe { libc::waitpid(grandchild, &mut status, 0) };
            if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
                code |= 4;
            }
            // SAFETY: leaves the child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child made just above.
        unsafe { libc::waitpid(child, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "the child did not exit");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "1: the parent's birthplace seemed here in the child; 2: the child's own did not; \
             4: the grandchild saw one of them as here"
        );
        assert!(parent.is_here(), "the parent is still where it was made");
    }
}
