//! The io_uring engine: one ring on a dedicated thread, fed over a channel.
//!
//! A caller's batch becomes one `Writev` submission entry per run of up to `IOV_MAX` buffers and,
//! when it asks for durability, one `Fsync(DATASYNC)` entry, linked behind the writes
//! (`IOSQE_IO_LINK`) and submitted together: one trip into the kernel per batch. A failed or
//! short write breaks the chain (the kernel cancels the sync), so a failed write can never be
//! followed by a sync that looks like success; the short write is finished with `pwritev` and
//! synced then. The
//! iovecs point straight into the caller's `Bytes`: the caller blocks until its batch completes,
//! which is what keeps those buffers alive. Several callers' batches are in flight at once.
//! A short write (rare: signals, quota edges) is finished with `pwritev` on the ring thread.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::mpsc;
use std::thread;

use io_uring::{IoUring, opcode, squeue, types};

use super::sync::{IOV_MAX, advance, pwritev_all};
use super::{IoEngine, WriteOp};

const RING_ENTRIES: u32 = 256;
/// Longest write chain linked to its sync; longer batches sync in a second submission.
const MAX_CHAIN: usize = 64;
const TAG_SYNC: u64 = u32::MAX as u64;

/// io_uring on a dedicated thread.
pub struct UringEngine {
    tx: mpsc::Sender<RingBatch>,
}

/// A caller's batch, as seen by the ring thread.
struct RingBatch {
    fd: RawFd,
    ops: *const WriteOp,
    n_ops: usize,
    sync: bool,
    done: mpsc::SyncSender<io::Result<()>>,
}

// SAFETY: `ops` points at a slice owned by a caller that blocks in `write_batch` until `done`
// has been sent; the ring thread only reads it before sending.
unsafe impl Send for RingBatch {}

/// One submitted `Writev`: which op, which buffers, where.
struct Piece {
    op: usize,
    first_buf: usize,
    iov: Vec<libc::iovec>,
    offset: u64,
    len: usize,
}

struct InFlight {
    job: RingBatch,
    pieces: Vec<Piece>,
    /// Completions still to come (writes, plus the sync once submitted).
    pending: usize,
    error: Option<io::Error>,
    /// Pieces the kernel wrote only partly (or cancelled): (piece, bytes written).
    short: Vec<(usize, usize)>,
    sync_submitted: bool,
    synced: bool,
}

impl UringEngine {
    /// Creates the ring (failing if the kernel refuses it) and starts its thread.
    pub fn start() -> io::Result<Self> {
        let ring = IoUring::new(RING_ENTRIES)?;
        // Probe once with a no-op so a seccomp policy that allows setup but not submission is
        // caught here, where `auto` can still fall back.
        let mut ring = ring;
        let nop = opcode::Nop::new().build().user_data(0);
        // SAFETY: a Nop entry references no memory.
        unsafe { ring.submission().push(&nop).map_err(|_| io::Error::other("submission queue full"))? };
        ring.submit_and_wait(1)?;
        let cqe = ring.completion().next().ok_or_else(|| io::Error::other("io_uring nop did not complete"))?;
        if cqe.result() < 0 {
            return Err(io::Error::from_raw_os_error(-cqe.result()));
        }
        let (tx, rx) = mpsc::channel::<RingBatch>();
        thread::Builder::new().name("attachd-uring".into()).spawn(move || ring_loop(ring, rx))?;
        Ok(Self { tx })
    }
}

impl IoEngine for UringEngine {
    fn name(&self) -> &'static str {
        "uring"
    }

    fn write_batch(&self, file: &File, ops: &[WriteOp], sync: bool) -> io::Result<()> {
        if ops.iter().all(|o| o.is_empty()) {
            return if sync && !ops.is_empty() { file.sync_data() } else { Ok(()) };
        }
        let (done, wait) = mpsc::sync_channel(1);
        let job = RingBatch { fd: file.as_raw_fd(), ops: ops.as_ptr(), n_ops: ops.len(), sync, done };
        self.tx.send(job).map_err(|_| io::Error::other("io_uring thread has stopped"))?;
        // Blocking here is what keeps `ops` alive while the kernel reads from it.
        wait.recv().unwrap_or_else(|_| Err(io::Error::other("io_uring thread has stopped")))
    }
}

fn ring_loop(mut ring: IoUring, rx: mpsc::Receiver<RingBatch>) {
    let mut slots: Vec<Option<InFlight>> = Vec::new();
    // Groups of entries that must enter the submission queue together (a linked chain).
    let mut backlog: VecDeque<Vec<squeue::Entry>> = VecDeque::new();
    let mut open = true;
    let mut failures = 0u32;
    loop {
        let busy = slots.iter().any(Option::is_some);
        if !busy && !open {
            return;
        }
        // Take new jobs: block only when nothing is in flight.
        let first = if busy || !open { None } else { rx.recv().ok() };
        if first.is_none() && !busy && open {
            open = false;
            continue;
        }
        take_jobs(&rx, first, &mut open, &mut slots, &mut backlog);
        push_backlog(&mut ring, &mut backlog);
        submit_and_wait_or_abort(&mut ring, &mut failures);
        reap_completions(&mut ring, &mut slots, &mut backlog);
        push_backlog(&mut ring, &mut backlog);
    }
}

