//! Queue behaviour across processes: order, bounds, large messages, timeouts, close, joinable tasks,
//! and `Disconnected` when the producers are gone.

use multiproc::{ErrorKind, JoinableQueue, Queue, SimpleQueue, worker};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(20);

#[worker]
fn put_range(q: Queue<Option<u64>>, n: u64) {
    for i in 0..n {
        q.put(Some(i)).unwrap();
    }
    q.put(None).unwrap();
}

#[worker]
fn put_blobs(q: Queue<Vec<u8>>, sizes: Vec<usize>) {
    for (i, size) in sizes.into_iter().enumerate() {
        q.put((0..size).map(|j| (i * 31 + j * 7) as u8).collect())
            .unwrap();
    }
}

#[worker]
fn put_then_hang(q: Queue<u64>) {
    q.put(1).unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[worker]
fn put_and_return(q: Queue<u64>, n: u64) {
    for i in 0..n {
        q.put(i).unwrap();
    }
}

#[worker]
fn drain_tasks(q: JoinableQueue<u64>) -> u64 {
    let mut sum = 0;
    while let Ok(n) = q.get() {
        sum += n;
        q.task_done().unwrap();
    }
    sum
}

#[multiproc::test]
fn order_holds_within_a_process() {
    let q = Queue::<String>::new().unwrap();
    for i in 0..1000 {
        q.put(format!("item {i}")).unwrap();
    }
    assert_eq!(q.len(), 1000);
    for i in 0..1000 {
        assert_eq!(q.get().unwrap(), format!("item {i}"));
    }
    assert!(q.is_empty());
}

#[multiproc::test]
fn producer_process_to_parent_in_order() {
    let q = Queue::<Option<u64>>::new().unwrap();
    let p = put_range::spawn(q.clone(), 20_000).unwrap();
    let mut expect = 0;
    while let Some(i) = q.get_timeout(LONG).unwrap() {
        assert_eq!(i, expect);
        expect += 1;
    }
    assert_eq!(expect, 20_000);
    p.join().unwrap();
}

#[multiproc::test]
fn bounded_queue_blocks_and_times_out() {
    let q = Queue::<u8>::bounded(2).unwrap();
    let other = q.clone(); // a live peer: full and empty waits time out instead of disconnecting
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert!(q.is_full());
    let lone = Queue::<u8>::bounded(1).unwrap();
    lone.put(1).unwrap();
    let err = lone.put(2).unwrap_err(); // full, and no handle that could get: never a hang
    assert_eq!(err.kind(), &ErrorKind::Disconnected);
    let err = q.try_put(3).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Full);
    assert_eq!(err.into_inner(), 3);
    let t = Instant::now();
    let err = q.put_timeout(4, Duration::from_millis(50)).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Timeout);
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert_eq!(q.get().unwrap(), 1);
    q.try_put(5).unwrap();
    assert_eq!(q.get().unwrap(), 2);
    assert_eq!(q.get().unwrap(), 5);
    assert_eq!(q.try_get().unwrap_err().kind(), &ErrorKind::Empty);
    assert!(
        q.get_timeout(Duration::from_millis(30))
            .unwrap_err()
            .is_timeout()
    );
    drop(other);
}

#[multiproc::test]
fn messages_larger_than_the_ring_are_streamed() {
    let q = Queue::<Vec<u8>>::builder()
        .ring_bytes(4096)
        .build()
        .unwrap();
    let sizes = vec![10, 5000, 1 << 20, 0, 4080, 4081, 3 << 20, 17];
    let p = put_blobs::spawn(q.clone(), sizes.clone()).unwrap();
    for (i, size) in sizes.into_iter().enumerate() {
        let blob = q.get_timeout(LONG).unwrap();
        assert_eq!(blob.len(), size);
        assert!(
            blob.iter()
                .enumerate()
                .all(|(j, &b)| b == (i * 31 + j * 7) as u8)
        );
    }
    p.join().unwrap();
    assert!(q.is_empty());
}

