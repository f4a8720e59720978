//! Tests of the power-cut engine: what survives a cut is exactly what was synced.

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::store::io::sync::SyncEngine;

fn engine(dir: &Path) -> PowerCutEngine {
    PowerCutEngine::new(Arc::new(SyncEngine), &dir.join("stash")).unwrap()
}

fn op(offset: u64, data: &'static [u8]) -> WriteOp {
    WriteOp { offset, bufs: vec![Bytes::from_static(data)] }
}

#[test]
fn passes_the_engine_suite() {
    let dir = tempfile::tempdir().unwrap();
    crate::store::io::engine_suite::run_all(&engine(dir.path()));
}

#[test]
fn unsynced_writes_and_lengths_are_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, b"durable-bytes").unwrap();
    let e = engine(dir.path());
    let f = File::options().read(true).write(true).open(&path).unwrap();
    e.write_batch(&f, &[op(0, b"DURABLE")], true).unwrap();
    e.write_batch(&f, &[op(8, b"LOST"), op(13, b"-and-an-extension")], false).unwrap();
    e.set_len(&f, 4).unwrap();
    e.cut();
    assert_eq!(e.write_batch(&f, &[op(0, b"x")], true).unwrap_err().raw_os_error(), Some(libc::EIO));
    assert!(e.sync(&f).is_err() && e.sync_dir(dir.path()).is_err() && e.remove_file(&path).is_err());
    let report = e.restore().unwrap();
    assert_eq!(report.files_rolled_back, 1);
    assert_eq!(std::fs::read(&path).unwrap(), b"DURABLE-bytes");
}

#[test]
fn a_later_sync_makes_earlier_writes_durable() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let path = dir.path().join("f");
    let f = e.create_new(&path).unwrap();
    e.sync_dir(dir.path()).unwrap();
    e.write_batch(&f, &[op(0, b"first ")], false).unwrap();
    e.write_batch(&f, &[op(6, b"second")], false).unwrap();
    e.sync(&f).unwrap();
    e.write_batch(&f, &[op(12, b" third")], false).unwrap();
    e.cut();
    e.restore().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"first second");
}

/// The standalone-blob sequence: the file is synced and renamed, but only the directory fsync
/// makes the rename survive.
#[test]
fn a_rename_survives_only_with_its_directory_synced() {
    for sync_dir in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (tmp, month) = (dir.path().join("tmp"), dir.path().join("month"));
        let e = engine(dir.path());
        e.create_dir_all(&tmp).unwrap();
        e.create_dir_all(&month).unwrap();
        e.sync_dir(dir.path()).unwrap();
        let f = e.create_new(&tmp.join("x.1")).unwrap();
        e.write_batch(&f, &[op(0, b"blob bytes")], false).unwrap();
        e.sync(&f).unwrap();
        e.rename(&tmp.join("x.1"), &month.join("x")).unwrap();
        if sync_dir {
            e.sync_dir(&month).unwrap();
        }
        e.cut();
        e.restore().unwrap();
        let kept = std::fs::read(month.join("x")).ok();
        assert_eq!(kept.as_deref(), sync_dir.then_some(&b"blob bytes"[..]), "directory synced: {sync_dir}");
        assert!(!tmp.join("x.1").exists(), "the temporary file's creation was never durable either");
    }
}

#[test]
fn removals_and_replacements_come_back_unless_synced() {
    for sync_dir in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("gone"), b"removed").unwrap();
        std::fs::write(data.join("HIGHWATER"), b"7\n").unwrap();
        let e = engine(dir.path());
        e.remove_file(&data.join("gone")).unwrap();
        let f = e.create_new(&data.join("HIGHWATER.tmp")).unwrap();
        e.write_batch(&f, &[op(0, b"8\n")], true).unwrap();
        e.rename(&data.join("HIGHWATER.tmp"), &data.join("HIGHWATER")).unwrap();
        let seg = e.create_new(&data.join("8.seg")).unwrap();
        e.write_batch(&seg, &[op(0, b"header")], true).unwrap();
        if sync_dir {
            e.sync_dir(&data).unwrap();
        }
        e.cut();
        let report = e.restore().unwrap();
        assert_eq!(report.entries_undone, if sync_dir { 0 } else { 4 });
        let mut names: Vec<String> =
            std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        let hw = std::fs::read(data.join("HIGHWATER")).unwrap();
        if sync_dir {
            assert_eq!((names, &hw[..]), (vec!["8.seg".to_string(), "HIGHWATER".into()], &b"8\n"[..]));
        } else {
            assert_eq!((names, &hw[..]), (vec!["HIGHWATER".to_string(), "gone".into()], &b"7\n"[..]));
            assert_eq!(std::fs::read(data.join("gone")).unwrap(), b"removed");
        }
    }
}

/// Through the real store code: a committed blob survives, one removed without its directory
/// synced comes back, a segment append that was synced survives.
#[test]
fn the_store_keeps_what_it_promised() {
    use crate::ids::{AttachmentId, ProjectId, Sha256Digest};
    use crate::store::{AppendItem, Blobs, Segments, StoredBlob};
    let dir = tempfile::tempdir().unwrap();
    let e = Arc::new(engine(dir.path()));
    let blobs = Blobs::open(&dir.path().join("blobs"), e.clone()).unwrap();
    let t = StoredBlob { project: ProjectId::random(), month: 202612, id: AttachmentId::random() };
    let mut w = blobs.create(t, 5).unwrap();
    w.write(vec![Bytes::from_static(b"hello")]).unwrap();
    let stored = w.commit().unwrap();
    let mut unfinished = blobs.create(StoredBlob { id: AttachmentId::random(), ..t }, 5).unwrap();
    unfinished.write(vec![Bytes::from_static(b"early")]).unwrap();
    let segs = Segments::open(&dir.path().join("segments"), e.clone(), 1 << 20).unwrap();
    let data = vec![9u8; 3000];
    let item = AppendItem {
        id: AttachmentId::random(),
        sha256: Sha256Digest([1; 32]),
        crc: crc32c::crc32c(&data),
        payload: vec![Bytes::from(data.clone())],
    };
    let p = segs.append_batch(std::slice::from_ref(&item)).unwrap()[0];
    e.cut();
    std::mem::forget(unfinished); // the process is gone: no guard runs
    drop((segs, blobs));
    e.restore().unwrap();
    let blobs = Blobs::open(&dir.path().join("blobs"), Arc::new(SyncEngine)).unwrap();
    assert_eq!(&blobs.open_blob(&stored).unwrap().read_at(0, 10).unwrap()[..], b"hello");
    assert!(blobs.list_tmp().unwrap().is_empty(), "the unsynced temporary file is gone");
    let segs = Segments::open(&dir.path().join("segments"), Arc::new(SyncEngine), 1 << 20).unwrap();
    assert_eq!(&segs.read(p.segment, p.offset, item.id, p.len).unwrap()[..], &data[..]);
}