/// Admits `first` and every job already waiting on the channel, without blocking; clears
/// `open` when the channel is disconnected.
fn take_jobs(
    rx: &mpsc::Receiver<RingBatch>,
    mut first: Option<RingBatch>,
    open: &mut bool,
    slots: &mut Vec<Option<InFlight>>,
    backlog: &mut VecDeque<Vec<squeue::Entry>>,
) {
    loop {
        let job = match first.take() {
            Some(j) => j,
            None => match rx.try_recv() {
                Ok(j) => j,
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    *open = false;
                    break;
                }
            },
        };
        admit(job, slots, backlog);
    }
}

/// Gives a job a free slot and queues its entries: its writes and, when it asks for
/// durability and the chain is short enough, the sync linked behind them.
fn admit(job: RingBatch, slots: &mut Vec<Option<InFlight>>, backlog: &mut VecDeque<Vec<squeue::Entry>>) {
    let slot = slots.iter().position(Option::is_none).unwrap_or_else(|| {
        slots.push(None);
        slots.len() - 1
    });
    let mut flight = plan(job);
    let chained = flight.job.sync && flight.pieces.len() < MAX_CHAIN;
    let mut group = Vec::with_capacity(flight.pieces.len() + 1);
    for (i, p) in flight.pieces.iter().enumerate() {
        let mut e = opcode::Writev::new(types::Fd(flight.job.fd), p.iov.as_ptr(), p.iov.len() as u32)
            .offset(p.offset)
            .build()
            .user_data(((slot as u64) << 32) | i as u64);
        if chained {
            e = e.flags(squeue::Flags::IO_LINK);
        }
        group.push(e);
    }
    if chained {
        group.push(fsync_entry(flight.job.fd, slot));
        flight.pending += 1;
        flight.sync_submitted = true;
    }
    backlog.push_back(group);
    slots[slot] = Some(flight);
}

/// Submits the queue and waits for at least one completion. Transient errors are left for the
/// next round; after 1000 other failures in a row the process aborts (fail-stop).
fn submit_and_wait_or_abort(ring: &mut IoUring, failures: &mut u32) {
    match ring.submit_and_wait(1) {
        Ok(_) => *failures = 0,
        Err(e) => {
            // EINTR and EBUSY (completion queue backed up) clear by reaping below. Callers
            // are never answered while the kernel may still read their buffers, so a ring
            // that keeps failing cannot be worked around: stop the process (fail-stop) and
            // let recovery and the supervisor take over rather than risk memory the
            // kernel still points at.
            let transient = matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN));
            if !transient {
                *failures += 1;
                let failures = *failures;
                tracing::error!(error = %e, failures, "io_uring submission failed");
                if failures >= 1000 {
                    tracing::error!("io_uring keeps failing; aborting so recovery can run on restart");
                    std::process::abort();
                }
                thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}

/// Drains the completion queue into the jobs in flight, completing each job whose last
/// completion arrived.
fn reap_completions(ring: &mut IoUring, slots: &mut [Option<InFlight>], backlog: &mut VecDeque<Vec<squeue::Entry>>) {
    let cqes: Vec<(u64, i32)> = ring.completion().map(|c| (c.user_data(), c.result())).collect();
    for (ud, res) in cqes {
        let slot = (ud >> 32) as usize;
        let Some(flight) = slots.get_mut(slot).and_then(Option::as_mut) else {
            continue;
        };
        if !record_completion(flight, ud, res) {
            continue;
        }
        flight.pending -= 1;
        if flight.pending > 0 {
            continue;
        }
        complete_job(&mut slots[slot], slot, backlog);
    }
}

/// Notes one completion's outcome (error, short or cancelled write, sync done) in its job.
/// Returns false, logging it, for a completion that names no piece of the job.
fn record_completion(flight: &mut InFlight, ud: u64, res: i32) -> bool {
    let tag = ud & 0xffff_ffff;
    if tag == TAG_SYNC {
        match res {
            0.. => flight.synced = true,
            r if r == -libc::ECANCELED => {} // a write in the chain failed or was short
            r => {
                flight.error.get_or_insert(io::Error::from_raw_os_error(-r));
            }
        }
    } else {
        let Some(piece) = flight.pieces.get(tag as usize) else {
            tracing::error!(user_data = ud, "io_uring completion for an unknown request; ignoring it");
            return false;
        };
        if res == -libc::ECANCELED {
            // An earlier write in the chain failed; it reports the error.
            flight.short.push((tag as usize, 0));
        } else if res < 0 {
            flight.error.get_or_insert(io::Error::from_raw_os_error(-res));
        } else if (res as usize) < piece.len {
            flight.short.push((tag as usize, res as usize));
        }
    }
    true
}

/// Everything of the job in `entry` is back: finishes its short writes, then answers its
/// caller, or queues the sync it still needs (in slot `slot`).
fn complete_job(entry: &mut Option<InFlight>, slot: usize, backlog: &mut VecDeque<Vec<squeue::Entry>>) {
    let Some(flight) = entry.as_mut() else {
        return;
    };
    if flight.error.is_none() && !flight.short.is_empty() {
        if let Err(e) = finish_short_writes(flight) {
            flight.error = Some(e);
        }
        flight.synced = false;
    }
    if let Some(e) = flight.error.take() {
        finish(entry, Err(e));
    } else if flight.job.sync && !flight.synced {
        if flight.sync_submitted {
            // The chain was broken by a short write that is finished now: sync here.
            // SAFETY: the caller's `File` is open while it blocks in `write_batch`.
            let file =
                std::mem::ManuallyDrop::new(unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(flight.job.fd) });
            let r = file.sync_data();
            finish(entry, r);
        } else {
            flight.pending = 1;
            flight.sync_submitted = true;
            backlog.push_back(vec![fsync_entry(flight.job.fd, slot)]);
        }
    } else {
        finish(entry, Ok(()));
    }
}

