//! Ctrl-C: the first SIGINT (or SIGTERM) sets a flag the commands poll (uploads cancel their
//! operations, a download's sink stops); if the program has not ended `GRACE` later (a request
//! waiting on a silent server), or at a second signal, the temporary download file is removed and
//! the process exits with 130. Either way no partial download is left behind, and with `--json`
//! the INTERRUPTED document is printed on stdout (once).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// `--json`: the interruption is reported as a JSON document on stdout.
static JSON: AtomicBool = AtomicBool::new(false);
/// The interruption was reported (by the command, or by the forced exit).
static REPORTED: AtomicBool = AtomicBool::new(false);
/// The temporary file of a download in progress. Held locked while it is renamed into place, so
/// the forced exit never races the rename.
static TEMP_FILE: Mutex<Option<PathBuf>> = Mutex::new(None);
/// How long the program gets to stop by itself after the first signal.
const GRACE: Duration = Duration::from_secs(3);

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Acquire)
}

/// Starts the signal thread. Failing to install it is not fatal (the default action remains).
pub fn install(json: bool) {
    JSON.store(json, Ordering::Release);
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for _signal in signals.forever() {
                if INTERRUPTED.swap(true, Ordering::AcqRel) {
                    force_exit(); // a second signal: stop now
                }
                let _ = std::thread::Builder::new().name("grace".into()).spawn(|| {
                    std::thread::sleep(GRACE);
                    force_exit();
                });
            }
        });
}

/// Says "interrupted": the JSON document on stdout with `--json`, else a line on stderr; only the
/// first call prints.
pub fn report_interrupted() {
    if REPORTED.swap(true, Ordering::AcqRel) {
        return;
    }
    if JSON.load(Ordering::Acquire) {
        // Not `print_stdout`: a closed pipe must not exit from here (the forced exit holds the
        // temporary file's lock).
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", crate::output::interrupted_doc());
        let _ = out.flush();
    } else {
        let _ = writeln!(std::io::stderr(), "interrupted");
    }
}

fn force_exit() -> ! {
    let guard = TEMP_FILE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = guard.as_ref() {
        let _ = std::fs::remove_file(p);
    }
    // Still locked: the download is never renamed into place now.
    report_interrupted();
    // 128 + SIGINT, the shell's convention; SIGTERM ends the same way (the exit code table has
    // one row for both).
    std::process::exit(i32::from(crate::exit::Outcome::Interrupted.code()));
}

/// Ends the process now, removing a download's temporary file first.
pub fn exit_now(code: u8) -> ! {
    let guard = TEMP_FILE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = guard.as_ref() {
        let _ = std::fs::remove_file(p);
    }
    std::process::exit(i32::from(code));
}

/// A download's temporary file, removed when dropped unless [`TempFile::persist`] renamed it.
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    pub fn register(path: PathBuf) -> TempFile {
        *TEMP_FILE.lock().unwrap_or_else(|p| p.into_inner()) = Some(path.clone());
        TempFile { path }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Renames the file to `dest` (under the lock the forced exit takes).
    pub fn persist(self, dest: &std::path::Path) -> std::io::Result<()> {
        let mut guard = TEMP_FILE.lock().unwrap_or_else(|p| p.into_inner());
        std::fs::rename(&self.path, dest)?;
        *guard = None;
        drop(guard);
        std::mem::forget(self);
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let mut guard = TEMP_FILE.lock().unwrap_or_else(|p| p.into_inner());
        let _ = std::fs::remove_file(&self.path);
        *guard = None;
    }
}
