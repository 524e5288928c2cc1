//! Python conformance (issue 13, part 2, synchronisation and shared memory): CPython's
//! `Lib/test/_test_multiprocessing.py` tests of `_TestBarrier`, `_TestValue`, `_TestArray`,
//! `_TestSharedMemory` and `_TestPool` ported where one maps (named `<class>_<method>` after the CPython
//! test): the barrier's action, default timeout and reset; values and arrays under a lock the caller
//! supplies; the shared-memory manager and `ShareableList`; `map_async` / `starmap_async` callbacks.

use multiproc::{
    AnyLock, Array, Barrier, ErrorKind, Lock, Pool, RLock, RawValue, ShareableList, SharedMemory,
    SharedMemoryManager, Value, worker,
};
use std::time::Duration;

const N: u32 = 5;

/// An error's kind as text (`ErrorKind` does not travel): `Debug` of the kind.
fn kind(e: &multiproc::Error) -> String {
    format!("{:?}", e.kind())
}

/// The barrier action of `test_action`: Python's `AppendTrue(results)`.
#[worker]
fn append_true(results: Value<u32>) {
    *results.lock().unwrap() += 1;
}

/// `_test_action_f`, for `rounds` rounds: after each wait the action has run exactly once per round.
#[worker]
fn action_party(b: Barrier, results: Value<u32>, rounds: u32) -> Vec<u32> {
    (0..rounds)
        .map(|_| {
            b.wait().unwrap();
            results.get().unwrap()
        })
        .collect()
}

/// `_TestBarrier.test_action`: `Barrier(N, action=AppendTrue(results))`; every party sees the action's
/// effect once it is released, and it ran once. Here over three rounds, the action given as a
/// `#[worker]` with its argument (a shared value), run by whichever process arrives last.
#[multiproc::test]
fn barrier_test_action() {
    let results = Value::new(0u32).unwrap();
    let b = Barrier::builder(N)
        .action(append_true, (results.clone(),))
        .build()
        .unwrap();
    let ps: Vec<_> = (0..N)
        .map(|_| action_party::spawn(b.clone(), results.clone(), 3).unwrap())
        .collect();
    for p in ps {
        assert_eq!(p.join().unwrap(), [1, 2, 3]);
    }
    assert_eq!(results.get().unwrap(), 3);
}

#[worker]
fn panicking_action() {
    panic!("action failed on purpose");
}

#[worker]
fn wait_kind(b: Barrier) -> Option<String> {
    b.wait().err().map(|e| kind(&e))
}

/// Python's `_release`: an action that raises breaks the barrier; the party that ran it gets the
/// error, the others `BrokenBarrierError`.
#[multiproc::test]
fn barrier_action_failure_breaks_the_barrier() {
    let b = Barrier::builder(3)
        .action(panicking_action, ())
        .build()
        .unwrap();
    let ps: Vec<_> = (0..3)
        .map(|_| wait_kind::spawn(b.clone()).unwrap())
        .collect();
    let mut kinds: Vec<_> = ps.into_iter().map(|p| p.join().unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds[0].as_deref(), Some("BrokenBarrier"));
    assert_eq!(kinds[1].as_deref(), Some("BrokenBarrier"));
    assert!(
        kinds[2]
            .as_deref()
            .is_some_and(|k| k.starts_with("WorkerPanicked") && k.contains("on purpose")),
        "{kinds:?}"
    );
    assert!(b.is_broken());
    assert_eq!(b.n_waiting(), 0);
}

/// `with_action` sets the action of one handle; a handle without one runs none.
#[multiproc::test]
fn barrier_with_action_per_handle() {
    let results = Value::new(0u32).unwrap();
    let plain = Barrier::new(1).unwrap();
    plain.wait().unwrap();
    assert_eq!(results.get().unwrap(), 0);
    let acting = plain
        .clone()
        .with_action(append_true, (results.clone(),))
        .unwrap();
    acting.wait().unwrap();
    plain.wait().unwrap();
    assert_eq!(results.get().unwrap(), 1);
}

