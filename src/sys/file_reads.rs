//! Positioned reads of upload sources into reusable buffers.
//!
//! A streamed upload reads its file in `READ_CHUNK` pieces and hands each one to HTTP as `Bytes`.
//! Allocating a fresh 512 KiB buffer per piece made every piece cost 128 page faults plus zeroing
//! (glibc serves blocks this size with mmap or trims them back to the kernel when another thread
//! frees them): about 100,000 faults per GiB in the S3 flow. Buffers therefore come from a small
//! process-wide pool and go back to it when HTTP drops the `Bytes`.

use bytes::Bytes;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Mutex;

/// Size of each read from a file while streaming it.
pub(crate) const READ_CHUNK: usize = 512 * 1024;
/// Idle buffers kept for reuse (8 MiB); enough for the default 4 parts in flight, each with its
/// read-ahead and the piece HTTP is writing. Beyond that, buffers are freed.
const POOL_KEEP: usize = 16;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A pooled buffer holding `len` bytes read; returns to the pool when dropped.
struct Pooled {
    buf: Vec<u8>,
    len: usize,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL_KEEP {
            pool.push(buf);
        }
    }
}

fn take_buffer() -> Vec<u8> {
    let reused = POOL.lock().unwrap_or_else(|p| p.into_inner()).pop();
    // Every pooled buffer is READ_CHUNK long and fully initialized, so reads can overwrite it.
    reused.unwrap_or_else(|| vec![0u8; READ_CHUNK])
}

/// Opens `path` for reading only if it is a regular file, and returns its metadata with it (the
/// check needs it; callers that want the size need not ask again). The open itself never blocks:
/// a FIFO with no writer (or a device) put where an attachment's file was would otherwise hold
/// the calling thread, or a worker the client must join, forever.
pub(crate) fn open_regular(path: &Path) -> io::Result<(File, std::fs::Metadata)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path)?;
    // O_NONBLOCK means nothing to a regular file's reads, so it may stay set.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    Ok((file, meta))
}

/// Checks, without opening it, that `path` is a regular file the process may read, and returns
/// its metadata: one `statx` and one `faccessat2` (effective ids, as `open` checks), where
/// opening, measuring and closing it take three system calls and a file object (about 6 us
/// against 3 on the benchmark VM). A FIFO or device is refused as [`open_regular`] refuses it.
/// Elsewhere than Linux, [`open_regular`]'s check.
pub(crate) fn check_regular(path: &Path) -> io::Result<std::fs::Metadata> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let meta = std::fs::metadata(path)?;
        if !meta.is_file() {
            return Err(not_regular());
        }
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `c_path` is a NUL-terminated string that outlives the call.
        let readable = unsafe {
            libc::faccessat(
                libc::AT_FDCWD,
                c_path.as_ptr(),
                libc::R_OK,
                libc::AT_EACCESS,
            )
        };
        if readable != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(meta)
    }
    #[cfg(not(target_os = "linux"))]
    open_regular(path).map(|(_, meta)| meta)
}

fn not_regular() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")
}

/// The whole content of a small regular file (a CA bundle, a config file, an outbox manifest):
/// opened with [`open_regular`], so a FIFO or device never blocks, and refused when longer than
/// `max` bytes, so `/dev/zero`-like files never fill memory.
pub(crate) fn read_small(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let (file, _) = open_regular(path)?;
    let mut content = Vec::new();
    file.take(max + 1).read_to_end(&mut content)?;
    if content.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(content)
}

/// Reads up to `want` (≤ `READ_CHUNK`) bytes at `pos`; fewer only at the end of the file.
/// Positioned reads let the parts of one upload share an open file.
pub(crate) fn read_at(file: &File, pos: u64, want: usize) -> io::Result<Bytes> {
    debug_assert!(want <= READ_CHUNK);
    let mut chunk = Pooled {
        buf: take_buffer(),
        len: 0,
    };
    let want = want.min(READ_CHUNK);
    while chunk.len < want {
        let n = positioned_read(
            file,
            &mut chunk.buf[chunk.len..want],
            pos + chunk.len as u64,
        )?;
        if n == 0 {
            break;
        }
        chunk.len += n;
    }
    Ok(Bytes::from_owner(chunk))
}

#[cfg(unix)]
fn positioned_read(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, pos)
}

#[cfg(windows)]
fn positioned_read(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new temporary directory `{prefix}-{pid}` and a FIFO in it.
    #[cfg(unix)]
    fn dir_with_fifo(prefix: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        (dir, fifo)
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_at_once() {
        let (dir, fifo) = dir_with_fifo("opik-fifo");
        let err = open_regular(&fifo).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(open_regular(Path::new("/dev/null")).is_err());
        let err = check_regular(&fifo).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file");
        assert!(check_regular(Path::new("/dev/null")).is_err());
        assert!(check_regular(&dir).is_err());
        assert!(read_small(&fifo, 10).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Checking a file without opening it accepts and refuses what opening it does: missing
    /// files, directories, FIFOs, devices, and files by their permission bits (which root may
    /// read all the same, through both).
    #[cfg(unix)]
    #[test]
    fn checking_a_file_agrees_with_opening_it() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, fifo) = dir_with_fifo("opik-check");
        let mut paths = vec![dir.clone(), fifo, dir.join("missing"), "/dev/null".into()];
        for mode in [0o000, 0o200, 0o400, 0o644] {
            let file = dir.join(format!("mode-{mode:o}"));
            std::fs::write(&file, b"x").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            paths.push(file);
        }
        for path in &paths {
            let opened = open_regular(path);
            let checked = check_regular(path);
            assert_eq!(checked.is_ok(), opened.is_ok(), "{}", path.display());
            if let (Err(c), Err(o)) = (&checked, &opened) {
                assert_eq!(c.to_string(), o.to_string(), "{}", path.display());
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn small_reads_are_capped() {
        let path = std::env::temp_dir().join(format!("opik-small-{}", std::process::id()));
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_small(&path, 5).unwrap(), b"12345");
        assert_eq!(
            read_small(&path, 4).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn reused_buffers_never_show_stale_bytes() {
        let path = std::env::temp_dir().join(format!("opik-file-reads-{}", std::process::id()));
        let data: Vec<u8> = (0..READ_CHUNK + 1000).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        for _ in 0..3 {
            let a = read_at(&file, 0, READ_CHUNK).unwrap();
            assert_eq!(&a[..], &data[..READ_CHUNK]);
            drop(a);
            // A short read at the end of the file into a buffer that held a full chunk.
            let b = read_at(&file, READ_CHUNK as u64, READ_CHUNK).unwrap();
            assert_eq!(&b[..], &data[READ_CHUNK..]);
            let c = read_at(&file, 10, 5).unwrap();
            assert_eq!(&c[..], &data[10..15]);
        }
        assert!(POOL.lock().unwrap().len() <= POOL_KEEP);
        std::fs::remove_file(&path).unwrap();
    }
}
