//! SIGKILL every process that mapped shared memory: nothing is left in /dev/shm, the names are gone,
//! and the parent's descriptor count is back where it started.

use multiproc::{
    Array, Barrier, ErrorKind, Event, Lock, RawArray, Semaphore, SharedMemory, Value, worker,
};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn dev_shm() -> BTreeSet<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every kind of block; handles travel inside any serde struct.
#[derive(serde::Serialize, serde::Deserialize)]
struct Blocks {
    v: Value<u64>,
    a: Array<f64>,
    r: RawArray<u8>,
    l: Lock,
    s: Semaphore,
    b: Barrier,
}

/// Maps every kind of block, publishes a named block too, then parks.
#[worker]
fn map_everything(blocks: Blocks, name: String, ready: Event) {
    let Blocks { v, a, r, l, s, b } = blocks;
    let _named = SharedMemory::create(&name, 1 << 16).unwrap();
    *v.lock().unwrap() += 1;
    a.set(0, 1.0).unwrap();
    assert_eq!(r.len(), 4096);
    let _held = l.acquire().unwrap();
    let _permit = s.acquire();
    assert_eq!(b.parties(), 2);
    ready.set();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// One test, so that no other test of this binary opens descriptors while it counts them.
#[multiproc::test]
fn killed_mappers_and_dropped_handles_leave_nothing_behind() {
    // Relies on spawn semantics (see the README's start-method section): set it explicitly.
    multiproc::set_start_method(multiproc::StartMethod::Spawn);
    // The process's shared-memory name server keeps one epoll descriptor from its first use on.
    drop(SharedMemory::new(1).unwrap());
    killed_mappers_leave_nothing_behind();
    dropping_handles_releases_descriptors();
}

fn killed_mappers_leave_nothing_behind() {
    let shm_before = dev_shm();
    let fds_before = multiproc::open_fd_count();
    let names: Vec<String> = (0..2)
        .map(|i| format!("fault-{}-{i}", std::process::id()))
        .collect();
    {
        let ready = Event::new().unwrap();
        let mut procs = Vec::new();
        for name in &names {
            procs.push(
                map_everything::spawn(
                    Blocks {
                        v: Value::new(0).unwrap(),
                        a: Array::new(8).unwrap(),
                        r: RawArray::new(4096).unwrap(),
                        l: Lock::new().unwrap(),
                        s: Semaphore::new(1).unwrap(),
                        b: Barrier::new(2).unwrap(),
                    },
                    name.clone(),
                    ready.clone(),
                )
                .unwrap(),
            );
        }
        // Both children have created their named blocks once both can be attached.
        let deadline = Instant::now() + Duration::from_secs(20);
        for name in &names {
            while SharedMemory::attach(name).is_err() {
                assert!(Instant::now() < deadline, "{name} never appeared");
                std::thread::yield_now();
            }
        }
        assert!(ready.wait_timeout(Duration::from_secs(20)));
        for mut p in procs {
            p.kill().unwrap();
            match p.join().unwrap_err().kind() {
                ErrorKind::WorkerDied { signal, .. } => {
                    assert_eq!(signal.as_deref(), Some("SIGKILL"))
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    for name in &names {
        assert_eq!(
            SharedMemory::attach(name).unwrap_err().kind(),
            &ErrorKind::NotFound,
            "the name of a killed creator is gone"
        );
    }
    assert_eq!(dev_shm(), shm_before, "files left in /dev/shm");
    assert_eq!(multiproc::open_fd_count(), fds_before, "descriptors leaked");
}

fn dropping_handles_releases_descriptors() {
    let before = multiproc::open_fd_count();
    {
        let v = Value::new(1u8).unwrap();
        let _clones: Vec<_> = (0..10).map(|_| v.clone()).collect();
        let _named = SharedMemory::new(4096).unwrap();
        let _attached = SharedMemory::attach(_named.name()).unwrap();
        let _l = Lock::new().unwrap();
        let enc = multiproc::codec::encode(&v).unwrap();
        let _back: Value<u8> = multiproc::codec::decode(&enc.bytes, enc.fds).unwrap();
        assert!(multiproc::open_fd_count() > before);
    }
    assert_eq!(multiproc::open_fd_count(), before);
}
