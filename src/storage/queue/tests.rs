use std::fs;
use std::time::Duration;

use super::segment::{self, HEADER_LEN, RECORD_HEADER_LEN};
use super::*;

fn opts(capacity: usize) -> QueueOptions {
    QueueOptions {
        capacity,
        fsync: true,
        segment_bytes: 8 << 20,
    }
}

fn payload(i: usize) -> Bytes {
    Bytes::from(format!("record-{i:04}-{}", "x".repeat(i % 7)))
}

fn open(dir: &Path, o: QueueOptions) -> (PersistentQueue, OpenReport) {
    PersistentQueue::open(dir, o).expect("open")
}

/// Segment files in `dir`, sorted.
fn segments(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".wal"))
        .collect();
    v.sort();
    v
}

async fn push_n(q: &PersistentQueue, range: std::ops::Range<usize>) -> Vec<RecordId> {
    let mut ids = Vec::new();
    for i in range {
        ids.push(q.push(payload(i)).await.expect("push"));
    }
    ids
}

async fn pop_now(q: &PersistentQueue) -> Option<(RecordId, Bytes)> {
    tokio::time::timeout(Duration::from_secs(5), q.pop())
        .await
        .expect("pop timed out")
}

/// Pops everything available (closes the queue first), returning the payloads.
async fn drain(q: &PersistentQueue) -> Vec<(RecordId, Bytes)> {
    q.close();
    let mut out = Vec::new();
    while let Some(r) = pop_now(q).await {
        out.push(r);
    }
    out
}

/// Waits until the writer thread has persisted progress and deleted consumed segments.
async fn settle(q: PersistentQueue) {
    drop(q);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn push_pop_complete_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (q, report) = open(dir.path(), opts(100));
    assert_eq!(report, OpenReport::default());
    let ids = push_n(&q, 0..10).await;
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(q.pending(), 10);
    for (i, id) in ids.iter().enumerate() {
        let (got, p) = pop_now(&q).await.unwrap();
        assert_eq!(got, *id);
        assert_eq!(p, payload(i));
        q.complete(got);
    }
    assert_eq!(q.pending(), 0);
    // Nothing left: pop waits.
    assert!(tokio::time::timeout(Duration::from_millis(50), q.pop())
        .await
        .is_err());
    q.close();
    assert!(pop_now(&q).await.is_none());
    assert!(matches!(q.push(payload(0)).await, Err(QueueError::Closed)));
}

#[tokio::test]
async fn pop_reads_back_from_disk_beyond_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), opts(100));
    // 12 × 512 KiB exceeds the in-memory cache, so later records are read from disk.
    let big: Vec<Bytes> = (0..12u8).map(|i| Bytes::from(vec![i; 512 << 10])).collect();
    for b in &big {
        q.push(b.clone()).await.unwrap();
    }
    for b in &big {
        let (id, p) = pop_now(&q).await.unwrap();
        assert_eq!(&p, b);
        q.complete(id);
    }
}

#[tokio::test]
async fn reopen_replays_uncompleted_including_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), opts(100));
    let ids = push_n(&q, 0..10).await;
    // Hand out 6, complete the first 3; 3..6 are handed out but not completed.
    for _ in 0..6 {
        pop_now(&q).await.unwrap();
    }
    for id in &ids[..3] {
        q.complete(*id);
    }
    settle(q).await;

    let (q, report) = open(dir.path(), opts(100));
    assert_eq!(report.recovered, 7);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(q.pending(), 7);
    let got = drain(&q).await;
    let got_ids: Vec<RecordId> = got.iter().map(|(id, _)| *id).collect();
    assert_eq!(got_ids, ids[3..].to_vec());
    for (k, (_, p)) in got.iter().enumerate() {
        assert_eq!(*p, payload(k + 3));
    }
    drop(q);
    // Nothing was completed in the second run: all 7 again, and new ids continue after.
    let (q, report) = open(dir.path(), opts(100));
    assert_eq!(report.recovered, 7);
    let id = q.push(payload(99)).await.unwrap();
    assert!(id > ids[9]);
}

#[tokio::test]
async fn out_of_order_complete_persists_only_contiguous_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), opts(100));
    let ids = push_n(&q, 0..6).await;
    for _ in 0..6 {
        pop_now(&q).await.unwrap();
    }
    // Complete 0, 1, 3, 5: the prefix is 0..2; 2 and 4 are not done.
    for i in [3, 0, 5, 1] {
        q.complete(ids[i]);
    }
    assert_eq!(q.pending(), 2);
    settle(q).await;

    let (q, report) = open(dir.path(), opts(100));
    // 2..6 replayed (3 and 5 again: at-least-once), 0 and 1 not.
    assert_eq!(report.recovered, 4);
    let got: Vec<RecordId> = drain(&q).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, ids[2..].to_vec());
}