#[multiproc::test]
fn try_put_refuses_a_message_larger_than_the_ring() {
    // Bounded: an unbounded queue's put never waits (the message waits in the handle's buffer).
    let q = Queue::<Vec<u8>>::builder()
        .ring_bytes(4096)
        .maxsize(100)
        .build()
        .unwrap();
    let err = q.try_put(vec![0; 10_000]).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Full);
    assert_eq!(err.into_inner().len(), 10_000);
    // Streamed with nobody to read the rest: errors instead of hanging.
    let err = q.put(vec![1; 10_000]).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Disconnected);
}

#[multiproc::test]
fn killed_producer_disconnects_a_blocked_get() {
    let q = Queue::<u64>::new().unwrap();
    let mut p = put_then_hang::spawn(q.clone()).unwrap();
    assert_eq!(q.get_timeout(LONG).unwrap(), 1);
    p.kill().unwrap();
    let t = Instant::now();
    let err = q.get_timeout(LONG).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Disconnected, "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
}

#[multiproc::test]
fn producer_that_returns_disconnects_after_its_messages() {
    let q = Queue::<u64>::new().unwrap();
    let p = put_and_return::spawn(q.clone(), 100).unwrap();
    for i in 0..100 {
        assert_eq!(q.get_timeout(LONG).unwrap(), i);
    }
    assert_eq!(
        q.get_timeout(LONG).unwrap_err().kind(),
        &ErrorKind::Disconnected
    );
    p.join().unwrap();
}

#[multiproc::test]
fn get_on_a_lone_handle_disconnects_but_close_only_closes_one_handle() {
    let q = Queue::<u8>::new().unwrap();
    assert_eq!(q.get().unwrap_err().kind(), &ErrorKind::Disconnected);
    let other = q.clone();
    other.put(9).unwrap();
    other.close();
    assert_eq!(other.put(1).unwrap_err().kind(), &ErrorKind::Closed);
    assert_eq!(other.get().unwrap_err().kind(), &ErrorKind::Closed);
    assert_eq!(q.get().unwrap(), 9);
    assert_eq!(q.get().unwrap_err().kind(), &ErrorKind::Disconnected);
}

#[multiproc::test]
fn wrong_type_is_a_codec_error_and_the_queue_stays_usable() {
    let strings = Queue::<String>::new().unwrap();
    let enc = multiproc::codec::encode(&strings).unwrap();
    let numbers: Queue<u32> = multiproc::codec::decode(&enc.bytes, enc.fds).unwrap();
    strings.put("not a number".to_string()).unwrap();
    let err = numbers.get().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Codec, "{err}");
    numbers.put(7).unwrap();
    assert_eq!(numbers.get().unwrap(), 7);
}

#[multiproc::test]
fn handles_cannot_travel_inside_messages() {
    let outer = Queue::<Queue<u8>>::new().unwrap();
    let inner = Queue::<u8>::new().unwrap();
    let err = outer.put(inner).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
}

#[multiproc::test]
fn joinable_queue_join_waits_for_every_task() {
    let q = JoinableQueue::<u64>::new().unwrap();
    let workers: Vec<_> = (0..3)
        .map(|_| drain_tasks::spawn(q.clone()).unwrap())
        .collect();
    for n in 1..=300 {
        q.put(n).unwrap();
    }
    q.join_timeout(LONG).unwrap();
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.task_done().is_err());
    // Closing the parent's handle leaves the workers with no producer: they return.
    q.close();
    let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(total, 300 * 301 / 2);
}

#[multiproc::test]
fn joinable_join_disconnects_when_no_worker_is_left() {
    let q = JoinableQueue::<u64>::new().unwrap();
    q.put(1).unwrap();
    assert_eq!(q.join().unwrap_err().kind(), &ErrorKind::Disconnected);
}

#[multiproc::test]
fn simple_queue_round_trip() {
    let q = SimpleQueue::<(u8, String)>::new().unwrap();
    assert!(q.is_empty());
    q.put((1, "a".into())).unwrap();
    assert_eq!(q.get().unwrap(), (1, "a".into()));
    assert!(q.try_get().is_err());
}