/// `_test_reset_f`: the party with index N/2 resets the barrier once the N-1 others wait on it again;
/// they get `BrokenBarrier`; then all pass it once more. Returns (passed, broken, passed again).
#[worker]
fn reset_party(b: Barrier) -> (u32, u32, u32) {
    let (mut r1, mut r2) = (0, 0);
    let i = b.wait().unwrap();
    if i == N / 2 {
        while b.n_waiting() < N - 1 {
            std::thread::sleep(Duration::from_millis(1));
        }
        b.reset().unwrap();
    } else {
        match b.wait() {
            Ok(_) => r1 += 1,
            Err(e) if e.kind() == &ErrorKind::BrokenBarrier => r2 += 1,
            Err(e) => panic!("{e}"),
        }
    }
    b.wait().unwrap();
    (r1, r2, 1)
}

fn sum3(ps: Vec<(u32, u32, u32)>) -> (u32, u32, u32) {
    ps.into_iter()
        .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
}

/// `_TestBarrier.test_reset`.
#[multiproc::test]
fn barrier_test_reset() {
    let b = Barrier::new(N).unwrap();
    let ps: Vec<_> = (0..N)
        .map(|_| reset_party::spawn(b.clone()).unwrap())
        .collect();
    let got = sum3(ps.into_iter().map(|p| p.join().unwrap()).collect());
    assert_eq!(got, (0, N - 1, N));
    assert!(!b.is_broken());
}

/// `_test_abort_and_reset_f`.
#[worker]
fn abort_and_reset_party(b: Barrier, b2: Barrier) -> (u32, u32, u32) {
    let (mut r1, mut r2) = (0, 0);
    match b.wait() {
        Ok(i) if i == N / 2 => b.abort(),
        Ok(_) => match b.wait() {
            Ok(_) => r1 += 1,
            Err(e) if e.kind() == &ErrorKind::BrokenBarrier => r2 += 1,
            Err(e) => panic!("{e}"),
        },
        Err(e) if e.kind() == &ErrorKind::BrokenBarrier => r2 += 1,
        Err(e) => panic!("{e}"),
    }
    // Everyone has left `b` before the reset, and nobody enters it before.
    if b2.wait().unwrap() == N / 2 {
        b.reset().unwrap();
    }
    b2.wait().unwrap();
    b.wait().unwrap();
    (r1, r2, 1)
}

/// `_TestBarrier.test_abort_and_reset`.
#[multiproc::test]
fn barrier_test_abort_and_reset() {
    let b = Barrier::new(N).unwrap();
    let b2 = Barrier::new(N).unwrap();
    let ps: Vec<_> = (0..N)
        .map(|_| abort_and_reset_party::spawn(b.clone(), b2.clone()).unwrap())
        .collect();
    let got = sum3(ps.into_iter().map(|p| p.join().unwrap()).collect());
    assert_eq!(got, (0, N - 1, N));
}

/// `_test_default_timeout_f`: the party with index N/2 arrives late at the second wait; every party
/// fails it (Python: all `BrokenBarrierError`; here the one whose default timeout expired gets
/// `Timeout`, the others `BrokenBarrier`).
#[worker]
fn default_timeout_party(b: Barrier) -> Option<String> {
    let i = b.wait().unwrap();
    if i == N / 2 {
        std::thread::sleep(Duration::from_millis(1000));
    }
    b.wait().err().map(|e| kind(&e))
}

/// `_TestBarrier.test_default_timeout`: `Barrier(N, timeout=0.3)`.
#[multiproc::test]
fn barrier_test_default_timeout() {
    let b = Barrier::builder(N)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    assert_eq!(b.timeout(), Some(Duration::from_millis(300)));
    let ps: Vec<_> = (0..N)
        .map(|_| default_timeout_party::spawn(b.clone()).unwrap())
        .collect();
    let kinds: Vec<_> = ps.into_iter().map(|p| p.join().unwrap()).collect();
    let timeouts = kinds
        .iter()
        .filter(|k| k.as_deref() == Some("Timeout"))
        .count();
    let broken = kinds
        .iter()
        .filter(|k| k.as_deref() == Some("BrokenBarrier"))
        .count();
    assert!(timeouts >= 1, "{kinds:?}");
    assert_eq!(timeouts + broken, N as usize, "{kinds:?}");
    assert!(b.is_broken());
}