#[tokio::test]
async fn capacity_blocks_push_until_complete() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), opts(3));
    push_n(&q, 0..3).await;
    assert!(q.try_push_would_block());
    let blocked = {
        let q = q.clone();
        tokio::spawn(async move { q.push(payload(3)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!blocked.is_finished());
    assert_eq!(q.pending(), 3);
    // Popping alone does not free room; completing does.
    let (id, _) = pop_now(&q).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!blocked.is_finished());
    q.complete(id);
    let id3 = tokio::time::timeout(Duration::from_secs(5), blocked)
        .await
        .expect("push still blocked")
        .unwrap()
        .unwrap();
    assert_eq!(q.pending(), 3);
    assert!(q.try_push_would_block());
    // Close wakes a blocked push with Closed.
    let blocked = {
        let q = q.clone();
        tokio::spawn(async move { q.push(payload(4)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    q.close();
    let r = tokio::time::timeout(Duration::from_secs(5), blocked)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(r, Err(QueueError::Closed)));
    // The remaining records can still be popped after close.
    let rest: Vec<RecordId> = drain(&q).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(rest.len(), 3);
    assert_eq!(*rest.last().unwrap(), id3);
}

#[tokio::test]
async fn segments_rotate_and_consumed_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let o = QueueOptions {
        capacity: 1000,
        fsync: false,
        segment_bytes: 1024,
    };
    let (q, _) = open(dir.path(), o);
    let body = Bytes::from(vec![7u8; 200]);
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(q.push(body.clone()).await.unwrap());
    }
    let before = segments(dir.path());
    assert!(before.len() >= 5, "{before:?}");
    // Complete the first half: segments wholly before record 20 go away.
    for _ in 0..20 {
        let (id, _) = pop_now(&q).await.unwrap();
        q.complete(id);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while segments(dir.path()).len() >= before.len() - 1 {
        assert!(std::time::Instant::now() < deadline, "segments not deleted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let middle = segments(dir.path());
    assert!(!middle.contains(&before[0]), "{middle:?}");
    assert!(middle.contains(before.last().unwrap()));
    // The rest survives a reopen.
    settle(q).await;
    let (q, report) = open(dir.path(), o);
    assert_eq!(report.recovered, 20);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let got: Vec<RecordId> = drain(&q).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, ids[20..].to_vec());
    // Completing everything leaves only the active segment.
    let (q, _) = {
        drop(q);
        open(dir.path(), o)
    };
    for _ in 0..20 {
        let (id, _) = pop_now(&q).await.unwrap();
        q.complete(id);
    }
    settle(q).await;
    let (q, report) = open(dir.path(), o);
    assert_eq!(report.recovered, 0);
    assert_eq!(segments(dir.path()).len(), 1, "{:?}", segments(dir.path()));
    assert_eq!(q.pending(), 0);
}

/// Size of the record holding `payload(i)` on disk.
fn record_size(i: usize) -> u64 {
    (RECORD_HEADER_LEN + payload(i).len()) as u64
}

fn last_segment(dir: &Path) -> PathBuf {
    dir.join(segments(dir).last().unwrap())
}

#[tokio::test]
async fn torn_tail_is_cut_reported_and_queue_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), opts(100));
    let ids = push_n(&q, 0..5).await;
    drop(q);
    // Cut the last record in half, as a crash mid-write would.
    let path = last_segment(dir.path());
    let full = fs::metadata(&path).unwrap().len();
    let cut = full - record_size(4) / 2;
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(cut)
        .unwrap();

    let (q, report) = open(dir.path(), opts(100));
    assert_eq!(report.recovered, 4);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let p = &report.problems[0];
    assert!(
        p.contains(path.file_name().unwrap().to_str().unwrap()),
        "{p}"
    );
    assert!(p.contains("truncated record"), "{p}");
    assert!(p.contains("1 record(s)"), "{p}");
    assert_eq!(report.skipped_records, 1);
    assert_eq!(report.skipped_bytes, cut - (full - record_size(4)));
    assert_eq!(fs::metadata(&path).unwrap().len(), full - record_size(4));

    // New pushes work and everything survives another reopen without new problems.
    let new = push_n(&q, 10..13).await;
    assert!(new[0] > ids[3]);
    drop(q);
    let (q, report) = open(dir.path(), opts(100));
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let got = drain(&q).await;
    let got_ids: Vec<RecordId> = got.iter().map(|(id, _)| *id).collect();
    let mut want = ids[..4].to_vec();
    want.extend(&new);
    assert_eq!(got_ids, want);
    assert_eq!(got[4].1, payload(10));
}

#[tokio::test]
async fn corrupt_byte_in_last_segment_is_reported_and_intact_records_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), opts(100));
    let ids = push_n(&q, 0..10).await;
    drop(q);
    // Flip a payload byte of record 5.
    let path = last_segment(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    let off5 = HEADER_LEN as u64 + (0..5).map(record_size).sum::<u64>();
    bytes[off5 as usize + RECORD_HEADER_LEN + 3] ^= 0x40;
    fs::write(&path, &bytes).unwrap();

    let (q, report) = open(dir.path(), opts(100));
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let p = &report.problems[0];
    assert!(
        p.contains(&format!(
            "corrupt record at offset {off5} (checksum mismatch)"
        )),
        "{p}"
    );
    assert!(p.contains("1 record(s)"), "{p}");
    assert_eq!(report.skipped_records, 1);
    assert_eq!(report.skipped_bytes, record_size(5));
    // Records before it are kept, and so are the intact ones after it.
    assert_eq!(report.recovered, 9);
    let got = drain(&q).await;
    let got_ids: Vec<RecordId> = got.iter().map(|(id, _)| *id).collect();
    let want: Vec<RecordId> = ids.iter().copied().filter(|id| *id != ids[5]).collect();
    assert_eq!(got_ids, want);
    for (id, p) in &got {
        let i = ids.iter().position(|x| x == id).unwrap();
        assert_eq!(*p, payload(i));
    }
    // The segment was repaired: appends work, and a reopen reports nothing new.
    let new = q.push(payload(20)).await;
    assert!(matches!(new, Err(QueueError::Closed)));
    drop(q);
    let (q, report) = open(dir.path(), opts(100));
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let new = q.push(payload(20)).await.unwrap();
    assert!(new > ids[9]);
    drop(q);
    let (_q, report) = open(dir.path(), opts(100));
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.recovered, 10);
}

