//! The portable engine: `pwritev` loops and one `fdatasync`.
//!
//! Each op becomes as few `pwritev` calls as `IOV_MAX` and short writes allow; the request's
//! buffers are passed to the kernel as they are.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use super::{IoEngine, WriteOp};

/// Most iovecs one `pwritev` call takes (Linux `IOV_MAX`).
pub(crate) const IOV_MAX: usize = 1024;

/// `pwritev` + `fdatasync`.
#[derive(Debug, Default)]
pub struct SyncEngine;

impl IoEngine for SyncEngine {
    fn name(&self) -> &'static str {
        "sync"
    }

    fn write_batch(&self, file: &File, ops: &[WriteOp], sync: bool) -> io::Result<()> {
        for op in ops {
            pwritev_all(file, op)?;
        }
        if sync && !ops.is_empty() {
            file.sync_data()?;
        }
        Ok(())
    }
}

/// Writes one op completely with `pwritev`, resuming after short writes.
pub(crate) fn pwritev_all(file: &File, op: &WriteOp) -> io::Result<()> {
    let mut offset = op.offset;
    // (buffer index, bytes of it already written)
    let mut cursor = (0usize, 0usize);
    while cursor.0 < op.bufs.len() {
        let mut iov: Vec<libc::iovec> = Vec::with_capacity(op.bufs.len().min(IOV_MAX));
        for (i, b) in op.bufs.iter().enumerate().skip(cursor.0).take(IOV_MAX) {
            let skip = if i == cursor.0 { cursor.1 } else { 0 };
            let rest = &b[skip..];
            iov.push(libc::iovec { iov_base: rest.as_ptr() as *mut libc::c_void, iov_len: rest.len() });
        }
        // SAFETY: every iovec points into a live `Bytes` borrowed for the duration of the call.
        let n =
            unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int, offset as libc::off_t) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        let mut n = n as usize;
        if n == 0 && iov.iter().any(|v| v.iov_len > 0) {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "pwritev wrote nothing"));
        }
        offset += n as u64;
        cursor = advance(&op.bufs, cursor, &mut n);
    }
    Ok(())
}

/// Moves a (buffer, offset-in-buffer) cursor forward by `n` bytes.
pub(crate) fn advance(bufs: &[bytes::Bytes], mut cursor: (usize, usize), n: &mut usize) -> (usize, usize) {
    while cursor.0 < bufs.len() {
        let left = bufs[cursor.0].len() - cursor.1;
        if *n < left {
            cursor.1 += *n;
            *n = 0;
            break;
        }
        *n -= left;
        cursor = (cursor.0 + 1, 0);
    }
    cursor
}

#[cfg(test)]
mod tests {
    #[test]
    fn sync_engine_passes_the_engine_suite() {
        super::super::engine_suite::run_all(&super::SyncEngine);
    }
}