/// Makes, sends and drops 50 queues; the open descriptors before and after. In a child of its own:
/// the count is of the whole process, which the binary's other tests change as they run.
#[multiproc::worker]
fn queue_descriptors() -> (usize, usize) {
    let before = multiproc::open_fd_count();
    for _ in 0..50 {
        let q = Queue::<u8>::new().unwrap();
        let c = q.clone();
        let enc = multiproc::codec::encode(&c).unwrap();
        let back: Queue<u8> = multiproc::codec::decode(&enc.bytes, enc.fds).unwrap();
        back.put(1).unwrap();
        assert_eq!(q.get().unwrap(), 1);
    }
    (before, multiproc::open_fd_count())
}

#[multiproc::test]
fn no_descriptor_leaks() {
    let (before, after) = queue_descriptors::spawn().unwrap().join().unwrap();
    assert_eq!(after, before);
}

#[multiproc::test]
fn a_handle_in_flight_keeps_the_queue_alive_until_received() {
    let q = Queue::<u8>::new().unwrap();
    // Encoding a handle (as spawning a worker does) reserves a slot for the receiver, so the
    // sender's own copy may be dropped before the receiver has started.
    let enc = multiproc::codec::encode(&q.clone()).unwrap();
    let err = q.get_timeout(Duration::from_millis(100)).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let received: Queue<u8> = multiproc::codec::decode(&enc.bytes, enc.fds).unwrap();
    let err = q.get_timeout(Duration::from_millis(100)).unwrap_err();
    assert!(err.is_timeout(), "the receiver is a live handle: {err}");
    drop(received);
    assert_eq!(
        q.get_timeout(LONG).unwrap_err().kind(),
        &ErrorKind::Disconnected
    );
}

#[multiproc::test]
fn a_handle_in_flight_for_longer_than_ten_seconds_still_counts() {
    // A Pool encodes task arguments at submit time; a task may wait much longer than this before a
    // worker receives it. The handle in the encoded message must count as alive all that time.
    let q = Queue::<u8>::new().unwrap();
    let enc = multiproc::codec::encode(&q.clone()).unwrap();
    let err = q.get_timeout(Duration::from_secs(11)).unwrap_err();
    assert!(
        err.is_timeout(),
        "a handle in flight is a live producer: {err}"
    );
    let received: Queue<u8> = multiproc::codec::decode(&enc.bytes, enc.fds).unwrap();
    received.put(7).unwrap();
    assert_eq!(q.get_timeout(LONG).unwrap(), 7);
}

#[multiproc::test]
fn an_undelivered_handle_leaves_nothing_behind() {
    let q = Queue::<u8>::new().unwrap();
    // Encoded, then dropped without being sent.
    drop(multiproc::codec::encode(&q.clone()).unwrap());
    // Refused inside a message: the PutError hands the handle back.
    let outer = Queue::<Queue<u8>>::new().unwrap();
    let err = outer.put(q.clone()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    drop(err);
    let t = Instant::now();
    let err = q.get_timeout(LONG).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Disconnected, "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
}

#[multiproc::test]
fn an_undelivered_handle_leaves_nothing_behind_when_the_table_is_full() {
    let q = Queue::<u8>::new().unwrap();
    // 256 handles fill the liveness table; the rest, and the ticket below, are counted otherwise.
    let clones: Vec<_> = (0..300).map(|_| q.clone()).collect();
    drop(multiproc::codec::encode(&q.clone()).unwrap());
    let err = q.get_timeout(Duration::from_millis(100)).unwrap_err();
    assert!(err.is_timeout(), "the clones are live handles: {err}");
    drop(clones);
    let t = Instant::now();
    let err = q.get_timeout(LONG).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Disconnected, "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
}

/// Python's `q = Queue(); q.put(big); q.get()` in one process: a message larger than the ring, put
/// with no other handle alive, waits in the handle's buffer and streams to this same handle's `get`.
#[multiproc::test]
fn a_message_larger_than_the_ring_reaches_the_same_handles_get() {
    let q = Queue::<multiproc::Bytes>::builder()
        .ring_bytes(64 * 1024)
        .build()
        .unwrap();
    let big = multiproc::Bytes(vec![0x5a; 1 << 20]);
    q.put(big.clone()).unwrap();
    let got = q.get_timeout(std::time::Duration::from_secs(20)).unwrap();
    assert_eq!(got, big);
}