#[tokio::test]
async fn corrupt_length_field_cuts_the_rest_of_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), opts(100));
    let ids = push_n(&q, 0..4).await;
    drop(q);
    let path = last_segment(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    let off3 = HEADER_LEN + (0..3).map(record_size).sum::<u64>() as usize;
    // A huge length in the last record: it runs past the end of the file.
    bytes[off3 + 3] = 0x7f;
    fs::write(&path, &bytes).unwrap();
    let (q, report) = open(dir.path(), opts(100));
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.recovered, 3);
    let got: Vec<RecordId> = drain(&q).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, ids[..3].to_vec());
}

#[tokio::test]
async fn zero_filled_tail_is_not_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), opts(100));
    push_n(&q, 0..3).await;
    drop(q);
    let path = last_segment(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0u8; 4096]);
    fs::write(&path, &bytes).unwrap();
    let (q, report) = open(dir.path(), opts(100));
    assert_eq!(report.recovered, 3);
    assert_eq!(report.skipped_bytes, 4096);
    assert_eq!(drain(&q).await.len(), 3);
}

#[tokio::test]
async fn corrupt_progress_file_replays_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), opts(100));
    let ids = push_n(&q, 0..4).await;
    for id in &ids[..2] {
        pop_now(&q).await.unwrap();
        q.complete(*id);
    }
    settle(q).await;
    fs::write(dir.path().join("progress"), b"garbage").unwrap();
    let (_q, report) = open(dir.path(), opts(100));
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].contains("progress file"));
    assert_eq!(report.recovered, 4);
}