#[worker]
fn parse(s: String) -> i64 {
    s.parse().expect("not a number")
}

#[worker]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[derive(Debug, PartialEq)]
enum Called {
    Value(Vec<i64>),
    Error(String),
}

/// `_TestPool.test_map_async_callbacks`: `map_async(int, ['1'], callback=.., error_callback=..)` calls
/// the callback with `[1]`; with `['a']`, the error callback with the error. The callback has run when
/// `wait()` returns, on a pool thread.
#[multiproc::test]
fn pool_test_map_async_callbacks() {
    let pool = Pool::new(2).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let main = std::thread::current().id();
    let (t1, t2) = (tx.clone(), tx.clone());
    let r = pool
        .map_async_with(
            parse,
            ["1".to_string()],
            move |v| {
                assert_ne!(std::thread::current().id(), main);
                t1.send(Called::Value(v.clone())).unwrap()
            },
            move |e| t2.send(Called::Error(e.to_string())).unwrap(),
        )
        .unwrap();
    r.wait();
    assert_eq!(rx.try_recv().unwrap(), Called::Value(vec![1]));

    let (t1, t2) = (tx.clone(), tx.clone());
    let r = pool
        .map_async_with(
            parse,
            ["a".to_string()],
            move |v| t1.send(Called::Value(v.clone())).unwrap(),
            move |e| t2.send(Called::Error(e.to_string())).unwrap(),
        )
        .unwrap();
    r.wait();
    match rx.try_recv().unwrap() {
        Called::Error(e) => assert!(e.contains("not a number"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(rx.try_recv().is_err(), "one callback per call");
    assert!(r.get().is_err());
}

/// `starmap_async` with callbacks (Python: `pool.starmap_async(f, it, callback=..)`), and an empty
/// input calls the callback at once with `[]` (Python's `MapResult` with no chunks).
#[multiproc::test]
fn pool_starmap_async_callbacks() {
    let pool = Pool::new(2).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let t2 = tx.clone();
    let r = pool
        .starmap_async_with(
            add,
            [(1i64, 2i64), (3, 4)],
            move |v| tx.send(Called::Value(v.clone())).unwrap(),
            move |e| t2.send(Called::Error(e.to_string())).unwrap(),
        )
        .unwrap();
    assert_eq!(r.get().unwrap(), [3, 7]);
    assert_eq!(rx.recv().unwrap(), Called::Value(vec![3, 7]));

    let (tx, rx) = std::sync::mpsc::channel();
    let r = pool
        .map_async_with(
            parse,
            Vec::<String>::new(),
            move |v| tx.send(v.len()).unwrap(),
            |_| {},
        )
        .unwrap();
    assert_eq!(rx.try_recv().unwrap(), 0);
    assert!(r.get().unwrap().is_empty());
}

/// In a child: whether the value's guard was free (the parent holds the supplied lock, so it must not
/// be), then adds 1 under the guard once the parent lets go.
#[worker]
fn locked_out_then_add(v: Value<i32>, a: Array<i32>) -> (bool, bool) {
    let v_free = v.try_lock().unwrap().is_some();
    let a_free = a.try_lock().unwrap().is_some();
    *v.lock().unwrap() += 1;
    a.lock().unwrap()[0] += 1;
    (v_free, a_free)
}

/// `_TestValue.test_getobj_getlock` and `_TestArray.test_getobj_getlock_obj`: `Value('i', 5,
/// lock=lock)` uses that lock (`get_lock()` is it), `lock=None` a new one, `lock=False` none at all
/// (here `RawValue`, which has no lock methods). Checked across processes: the supplied lock travels
/// with the handles, and while the parent holds it a child cannot take the value's or array's guard.
#[multiproc::test]
fn value_test_getobj_getlock() {
    let own = Value::new(5i32).unwrap();
    assert!(own.supplied_lock().is_none());

    let lock = Lock::new().unwrap();
    let v = Value::with_lock(5i32, lock.clone()).unwrap();
    let a = Array::from_slice_with_lock(&[5i32, 6], lock.clone()).unwrap();
    assert!(matches!(v.supplied_lock(), Some(AnyLock::Lock(_))));
    assert!(matches!(a.supplied_lock(), Some(AnyLock::Lock(_))));

    let held = lock.acquire().unwrap();
    assert!(v.try_lock().unwrap().is_none());
    assert!(
        v.lock().is_err(),
        "this thread holds the Lock: an error, not a hang"
    );
    let mut p = locked_out_then_add::spawn(v.clone(), a.clone()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(p.is_alive(), "the child waits for the supplied lock");
    drop(held);
    assert_eq!(p.join().unwrap(), (false, false));
    assert_eq!(v.get().unwrap(), 6);
    assert_eq!(a.to_vec().unwrap(), [6, 6]);
    // The supplied lock is free again and the value's own block lock was never used.
    assert!(lock.try_acquire().unwrap().is_some());

    let raw = RawValue::new(5i32).unwrap(); // lock=False
    assert_eq!(raw.get(), 5);
}

/// `Array('i', 4, lock=rlock)`: with an RLock the holding thread may take the array's guard too.
#[multiproc::test]
fn array_test_getobj_getlock_obj_rlock() {
    let rlock = RLock::new().unwrap();
    let a = Array::<i32>::with_lock(4, rlock.clone()).unwrap();
    assert!(matches!(a.supplied_lock(), Some(AnyLock::RLock(_))));
    let outer = rlock.acquire().unwrap();
    a.lock().unwrap()[3] = 7;
    drop(outer);
    assert_eq!(a.get(3).unwrap(), 7);
}

/// `_TestSharedMemory.test_shared_memory_SharedMemoryManager_basics`: lists and blocks made by a
/// manager are found by name while it runs; after `shutdown()` (or the end of a `with` block: here
/// the drop of the handle) their names are gone.
#[multiproc::test]
fn shared_memory_test_shared_memory_shared_memory_manager_basics() {
    let smm1 = SharedMemoryManager::start().unwrap();
    let lol: Vec<_> = (5..10i64)
        .map(|i| smm1.shareable_list(&(0..i).collect::<Vec<_>>()).unwrap())
        .collect();
    let lom: Vec<_> = (32..128)
        .step_by(8)
        .map(|i| smm1.shared_memory(i).unwrap())
        .collect();
    let doppleganger_list0 = ShareableList::<i64>::attach(lol[0].shm().name()).unwrap();
    assert_eq!(doppleganger_list0.len(), 5);
    assert_eq!(doppleganger_list0.to_vec().unwrap(), [0, 1, 2, 3, 4]);
    let doppleganger_shm0 = SharedMemory::attach(lom[0].name()).unwrap();
    assert!(doppleganger_shm0.size() >= 32);
    let held_name = lom[0].name().to_string();
    // The handles that asked for the blocks are only attached: dropping them leaves the blocks.
    drop(lom);
    assert!(SharedMemory::attach(&held_name).is_ok());
    smm1.shutdown().unwrap();
    assert_eq!(
        SharedMemory::attach(&held_name).unwrap_err().kind(),
        &ErrorKind::NotFound
    );
    // Attached handles keep their memory.
    assert_eq!(doppleganger_list0.get(4).unwrap(), 4);
    assert!(smm1.shared_memory(8).is_err());
    smm1.shutdown().unwrap();

    let held_name = {
        let smm2 = SharedMemoryManager::start().unwrap();
        let sl = smm2.shareable_list(&["howdy".to_string()]).unwrap();
        let _shm = smm2.shared_memory(128).unwrap();
        sl.shm().name().to_string()
    };
    assert_eq!(
        ShareableList::<String>::attach(&held_name)
            .unwrap_err()
            .kind(),
        &ErrorKind::NotFound
    );
}

/// In a child: writes `value` into the manager's list (found by name), then dies by SIGABRT.
#[worker]
fn write_and_die(name: String, value: i64) {
    let sl = ShareableList::<i64>::attach(&name).unwrap();
    sl.set(0, value).unwrap();
    std::process::abort();
}

/// The blocks live as long as the manager, not as the processes that use them: a process that wrote
/// one and was killed leaves it there; killing the manager itself takes the names with it.
#[multiproc::test]
fn shared_memory_manager_outlives_users_not_itself() {
    let smm = SharedMemoryManager::start().unwrap();
    let sl = smm.shareable_list(&[0i64]).unwrap();
    let name = sl.shm().name().to_string();
    drop(sl);
    let err = write_and_die::spawn(name.clone(), 42)
        .unwrap()
        .join()
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::WorkerDied { .. }), "{err}");
    assert_eq!(
        ShareableList::<i64>::attach(&name).unwrap().get(0).unwrap(),
        42
    );

    let pid = smm.pid();
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while SharedMemory::attach(&name).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the name outlived the manager"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Shutting a dead manager down reports, never hangs.
    let _ = smm.shutdown();
}

/// `_TestSharedMemory.test_shared_memory_ShareableList_basics` (the parts that map to a list of one
/// item type): len, get/set, index and count, a string that outgrows its slot, attaching by name, and
/// attaching as the wrong item type.
#[multiproc::test]
fn shared_memory_test_shared_memory_shareable_list_basics() {
    let sl = ShareableList::new(&[
        "howdy".to_string(),
        "HoWdY".into(),
        "HOWDY".into(),
        "howdy".into(),
    ])
    .unwrap();
    assert_eq!(sl.len(), 4);
    assert_eq!(sl.get(2).unwrap(), "HOWDY");
    assert_eq!(sl.index(&"howdy".to_string()).unwrap(), 0);
    assert_eq!(sl.count(&"howdy".to_string()).unwrap(), 2);
    assert_eq!(
        sl.index(&"nope".to_string()).unwrap_err().kind(),
        &ErrorKind::NotFound
    );
    // Python: slots are rounded to 8 bytes; 'encore' fits, a longer string does not.
    sl.set(1, "encore".into()).unwrap();
    assert_eq!(sl.get(1).unwrap(), "encore");
    let err = sl.set(2, "encore, et encore!".into()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert_eq!(sl.get(2).unwrap(), "HOWDY");
    assert!(sl.get(4).is_err());

    let other = ShareableList::<String>::attach(sl.shm().name()).unwrap();
    assert_eq!(
        other.to_vec().unwrap(),
        ["howdy", "encore", "HOWDY", "howdy"]
    );
    assert_eq!(
        ShareableList::<i64>::attach(sl.shm().name())
            .unwrap_err()
            .kind(),
        &ErrorKind::InvalidHandle
    );

    let nums = ShareableList::new(&[3.5f64, -1.0, 3.5]).unwrap();
    nums.set(1, 2.25).unwrap();
    assert_eq!(nums.to_vec().unwrap(), [3.5, 2.25, 3.5]);
    assert_eq!(nums.count(&3.5).unwrap(), 2);
    let flags = ShareableList::new(&[true, false]).unwrap();
    flags.set(1, true).unwrap();
    assert_eq!(flags.count(&true).unwrap(), 2);
    let raw = ShareableList::new(&[b"ab".to_vec()]).unwrap();
    raw.set(0, b"12345678".to_vec()).unwrap();
    assert_eq!(raw.get(0).unwrap(), b"12345678");
    let empty = ShareableList::<u8>::new(&[]).unwrap();
    assert!(empty.is_empty());
}

#[worker]
fn bump_list(sl: ShareableList<u32>) -> Vec<u32> {
    for i in 0..sl.len() {
        sl.set(i, sl.get(i).unwrap() + 1).unwrap();
    }
    sl.to_vec().unwrap()
}

/// `_TestSharedMemory.test_shared_memory_ShareableList_pickling`: a list sent to another process is
/// the same memory there.
#[multiproc::test]
fn shared_memory_test_shared_memory_shareable_list_pickling() {
    let sl = ShareableList::new(&[1u32, 2, 3]).unwrap();
    assert_eq!(
        bump_list::spawn(ShareableList::attach(sl.shm().name()).unwrap())
            .unwrap()
            .join()
            .unwrap(),
        [2, 3, 4]
    );
    assert_eq!(sl.to_vec().unwrap(), [2, 3, 4]);
}

/// A block that is not a list, or a list whose header lies about its items, is refused with an
/// error (bad bytes really written to the block).
#[multiproc::test]
fn shareable_list_refuses_bad_bytes() {
    let shm = SharedMemory::new(64).unwrap();
    shm.write_at(0, &[0xff; 16]).unwrap();
    let err = ShareableList::<u8>::attach(shm.name()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidHandle);

    let sl = ShareableList::new(&[7u64, 8]).unwrap();
    // Claim a huge count.
    sl.shm().write_at(8, &u64::MAX.to_le_bytes()).unwrap();
    assert_eq!(
        ShareableList::<u64>::attach(sl.shm().name())
            .unwrap_err()
            .kind(),
        &ErrorKind::InvalidHandle
    );
    sl.shm().write_at(8, &2u64.to_le_bytes()).unwrap();
    // Make slot 1 end outside the block.
    sl.shm().write_at(16 + 16, &u64::MAX.to_le_bytes()).unwrap();
    assert_eq!(sl.get(0).unwrap(), 7);
    assert_eq!(sl.get(1).unwrap_err().kind(), &ErrorKind::InvalidHandle);
}

/// `_test_wait_return_f`: the index this party's wait returned.
#[worker]
fn wait_index(b: Barrier) -> u32 {
    b.wait().unwrap()
}

/// `_TestBarrier.test_wait_return`: Python checks that exactly one party gets 0; here every index
/// `0..parties` is returned exactly once.
#[multiproc::test]
fn barrier_test_wait_return() {
    let b = Barrier::new(N).unwrap();
    let ps: Vec<_> = (0..N)
        .map(|_| wait_index::spawn(b.clone()).unwrap())
        .collect();
    let mut got: Vec<u32> = ps.into_iter().map(|p| p.join().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

/// `_test_thousand_f`: `passes` rounds through the barrier, reporting each round after it (a bounded
/// queue's put is in the queue when it returns, as Python's locked `conn.send`).
#[worker]
fn thousand_party(b: Barrier, passes: u32, q: multiproc::Queue<u32>) {
    for i in 0..passes {
        b.wait().unwrap();
        q.put(i).unwrap();
    }
}

/// `_TestBarrier.test_thousand`: N processes through one barrier a thousand times; no party reports
/// round `i + 1` before every party has reported round `i`.
#[multiproc::test]
fn barrier_test_thousand() {
    const PASSES: u32 = 1000;
    let b = Barrier::new(N).unwrap();
    let q = multiproc::Queue::bounded(2 * N as usize).unwrap();
    let ps: Vec<_> = (0..N)
        .map(|_| thousand_party::spawn(b.clone(), PASSES, q.clone()).unwrap())
        .collect();
    for i in 0..PASSES {
        for _ in 0..N {
            assert_eq!(q.get_timeout(Duration::from_secs(60)).unwrap(), i);
        }
    }
    for p in ps {
        p.join().unwrap();
    }
}

/// `_TestSharedMemory.test_shared_memory_SharedMemoryServer_ignores_sigint`: a SIGINT (a Ctrl-C at the
/// terminal reaches the whole process group) leaves the helper serving; the program shuts it down.
#[multiproc::test]
fn shared_memory_test_shared_memory_shared_memory_server_ignores_sigint() {
    let smm = SharedMemoryManager::start().unwrap();
    let before = smm.shareable_list(&[1i64, 2]).unwrap();
    // SAFETY (test): signals the helper process this test started.
    assert_eq!(unsafe { libc::kill(smm.pid() as i32, libc::SIGINT) }, 0);
    std::thread::sleep(Duration::from_millis(200));
    let sl = smm.shareable_list(&[0i64, 1, 2, 3]).unwrap();
    assert_eq!(sl.get(3).unwrap(), 3);
    assert_eq!(before.get(1).unwrap(), 2);
    smm.shutdown().unwrap();
}
