//! Value, Array, RawValue, RawArray, #[shared] structs and SharedMemory across real processes.

use multiproc::{Array, ErrorKind, RawArray, RawValue, SharedMemory, Value, shared, worker};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[shared]
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Point {
    x: i32,
    y: i32,
    tags: [u8; 3],
}

/// A generic shared struct: fine with the bound.
#[shared]
#[derive(Clone, Copy)]
struct Pair<T: multiproc::Shareable + Copy> {
    a: T,
    b: [T; 2],
}

/// Eight bytes, aligned to 4, three of them padding.
#[shared]
#[derive(Clone, Copy)]
struct Padded {
    a: u32,
    b: u8,
}

/// Made only of atomics: a `RawValue` of it derefs.
#[shared]
struct Counters {
    hits: AtomicU64,
    slots: [AtomicU32; 2],
}

#[worker]
fn bump(v: Value<u64>, n: u64) {
    for _ in 0..n {
        *v.lock().unwrap() += 1;
    }
}

#[worker]
fn square(a: Array<f64>) {
    for x in a.lock().unwrap().iter_mut() {
        *x *= *x;
    }
}

#[worker]
fn move_point(p: Value<Point>) -> Point {
    let mut g = p.lock().unwrap();
    g.x += 10;
    g.tags[2] = 7;
    *g
}

#[worker]
fn hit(c: RawValue<Counters>, n: u64) {
    for _ in 0..n {
        c.hits.fetch_add(1, Ordering::Relaxed);
    }
    c.slots[1].fetch_add(1, Ordering::Relaxed);
}

/// Spins on a plain `RawValue<bool>` until another process sets it (gives up after 10 s).
#[worker]
fn wait_for_flag(ready: RawValue<bool>, seen: RawValue<Point>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready.get() {
        if Instant::now() > deadline {
            return false;
        }
        std::hint::spin_loop();
    }
    seen.get().x == 42
}

#[worker]
fn raw_sum(a: RawArray<u32>) -> u64 {
    a.to_vec().iter().map(|&x| x as u64).sum()
}

#[worker]
fn raw_fill(a: RawArray<u32>, v: u32) {
    for i in 0..a.len() {
        a.set(i, v).unwrap();
    }
}

#[worker]
fn read_named(name: String) -> Vec<u8> {
    let shm = SharedMemory::attach(&name).unwrap();
    let mut buf = vec![0; 5];
    shm.read_at(0, &mut buf).unwrap();
    shm.write_at(5, b"!").unwrap();
    buf
}

#[worker]
fn read_passed(shm: SharedMemory) -> (bool, Vec<u8>) {
    let mut buf = vec![0; 5];
    shm.read_at(0, &mut buf).unwrap();
    (shm.is_owner(), buf)
}

#[multiproc::test]
fn value_counts_exactly_across_processes() {
    let v = Value::new(0u64).unwrap();
    let ps = [
        bump::spawn(v.clone(), 20_000).unwrap(),
        bump::spawn(v.clone(), 20_000).unwrap(),
    ];
    for p in ps {
        p.join().unwrap();
    }
    assert_eq!(v.get().unwrap(), 40_000);
}

#[multiproc::test]
fn array_is_squared_in_place_by_a_worker() {
    let a = Array::from_slice(&[1.0, 2.0, 3.0, 4.0]).unwrap();
    square::spawn(a.clone()).unwrap().join().unwrap();
    assert_eq!(a.to_vec().unwrap(), [1.0, 4.0, 9.0, 16.0]);
}

#[multiproc::test]
fn shared_struct_is_seen_by_both_sides() {
    let p = Value::new(Point {
        x: 1,
        y: 2,
        tags: [1, 2, 3],
    })
    .unwrap();
    let from_child = move_point::spawn(p.clone()).unwrap().join().unwrap();
    let expected = Point {
        x: 11,
        y: 2,
        tags: [1, 2, 7],
    };
    assert_eq!(from_child, expected);
    assert_eq!(p.get().unwrap(), expected);
}

#[multiproc::test]
fn raw_value_atomics_need_no_lock() {
    let c = RawValue::new(Counters {
        hits: AtomicU64::new(0),
        slots: [AtomicU32::new(0), AtomicU32::new(0)],
    })
    .unwrap();
    let ps = [
        hit::spawn(c.clone(), 10_000).unwrap(),
        hit::spawn(c.clone(), 10_000).unwrap(),
    ];
    for p in ps {
        p.join().unwrap();
    }
    assert_eq!(c.hits.load(Ordering::Relaxed), 20_000);
    assert_eq!(c.slots[1].load(Ordering::Relaxed), 2);
    assert_eq!(c.slots[0].load(Ordering::Relaxed), 0);
}