#[tokio::test]
async fn second_open_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), opts(10));
    match PersistentQueue::open(dir.path(), opts(10)) {
        Err(e @ QueueError::Locked(_)) => {
            assert_eq!(
                e.to_string(),
                format!(
                    "queue directory {} is in use by another process",
                    dir.path().display()
                )
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    // Clones share the queue; the lock goes with the last one.
    let q2 = q.clone();
    drop(q);
    assert!(matches!(
        PersistentQueue::open(dir.path(), opts(10)),
        Err(QueueError::Locked(_))
    ));
    drop(q2);
    open(dir.path(), opts(10));
}

#[tokio::test]
async fn fsync_off_persists_across_reopen_of_dropped_queue() {
    let dir = tempfile::tempdir().unwrap();
    let o = QueueOptions {
        fsync: false,
        ..opts(100)
    };
    let (q, _) = open(dir.path(), o);
    let ids = push_n(&q, 0..8).await;
    let (id0, _) = pop_now(&q).await.unwrap();
    q.complete(id0);
    drop(q);
    let (q, report) = open(dir.path(), o);
    assert_eq!(report.recovered, 7);
    let got: Vec<RecordId> = drain(&q).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, ids[1..].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_and_consumers_deliver_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), opts(64));
    let producers: Vec<_> = (0..8)
        .map(|p| {
            let q = q.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    q.push(payload(p * 1000 + i)).await.unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while let Some((id, p)) = q.pop().await {
                    seen.push(p);
                    q.complete(id);
                }
                seen
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while q.pending() > 0 {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    q.close();
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.await.unwrap());
    }
    all.sort();
    let mut want: Vec<Bytes> = (0..8)
        .flat_map(|p| (0..50).map(move |i| payload(p * 1000 + i)))
        .collect();
    want.sort();
    assert_eq!(all, want);
    settle(q).await;
    let (_q, report) = open(dir.path(), opts(64));
    assert_eq!(report.recovered, 0);
}

#[tokio::test]
async fn cancelled_pop_hands_the_record_out_again() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), opts(100));
    // Large enough records that the later ones are read from disk (not cached).
    let body = Bytes::from(vec![1u8; 3 << 20]);
    let a = q.push(body.clone()).await.unwrap();
    let b = q.push(body.clone()).await.unwrap();
    let (got, _) = pop_now(&q).await.unwrap();
    assert_eq!(got, a);
    {
        // Poll the pop of `b` once (it starts the disk read) and drop it.
        let fut = q.pop();
        tokio::pin!(fut);
        let _ = futures::poll!(fut.as_mut());
    }
    let (got, p) = pop_now(&q).await.unwrap();
    assert_eq!(got, b);
    assert_eq!(p, body);
}

#[test]
fn scanner_never_panics_on_garbage() {
    let mut seed = 0x1234_5678_u64;
    for n in [0, 1, 15, 16, 17, 31, 32, 100, 4096] {
        for _ in 0..20 {
            let buf: Vec<u8> = (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let scan = segment::scan_records(&buf, 0, 0);
            assert!(scan.records.is_empty());
            let _ = segment::decode_header(&buf);
        }
    }
    // A valid record is found after garbage and the gap is counted.
    let mut buf = vec![0xAB; 40];
    let p = Bytes::from_static(b"hello");
    buf.extend_from_slice(&segment::encode_record_header(3, &p));
    buf.extend_from_slice(&p);
    let scan = segment::scan_records(&buf, 0, 0);
    assert_eq!(scan.records.len(), 1);
    assert_eq!(scan.records[0].seq, 3);
    assert_eq!(scan.damages.len(), 1);
    assert_eq!(scan.damages[0].records, 3);
    assert_eq!(scan.damages[0].bytes, 40);
    assert!(scan.damages[0].resumed);
}

#[tokio::test]
async fn damage_in_a_middle_segment_is_skipped_and_later_segments_kept() {
    let dir = tempfile::tempdir().unwrap();
    let o = QueueOptions {
        capacity: 1000,
        fsync: false,
        segment_bytes: 256,
    };
    let (q, _) = open(dir.path(), o);
    let ids = push_n(&q, 0..30).await;
    drop(q);
    let segs = segments(dir.path());
    assert!(segs.len() >= 3, "{segs:?}");
    // Damage the first record of the second segment.
    let path = dir.path().join(&segs[1]);
    let mut bytes = fs::read(&path).unwrap();
    bytes[HEADER_LEN + RECORD_HEADER_LEN] ^= 0xff;
    fs::write(&path, &bytes).unwrap();

    let (q, report) = open(dir.path(), o);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].starts_with(&format!(
            "segment {}: corrupt record at offset 16 (checksum mismatch)",
            segs[1]
        )),
        "{:?}",
        report.problems
    );
    assert_eq!(report.skipped_records, 1);
    assert_eq!(report.recovered, 29);
    let got: Vec<(RecordId, Bytes)> = drain(&q).await;
    assert_eq!(got.len(), 29);
    for (id, p) in &got {
        let i = ids.iter().position(|x| x == id).unwrap();
        assert_eq!(*p, payload(i));
    }
    drop(q);
    let (_q, report) = open(dir.path(), o);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.recovered, 29);
}

#[tokio::test]
async fn segment_with_torn_header_is_removed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), opts(10));
    let ids = push_n(&q, 0..2).await;
    drop(q);
    // A crash right after creating the next segment, before its header was written.
    let last = segments(dir.path()).last().unwrap().clone();
    let no: u64 = last.trim_end_matches(".wal").parse().unwrap();
    fs::write(dir.path().join(segment::segment_name(no + 1)), b"SLQ").unwrap();
    let (q, report) = open(dir.path(), opts(10));
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].contains("incomplete header"));
    assert_eq!(report.recovered, 2);
    let new = q.push(payload(5)).await.unwrap();
    assert!(new > ids[1]);
    let got: Vec<RecordId> = drain(&q).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, vec![ids[0], ids[1], new]);
}