/// Splits a job's ops into `Writev` pieces of at most `IOV_MAX` buffers.
fn plan(job: RingBatch) -> InFlight {
    // SAFETY: see `RingBatch`: the slice outlives the job.
    let ops = unsafe { std::slice::from_raw_parts(job.ops, job.n_ops) };
    let mut pieces = Vec::new();
    for (oi, op) in ops.iter().enumerate() {
        let mut offset = op.offset;
        for (ci, chunk) in op.bufs.chunks(IOV_MAX).enumerate() {
            let iov: Vec<libc::iovec> = chunk
                .iter()
                .map(|b| libc::iovec { iov_base: b.as_ptr() as *mut libc::c_void, iov_len: b.len() })
                .collect();
            let len: usize = chunk.iter().map(|b| b.len()).sum();
            if len > 0 {
                pieces.push(Piece { op: oi, first_buf: ci * IOV_MAX, iov, offset, len });
            }
            offset += len as u64;
        }
    }
    let pending = pieces.len();
    InFlight { job, pieces, pending, error: None, short: Vec::new(), sync_submitted: false, synced: false }
}

/// Completes pieces the kernel wrote only partly, with blocking `pwritev`.
fn finish_short_writes(flight: &mut InFlight) -> io::Result<()> {
    if flight.short.is_empty() {
        return Ok(());
    }
    // SAFETY: see `RingBatch`.
    let ops = unsafe { std::slice::from_raw_parts(flight.job.ops, flight.job.n_ops) };
    // SAFETY: the caller's `File` is open for as long as it blocks in `write_batch`.
    let file = std::mem::ManuallyDrop::new(unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(flight.job.fd) });
    for &(pi, written) in &flight.short {
        let p = &flight.pieces[pi];
        let bufs = &ops[p.op].bufs[p.first_buf..(p.first_buf + p.iov.len())];
        let mut n = written;
        let (b, off) = advance(bufs, (0, 0), &mut n);
        let mut rest: Vec<bytes::Bytes> = bufs[b..].to_vec();
        if let Some(first) = rest.first_mut() {
            *first = first.slice(off..);
        }
        pwritev_all(&file, &WriteOp { offset: p.offset + written as u64, bufs: rest })?;
    }
    Ok(())
}

fn fsync_entry(fd: RawFd, slot: usize) -> io_uring::squeue::Entry {
    opcode::Fsync::new(types::Fd(fd))
        .flags(types::FsyncFlags::DATASYNC)
        .build()
        .user_data(((slot as u64) << 32) | TAG_SYNC)
}

/// Moves whole groups into the submission queue, submitting first when a group does not fit.
fn push_backlog(ring: &mut IoUring, backlog: &mut VecDeque<Vec<io_uring::squeue::Entry>>) {
    while let Some(group) = backlog.front() {
        let room = {
            let sq = ring.submission();
            sq.capacity() - sq.len()
        };
        if room < group.len() {
            if ring.submit().is_err() || {
                let sq = ring.submission();
                sq.capacity() - sq.len() < group.len()
            } {
                break;
            }
        }
        // SAFETY: every entry's iovecs live in an `InFlight` kept in `slots` until completion.
        unsafe {
            let mut sq = ring.submission();
            for e in group {
                let _ = sq.push(e);
            }
        }
        backlog.pop_front();
    }
}

fn finish(slot: &mut Option<InFlight>, result: io::Result<()>) {
    if let Some(flight) = slot.take() {
        let _ = flight.job.done.send(result);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uring_engine_passes_the_engine_suite() {
        match super::UringEngine::start() {
            Ok(engine) => super::super::engine_suite::run_all(&engine),
            Err(e) => eprintln!("SKIP: io_uring is not available here: {e}"),
        }
    }
}