#[multiproc::test]
fn raw_value_plain_flag_is_seen_by_a_spinning_process() {
    let ready = RawValue::new(false).unwrap();
    let seen = RawValue::new(Point::default()).unwrap();
    seen.set(Point {
        x: 42,
        ..Point::default()
    });
    let p = wait_for_flag::spawn(ready.clone(), seen.clone()).unwrap();
    ready.set(true);
    assert!(
        p.join().unwrap(),
        "the worker never saw the flag, or misread the struct"
    );
}

#[multiproc::test]
fn raw_array_reads_and_writes_cross_processes() {
    let a = RawArray::<u32>::new(1000).unwrap();
    raw_fill::spawn(a.clone(), 3).unwrap().join().unwrap();
    assert!(a.to_vec().iter().all(|&x| x == 3));
    let mut buf = vec![0u32; 1000];
    a.copy_to(&mut buf).unwrap();
    assert!(buf.iter().all(|&x| x == 3));
    assert_eq!(a.get(999).unwrap(), 3);
    let mut piece = [0u32; 10];
    a.read_at(990, &mut piece).unwrap();
    assert_eq!(piece, [3; 10]);
    assert_eq!(
        a.read_at(991, &mut piece).unwrap_err().kind(),
        &ErrorKind::InvalidInput
    );
    assert_eq!(
        a.copy_to(&mut [0; 3]).unwrap_err().kind(),
        &ErrorKind::InvalidInput
    );
    a.set(0, 1003).unwrap();
    assert_eq!(raw_sum::spawn(a.clone()).unwrap().join().unwrap(), 4000);
    assert_eq!(a.set(1000, 0).unwrap_err().kind(), &ErrorKind::InvalidInput);
}

#[multiproc::test]
fn value_and_array_helpers() {
    let v = Value::new(5i16).unwrap();
    v.set(-5).unwrap();
    assert_eq!(v.get().unwrap(), -5);
    assert!(v.same(&v.clone()));
    let a = Array::<u8>::new(3).unwrap();
    assert_eq!(a.to_vec().unwrap(), [0, 0, 0]);
    a.set(2, 9).unwrap();
    assert_eq!(a.get(2).unwrap(), 9);
    assert_eq!(a.get(3).unwrap_err().kind(), &ErrorKind::InvalidInput);
    assert_eq!(a.set(3, 1).unwrap_err().kind(), &ErrorKind::InvalidInput);
    let g = a.try_lock().unwrap().expect("free");
    assert_eq!(
        a.lock().unwrap_err().kind(),
        &ErrorKind::InvalidInput,
        "relocking from the holding thread is an error, not a hang"
    );
    drop(g);
    let pair = Value::new(Pair { a: 1u16, b: [2, 3] }).unwrap();
    assert_eq!(pair.get().unwrap().b, [2, 3]);
    let empty = Array::<u64>::new(0).unwrap();
    assert!(empty.is_empty());
    assert!(empty.to_vec().unwrap().is_empty());
}

#[multiproc::test]
fn a_value_cannot_be_received_as_another_type() {
    let v = Value::new(1u64).unwrap();
    let enc = multiproc::codec::encode(&v).unwrap();
    let err = multiproc::codec::decode::<Value<u32>>(&enc.bytes, enc.fds).unwrap_err();
    assert!(err.to_string().contains("u32"), "{err}");
    let enc = multiproc::codec::encode(&v).unwrap();
    assert!(multiproc::codec::decode::<multiproc::Lock>(&enc.bytes, enc.fds).is_err());
}

/// Same size and alignment is not the same type: each of these would read an invalid value.
#[multiproc::test]
fn a_handle_of_the_same_layout_but_another_type_is_refused() {
    fn refused<From: serde::Serialize, To: serde::de::DeserializeOwned>(v: &From) {
        let enc = multiproc::codec::encode(v).unwrap();
        let err = multiproc::codec::decode::<To>(&enc.bytes, enc.fds).err();
        let err = err.expect("decoded as another element type");
        // Inside a decode the refusal arrives as a codec error carrying the handle's message.
        assert!(err.to_string().contains("another element type"), "{err}");
    }
    refused::<_, Value<bool>>(&Value::new(2u8).unwrap());
    refused::<_, RawValue<char>>(&RawValue::new(0xD800u32).unwrap());
    refused::<_, Array<Padded>>(&Array::from_slice(&[[1u32, 2]]).unwrap());
    refused::<_, RawArray<i32>>(&RawArray::from_slice(&[1u32]).unwrap());
    // The right type still decodes.
    let v = Value::new(true).unwrap();
    let enc = multiproc::codec::encode(&v).unwrap();
    let back = multiproc::codec::decode::<Value<bool>>(&enc.bytes, enc.fds).unwrap();
    assert!(back.get().unwrap());
    back.set(false).unwrap();
    assert!(!v.get().unwrap(), "the decoded handle maps the same memory");
}

#[multiproc::test]
fn shared_memory_by_name() {
    let name = format!("test-named-{}", std::process::id());
    let owner = SharedMemory::create(&name, 4096).unwrap();
    owner.write_at(0, b"hello").unwrap();
    assert_eq!(
        SharedMemory::create(&name, 10).unwrap_err().kind(),
        &ErrorKind::InvalidInput,
        "a taken name is refused"
    );
    let got = read_named::spawn(name.clone()).unwrap().join().unwrap();
    assert_eq!(got, b"hello");
    let mut bang = [0u8; 1];
    owner.read_at(5, &mut bang).unwrap();
    assert_eq!(&bang, b"!");

    let err = SharedMemory::attach_sized(&name, 100).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert!(err.to_string().contains("4096"), "{err}");
    assert_eq!(
        SharedMemory::attach_sized(&name, 4096).unwrap().size(),
        4096
    );

    let (is_owner, bytes) = read_passed::spawn(SharedMemory::attach(&name).unwrap())
        .unwrap()
        .join()
        .unwrap();
    assert!(!is_owner);
    assert_eq!(bytes, b"hello");

    let attached = SharedMemory::attach(&name).unwrap();
    drop(owner);
    let err = SharedMemory::attach(&name).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound, "{err}");
    let mut buf = [0u8; 5];
    attached.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"hello", "existing mappings outlive the name");
    assert!(attached.read_at(4095, &mut buf).is_err());
    assert_eq!(
        SharedMemory::create("x", 0).unwrap_err().kind(),
        &ErrorKind::InvalidInput
    );
}

/// Publishes a named block, says so, and stays until told to go (at most 60 s).
#[worker]
fn publish_and_stay(name: String, ready: multiproc::Event, go: multiproc::Event) {
    let _shm = SharedMemory::create(&name, 64).unwrap();
    ready.set();
    go.wait_timeout(Duration::from_secs(60));
}

fn signal(sig: &str, pid: u32) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(|t| t.ok()).all(|t| {
        std::fs::read_to_string(t.path().join("stat")).is_ok_and(|stat| {
            stat.rfind(')')
                .is_some_and(|i| stat[i + 1..].trim_start().starts_with('T'))
        })
    })
}

/// A stopped creator answers nothing and, once its listen backlog is full, accepts no connection
/// either: every attach must still give up with Timeout at its deadline, never hang.
#[multiproc::test]
fn attach_to_a_stopped_creator_times_out_even_with_a_full_backlog() {
    let name = format!("test-stopped-{}", std::process::id());
    let (ready, go) = (
        multiproc::Event::new().unwrap(),
        multiproc::Event::new().unwrap(),
    );
    let p = publish_and_stay::spawn(name.clone(), ready.clone(), go.clone()).unwrap();
    assert!(ready.wait_timeout(Duration::from_secs(10)));
    signal("-STOP", p.pid());
    // kill(2) returns before the target stops: wait until every thread of it is stopped.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !all_threads_stopped(p.pid()) {
        assert!(Instant::now() < deadline, "the creator never stopped");
        std::thread::yield_now();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let attacher = std::thread::spawn(move || {
        // More attempts than the backlog (64) holds, so the last ones wait in connect.
        for _ in 0..80 {
            let r = SharedMemory::attach_timeout(&name, Duration::from_millis(20));
            tx.send(r.map(|_| ()).map_err(|e| e.kind().clone()))
                .unwrap();
        }
    });
    for i in 0..80 {
        let got = rx.recv_timeout(Duration::from_secs(30));
        if got.is_err() {
            // Hung: let the creator go so the test process can end, then fail.
            signal("-CONT", p.pid());
            go.set();
            panic!("attach {i} to a stopped creator did not return");
        }
        assert_eq!(got.unwrap(), Err(ErrorKind::Timeout), "attach {i}");
    }
    attacher.join().unwrap();
    signal("-CONT", p.pid());
    go.set();
    p.join().unwrap();
}

/// Any descriptor that is not a size-sealed memfd (here a plain file another process could shrink
/// under the mapping) is refused as shared memory.
#[multiproc::test]
fn a_descriptor_that_is_not_a_sealed_memfd_is_refused() {
    #[derive(serde::Serialize)]
    struct Wire(
        String,
        #[serde(with = "multiproc::codec::fd")] std::os::fd::OwnedFd,
    );
    let path = std::env::temp_dir().join(format!("multiproc-unsealed-{}", std::process::id()));
    let file = std::fs::File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    file.set_len(4096).unwrap();
    let enc = multiproc::codec::encode(&Wire("fake".into(), file.into())).unwrap();
    let err = multiproc::codec::decode::<SharedMemory>(&enc.bytes, enc.fds).unwrap_err();
    assert!(err.to_string().contains("size sealed"), "{err}");
}
