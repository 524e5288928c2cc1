//! Python conformance (issue 13, part 2): more of CPython's `Lib/test/_test_multiprocessing.py`
//! ported where one maps, each named `<class>_<method>` after the CPython test: `_TestEvent`,
//! `_TestValue`, `_TestArray`, `_TestSharedCTypes`, `_TestLock`, `_TestCondition` (the shared-memory
//! condition), `_TestQueue`, `TestSimpleQueue`, `_TestContainers`, `_TestMyManager`,
//! `_TestRemoteManager`, `_TestManagerRestart`, `TestSyncManagerTypes`, `TestTimeouts`,
//! `TestNoForkBomb` and `TestCloseFds`. Python's `TIMEOUT1`/`TIMEOUT2` waits are a few hundred
//! milliseconds here. Every test but the fork-bomb one crosses real processes.

mod common;

use common::is_our_child;
use multiproc::manager::{
    ArrayProxy, BarrierProxy, ConditionProxy, DictProxy, EventProxy, JoinableQueueProxy, ListProxy,
    LockProxy, NamespaceProxy, Proxy, QueueProxy, RLockProxy, SemaphoreProxy, ValueProxy,
};
use multiproc::{
    Array, Condition, Connection, ErrorKind, Event, Lock, Manager, Pipe, Queue, RawArray, RawValue,
    Semaphore, SimpleQueue, Value, shared, worker,
};
use std::time::{Duration, Instant};

/// Python's `TIMEOUT1`.
const SHORT: Duration = Duration::from_millis(100);
/// Python's `TIMEOUT2`.
const MEDIUM: Duration = Duration::from_millis(250);
/// Long enough that a test waiting for it has failed, short enough not to hang a broken run.
const LONG: Duration = Duration::from_secs(20);

/// Python's `assertTimingAlmostEqual`: within a second above the expected time (and not much less).
fn assert_took_about(start: Instant, expected: Duration) {
    let took = start.elapsed();
    assert!(
        took + Duration::from_millis(20) >= expected && took < expected + Duration::from_secs(1),
        "took {took:?}, expected about {expected:?}"
    );
}

// ---- _TestEvent --------------------------------------------------------------------------------

#[worker]
fn set_event_after(event: Event, ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
    event.set();
}

#[multiproc::test]
fn event_test_event() {
    let event = Event::new().unwrap();
    assert!(!event.is_set());
    let start = Instant::now();
    assert!(!event.wait_timeout(Duration::ZERO));
    assert_took_about(start, Duration::ZERO);
    let start = Instant::now();
    assert!(!event.wait_timeout(SHORT));
    assert_took_about(start, SHORT);

    event.set();
    assert!(event.is_set());
    let start = Instant::now();
    event.wait();
    assert_took_about(start, Duration::ZERO);
    let start = Instant::now();
    assert!(event.wait_timeout(SHORT));
    assert_took_about(start, Duration::ZERO);

    event.clear();
    assert!(!event.is_set());
    let p = set_event_after::spawn(event.clone(), MEDIUM.as_millis() as u64).unwrap();
    assert!(event.wait_timeout(LONG));
    p.join().unwrap();
}

/// Python: `repr(event)` says `set` or `unset`. Here the `Debug` output carries `set: true/false`.
#[multiproc::test]
fn event_test_repr() {
    let event = Event::new().unwrap();
    assert!(format!("{event:?}").contains("set: false"), "{event:?}");
    event.set();
    assert!(format!("{event:?}").contains("set: true"), "{event:?}");
    event.clear();
    assert!(format!("{event:?}").contains("set: false"), "{event:?}");
}

// ---- _TestValue --------------------------------------------------------------------------------

/// Python's `codes_values`: `i`, `d`, `h`, `q`, `c` as `i32`, `f64`, `i16`, `i64`, `u8`.
#[worker]
fn set_values(i: Value<i32>, d: Value<f64>, h: Value<i16>, q: Value<i64>, c: Value<u8>) {
    i.set(24234).unwrap();
    d.set(-4.25).unwrap();
    h.set(234).unwrap();
    q.set(1 << 34).unwrap();
    c.set(b'y').unwrap();
}

#[worker]
fn set_raw_values(
    i: RawValue<i32>,
    d: RawValue<f64>,
    h: RawValue<i16>,
    q: RawValue<i64>,
    c: RawValue<u8>,
) {
    i.set(24234);
    d.set(-4.25);
    h.set(234);
    q.set(1 << 34);
    c.set(b'y');
}

#[multiproc::test]
fn value_test_value() {
    let (i, d, h, q, c) = (
        Value::new(4343i32).unwrap(),
        Value::new(3.625f64).unwrap(),
        Value::new(-232i16).unwrap(),
        Value::new(1i64 << 33).unwrap(),
        Value::new(b'x').unwrap(),
    );
    assert_eq!(i.get().unwrap(), 4343);
    assert_eq!(d.get().unwrap(), 3.625);
    assert_eq!(h.get().unwrap(), -232);
    assert_eq!(q.get().unwrap(), 1 << 33);
    assert_eq!(c.get().unwrap(), b'x');
    set_values::spawn(i.clone(), d.clone(), h.clone(), q.clone(), c.clone())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(i.get().unwrap(), 24234);
    assert_eq!(d.get().unwrap(), -4.25);
    assert_eq!(h.get().unwrap(), 234);
    assert_eq!(q.get().unwrap(), 1 << 34);
    assert_eq!(c.get().unwrap(), b'y');
}

#[multiproc::test]
fn value_test_rawvalue() {
    let (i, d, h, q, c) = (
        RawValue::new(4343i32).unwrap(),
        RawValue::new(3.625f64).unwrap(),
        RawValue::new(-232i16).unwrap(),
        RawValue::new(1i64 << 33).unwrap(),
        RawValue::new(b'x').unwrap(),
    );
    assert_eq!(
        (i.get(), d.get(), h.get(), q.get(), c.get()),
        (4343, 3.625, -232, 1 << 33, b'x')
    );
    set_raw_values::spawn(i.clone(), d.clone(), h.clone(), q.clone(), c.clone())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(
        (i.get(), d.get(), h.get(), q.get(), c.get()),
        (24234, -4.25, 234, 1 << 34, b'y')
    );
}

#[worker]
fn try_lock_value(v: Value<i32>) -> Option<i32> {
    v.try_lock().unwrap().map(|g| *g)
}

/// Python: `Value` has `get_lock()` / `get_obj()`; `RawValue` has neither. Here `Value::lock()` is the
/// lock and the guard the object; a held lock keeps another process out. (`RawValue` having no lock
/// is a compile-time fact.)
#[multiproc::test]
fn value_test_getobj_getlock() {
    let val = Value::new(5i32).unwrap();
    {
        let mut obj = val.lock().unwrap();
        assert_eq!(*obj, 5);
        *obj = 6;
        assert_eq!(
            try_lock_value::spawn(val.clone()).unwrap().join().unwrap(),
            None
        );
    }
    assert_eq!(
        try_lock_value::spawn(val.clone()).unwrap().join().unwrap(),
        Some(6)
    );
}

// ---- _TestArray --------------------------------------------------------------------------------

/// Python's `f(seq)`: running sums in place.
fn prefix_sums(seq: &mut [i32]) {
    for i in 1..seq.len() {
        seq[i] += seq[i - 1];
    }
}

#[worker]
fn prefix_sums_array(arr: Array<i32>) {
    prefix_sums(&mut arr.lock().unwrap());
}

#[worker]
fn prefix_sums_raw(arr: RawArray<i32>) {
    for i in 1..arr.len() {
        let v = arr.get(i).unwrap() + arr.get(i - 1).unwrap();
        arr.set(i, v).unwrap();
    }
}

const SEQ: [i32; 10] = [680, 626, 934, 821, 150, 233, 548, 982, 714, 831];

#[multiproc::test]
fn array_test_array() {
    let mut seq = SEQ.to_vec();
    let arr = Array::from_slice(&seq).unwrap();
    assert_eq!(arr.len(), seq.len());
    assert_eq!(arr.get(3).unwrap(), seq[3]);
    assert_eq!(arr.lock().unwrap()[2..7], seq[2..7]);
    arr.lock().unwrap()[4..8].copy_from_slice(&[1, 2, 3, 4]);
    seq[4..8].copy_from_slice(&[1, 2, 3, 4]);
    assert_eq!(arr.to_vec().unwrap(), seq);
    prefix_sums(&mut seq);
    prefix_sums_array::spawn(arr.clone())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(arr.to_vec().unwrap(), seq);
}

#[multiproc::test]
fn array_test_rawarray() {
    let mut seq = SEQ.to_vec();
    let arr = RawArray::from_slice(&seq).unwrap();
    assert_eq!(arr.len(), seq.len());
    assert_eq!(arr.get(3).unwrap(), seq[3]);
    for (i, v) in [1, 2, 3, 4].into_iter().enumerate() {
        arr.set(4 + i, v).unwrap();
    }
    seq[4..8].copy_from_slice(&[1, 2, 3, 4]);
    assert_eq!(arr.to_vec(), seq);
    prefix_sums(&mut seq);
    prefix_sums_raw::spawn(arr.clone()).unwrap().join().unwrap();
    assert_eq!(arr.to_vec(), seq);
}

#[multiproc::test]
fn array_test_array_from_size() {
    for _ in 0..3 {
        let arr = Array::<i32>::new(10).unwrap();
        assert_eq!(arr.len(), 10);
        assert_eq!(arr.to_vec().unwrap(), [0; 10]);
        for (i, x) in arr.lock().unwrap().iter_mut().enumerate() {
            *x = i as i32;
        }
        assert_eq!(arr.to_vec().unwrap(), (0..10).collect::<Vec<_>>());
    }
}

#[worker]
fn try_lock_array(arr: Array<i32>) -> Option<Vec<i32>> {
    arr.try_lock().unwrap().map(|g| g.to_vec())
}

/// As `value_test_getobj_getlock`, for `Array`.
#[multiproc::test]
fn array_test_getobj_getlock_obj() {
    let arr = Array::from_slice(&(0..10).collect::<Vec<i32>>()).unwrap();
    {
        let mut obj = arr.lock().unwrap();
        obj[0] = 100;
        assert_eq!(
            try_lock_array::spawn(arr.clone()).unwrap().join().unwrap(),
            None
        );
    }
    let seen = try_lock_array::spawn(arr.clone())
        .unwrap()
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(seen[0], 100);
    assert_eq!(seen[1..], (1..10).collect::<Vec<i32>>());
}

// ---- _TestSharedCTypes -------------------------------------------------------------------------

/// Python's `_Foo(Structure)`: `x: c_int`, `y: c_double`, `z: c_longlong`.
#[shared]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Foo {
    x: i32,
    y: f64,
    z: i64,
}

#[worker]
fn double_locked(
    x: Value<i32>,
    y: Value<f64>,
    z: Value<i64>,
    foo_s: Value<Foo>,
    arr: Array<f64>,
    string: Array<u8>,
) {
    *x.lock().unwrap() *= 2;
    *y.lock().unwrap() *= 2.0;
    *z.lock().unwrap() *= 2;
    {
        let mut f = foo_s.lock().unwrap();
        f.x *= 2;
        f.y *= 2.0;
    }
    {
        let mut s = string.lock().unwrap();
        let len = s.iter().position(|b| *b == 0).unwrap_or(s.len());
        let (head, tail) = s.split_at_mut(len);
        tail[..len].copy_from_slice(head);
    }
    for v in arr.lock().unwrap().iter_mut() {
        *v *= 2.0;
    }
}

#[worker]
fn double_raw(
    x: RawValue<i32>,
    y: RawValue<f64>,
    z: RawValue<i64>,
    foo_s: RawValue<Foo>,
    arr: RawArray<f64>,
    string: RawArray<u8>,
) {
    x.set(x.get() * 2);
    y.set(y.get() * 2.0);
    z.set(z.get() * 2);
    let mut f = foo_s.get();
    f.x *= 2;
    f.y *= 2.0;
    foo_s.set(f);
    let s = string.to_vec();
    let len = s.iter().position(|b| *b == 0).unwrap_or(s.len());
    for (i, b) in s[..len].iter().enumerate() {
        string.set(len + i, *b).unwrap();
    }
    for i in 0..arr.len() {
        arr.set(i, arr.get(i).unwrap() * 2.0).unwrap();
    }
}

fn c_string(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len())]
}

/// Python's `lock=False` variant: raw values, a `#[shared]` struct, a `'d'` array and a 20-byte
/// `'c'` string, all doubled by a child.
#[multiproc::test]
fn shared_c_types_test_sharedctypes() {
    let x = RawValue::new(7i32).unwrap();
    let y = RawValue::new(1.0f64 / 3.0).unwrap();
    let z = RawValue::new(1i64 << 33).unwrap();
    let foo_s = RawValue::new(Foo { x: 3, y: 2.0, z: 0 }).unwrap();
    let arr = RawArray::from_slice(&(0..10).map(f64::from).collect::<Vec<_>>()).unwrap();
    let string = RawArray::<u8>::new(20).unwrap();
    for (i, b) in b"hello".iter().enumerate() {
        string.set(i, *b).unwrap();
    }
    double_raw::spawn(
        x.clone(),
        y.clone(),
        z.clone(),
        foo_s.clone(),
        arr.clone(),
        string.clone(),
    )
    .unwrap()
    .join()
    .unwrap();
    assert_eq!(x.get(), 14);
    assert!((y.get() - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(z.get(), 1 << 34);
    assert_eq!(foo_s.get().x, 6);
    assert!((foo_s.get().y - 4.0).abs() < 1e-12);
    for i in 0..10 {
        assert_eq!(arr.get(i).unwrap(), i as f64 * 2.0);
    }
    assert_eq!(c_string(&string.to_vec()), b"hellohello");
}

/// Python's `lock=True` variant: the same through `Value` and `Array`, each change under its lock.
#[multiproc::test]
fn shared_c_types_test_synchronize() {
    let x = Value::new(7i32).unwrap();
    let y = Value::new(1.0f64 / 3.0).unwrap();
    let z = Value::new(1i64 << 33).unwrap();
    let foo_s = Value::new(Foo { x: 3, y: 2.0, z: 0 }).unwrap();
    let arr = Array::from_slice(&(0..10).map(f64::from).collect::<Vec<_>>()).unwrap();
    let string = Array::<u8>::new(20).unwrap();
    string.lock().unwrap()[..5].copy_from_slice(b"hello");
    double_locked::spawn(
        x.clone(),
        y.clone(),
        z.clone(),
        foo_s.clone(),
        arr.clone(),
        string.clone(),
    )
    .unwrap()
    .join()
    .unwrap();
    assert_eq!(x.get().unwrap(), 14);
    assert!((y.get().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(z.get().unwrap(), 1 << 34);
    let f = foo_s.get().unwrap();
    assert_eq!((f.x, f.y), (6, 4.0));
    assert_eq!(
        arr.to_vec().unwrap(),
        (0..10).map(|i| i as f64 * 2.0).collect::<Vec<_>>()
    );
    assert_eq!(c_string(&string.to_vec().unwrap()), b"hellohello");
}

/// Python: `copy(foo)` of a shared structure is independent of it. Here the value read out of shared
/// memory is a copy: changing the shared one later does not change it.
#[multiproc::test]
fn shared_c_types_test_copy() {
    let foo_s = Value::new(Foo {
        x: 2,
        y: 5.0,
        z: 1 << 33,
    })
    .unwrap();
    let bar = foo_s.get().unwrap();
    foo_s.set(Foo { x: 0, y: 0.0, z: 0 }).unwrap();
    assert_eq!(
        bar,
        Foo {
            x: 2,
            y: 5.0,
            z: 1 << 33
        }
    );
    assert_eq!(foo_s.get().unwrap(), Foo { x: 0, y: 0.0, z: 0 });
}

// ---- _TestLock ---------------------------------------------------------------------------------

#[worker]
fn lock_is_free(lock: Lock) -> bool {
    lock.try_acquire().unwrap().is_some()
}

/// Python: `with self.Lock(): pass`. Here the guard's scope is the `with` block; the lock is free
/// after it, for this process and another.
#[multiproc::test]
fn lock_test_lock_context() {
    let lock = Lock::new().unwrap();
    {
        let _g = lock.acquire().unwrap();
        assert!(lock.locked());
        assert!(!lock_is_free::spawn(lock.clone()).unwrap().join().unwrap());
    }
    assert!(!lock.locked());
    assert!(lock_is_free::spawn(lock.clone()).unwrap().join().unwrap());
}

// ---- _TestCondition ----------------------------------------------------------------------------

#[worker]
fn waitfor_timeout_f(cond: Condition, state: Value<i32>, success: Value<bool>, sem: Semaphore) {
    sem.release().unwrap();
    let mut g = cond.acquire().unwrap();
    let expected = Duration::from_millis(100);
    let start = Instant::now();
    let result = g
        .wait_for(|| state.get().unwrap() == 4, Some(expected))
        .unwrap();
    let dt = start.elapsed();
    if !result && dt >= expected {
        success.set(true).unwrap();
    }
}

/// Python: a `wait_for` whose predicate never holds returns `False` after its timeout, even though
/// it is notified three times meanwhile.
#[multiproc::test]
fn condition_test_waitfor_timeout() {
    let cond = Condition::new().unwrap();
    let state = Value::new(0i32).unwrap();
    let success = Value::new(false).unwrap();
    let sem = Semaphore::new(0).unwrap();
    let p = waitfor_timeout_f::spawn(cond.clone(), state.clone(), success.clone(), sem.clone())
        .unwrap();
    sem.acquire_timeout(LONG).unwrap().forget();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(10));
        let _g = cond.acquire().unwrap();
        *state.lock().unwrap() += 1;
        cond.notify(1);
    }
    p.join().unwrap();
    assert!(success.get().unwrap());
}

#[worker]
fn notify_once(c: Condition) {
    let _g = c.acquire().unwrap();
    c.notify(1);
}

/// Python: `wait(0)` and `wait(0.1)` return `False`, a notified `wait(60)` returns `True`. (Its
/// `KeyboardInterrupt` during `wait` part is Python's signal handling: not ported.)
#[multiproc::test]
fn condition_test_wait_result() {
    let c = Condition::new().unwrap();
    let mut g = c.acquire().unwrap();
    assert!(!g.wait_timeout(Duration::ZERO).unwrap());
    let start = Instant::now();
    assert!(!g.wait_timeout(SHORT).unwrap());
    assert_took_about(start, SHORT);
    let p = notify_once::spawn(c.clone()).unwrap();
    assert!(g.wait_timeout(Duration::from_secs(60)).unwrap());
    drop(g);
    p.join().unwrap();
}

// ---- _TestQueue --------------------------------------------------------------------------------

#[worker]
fn queue_get_child(queue: Queue<u32>, child_can_start: Event, parent_can_continue: Event) {
    child_can_start.wait();
    for i in 2..=5 {
        queue.put(i).unwrap();
    }
    parent_can_continue.set();
}

#[multiproc::test]
fn queue_test_get() {
    let queue = Queue::<u32>::new().unwrap();
    let child_can_start = Event::new().unwrap();
    let parent_can_continue = Event::new().unwrap();
    // Python's timed gets below wait their time out; ours wait only while a handle that could put
    // lives (see `queue_test_timeout`), so keep one beside the child's.
    let _putter = queue.clone();
    let proc = queue_get_child::spawn(
        queue.clone(),
        child_can_start.clone(),
        parent_can_continue.clone(),
    )
    .unwrap();
    assert!(queue.is_empty());
    child_can_start.set();
    assert!(parent_can_continue.wait_timeout(LONG));
    std::thread::sleep(Duration::from_millis(20));
    assert!(!queue.is_empty());
    assert_eq!(queue.get().unwrap(), 2);
    assert_eq!(queue.get().unwrap(), 3);
    assert_eq!(queue.get_timeout(Duration::from_secs(1)).unwrap(), 4);
    assert_eq!(queue.try_get().unwrap(), 5);
    assert!(queue.is_empty());

    let start = Instant::now();
    assert_eq!(queue.try_get().unwrap_err().kind(), &ErrorKind::Empty);
    assert_took_about(start, Duration::ZERO);
    let start = Instant::now();
    let err = queue.get_timeout(SHORT).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_took_about(start, SHORT);
    let start = Instant::now();
    assert!(queue.get_timeout(MEDIUM).unwrap_err().is_timeout());
    assert_took_about(start, MEDIUM);
    proc.join().unwrap();
}

#[worker]
fn queue_fork_child(queue: Queue<u32>) {
    for i in 10..20 {
        queue.put(i).unwrap();
    }
}

/// Python's `test_fork`: items put before the child starts are still there, and the child's follow
/// them. Our children are spawned, not forked: the queue travels as an argument.
#[multiproc::test]
fn queue_test_fork() {
    let queue = Queue::<u32>::new().unwrap();
    for i in 0..10 {
        queue.put(i).unwrap();
    }
    let p = queue_fork_child::spawn(queue.clone()).unwrap();
    for i in 0..20 {
        assert_eq!(queue.get_timeout(LONG).unwrap(), i);
    }
    assert_eq!(queue.try_get().unwrap_err().kind(), &ErrorKind::Empty);
    p.join().unwrap();
}

#[multiproc::test]
fn queue_test_qsize() {
    let q = Queue::<u32>::new().unwrap();
    assert_eq!(q.len(), 0);
    q.put(1).unwrap();
    assert_eq!(q.len(), 1);
    q.put(5).unwrap();
    assert_eq!(q.len(), 2);
    q.get().unwrap();
    assert_eq!(q.len(), 1);
    q.get().unwrap();
    assert_eq!(q.len(), 0);
}

/// Python: `q.get(True, 0.2)` on an empty queue raises `Empty` after 0.2 s. Here a timed `get` gives
/// `Timeout` after its time while another handle that could put lives (a clone in this process
/// counts); with no such handle anywhere it gives `Disconnected` without waiting the time out (a
/// deliberate difference: nothing could ever arrive).
#[multiproc::test]
fn queue_test_timeout() {
    let q = Queue::<u32>::new().unwrap();
    let other = q.clone();
    let start = Instant::now();
    let err = q.get_timeout(Duration::from_millis(200)).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(start.elapsed() >= Duration::from_millis(100));
    drop(other);
    let err = q.get_timeout(Duration::from_secs(5)).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Disconnected, "{err}");
}

// ---- TestSimpleQueue ---------------------------------------------------------------------------

#[worker]
fn simple_queue_empty_child(
    queue: SimpleQueue<bool>,
    child_can_start: Event,
    parent_can_continue: Event,
) {
    child_can_start.wait();
    queue.put(queue.is_empty()).unwrap();
    queue.put(queue.is_empty()).unwrap();
    parent_can_continue.set();
}

#[multiproc::test]
fn simple_queue_test_empty() {
    let queue = SimpleQueue::<bool>::new().unwrap();
    let child_can_start = Event::new().unwrap();
    let parent_can_continue = Event::new().unwrap();
    let proc = simple_queue_empty_child::spawn(
        queue.clone(),
        child_can_start.clone(),
        parent_can_continue.clone(),
    )
    .unwrap();
    assert!(queue.is_empty());
    child_can_start.set();
    assert!(parent_can_continue.wait_timeout(LONG));
    assert!(!queue.is_empty());
    assert!(queue.get().unwrap());
    assert!(!queue.get().unwrap());
    assert!(queue.is_empty());
    proc.join().unwrap();
}

/// Python: `close()` twice is fine.
#[multiproc::test]
fn simple_queue_test_close() {
    let queue = SimpleQueue::<u8>::new().unwrap();
    queue.close();
    queue.close();
    assert!(queue.is_closed());
}

/// Python: after `close()` both ends are closed. Here the handle says so and refuses `put` and `get`.
#[multiproc::test]
fn simple_queue_test_closed() {
    let queue = SimpleQueue::<u8>::new().unwrap();
    assert!(!queue.is_closed());
    queue.close();
    assert!(queue.is_closed());
    assert_eq!(queue.put(1).unwrap_err().kind(), &ErrorKind::Closed);
    assert_eq!(queue.try_get().unwrap_err().kind(), &ErrorKind::Closed);
}

// ---- _TestContainers ---------------------------------------------------------------------------

/// Python's list proxy iterator runs on the server and sees `a[0] = 100` made after `iter(a)`. Here
/// `iter()` is a snapshot taken when it is called: a deliberate difference (one round trip, no
/// server-side cursor); a fresh `iter()` sees the change.
#[multiproc::test]
fn containers_test_list_iter() {
    let mgr = Manager::start().unwrap();
    let a = mgr.list_from(0..10u32).unwrap();
    let mut it = a.iter().unwrap();
    assert_eq!(it.by_ref().collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    assert_eq!(it.next(), None, "exhausted");
    a.set(0, &100).unwrap();
    assert_eq!(a.iter().unwrap().next(), Some(100));
}

/// Python: iterating a dict proxy yields its keys; a `clear()` during the iteration raises
/// `RuntimeError`. Here `iter()` yields `(key, value)` pairs of a snapshot, so a later `clear()`
/// does not disturb it (the deliberate difference of `containers_test_list_iter`).
#[multiproc::test]
fn containers_test_dict_iter() {
    let mgr = Manager::start().unwrap();
    let d = mgr.dict::<u32, char>().unwrap();
    let indices: Vec<u32> = (65..70).collect();
    for &i in &indices {
        d.insert(&i, &(char::from_u32(i).unwrap())).unwrap();
    }
    let mut it = d.iter().unwrap();
    assert_eq!(
        it.by_ref().map(|(k, _)| k).collect::<Vec<_>>(),
        indices,
        "keys in insertion order"
    );
    assert_eq!(it.next(), None);
    let it = d.iter().unwrap();
    d.clear().unwrap();
    assert_eq!(it.count(), 5);
    assert_eq!(d.iter().unwrap().count(), 0);
}

#[multiproc::test]
fn containers_test_list_proxy_in_list() {
    let mgr = Manager::start().unwrap();
    let inner: Vec<ListProxy<u32>> = (0..3).map(|_| mgr.list_from(0..3u32).unwrap()).collect();
    let a = mgr.list_from(inner).unwrap();
    for inner in a.iter().unwrap() {
        assert_eq!(inner.to_vec().unwrap(), [0, 1, 2]);
    }
    a.get(0).unwrap().unwrap().set(2, &55).unwrap();
    assert_eq!(a.get(0).unwrap().unwrap().to_vec().unwrap(), [0, 1, 55]);
    for i in 1..3 {
        assert_eq!(a.get(i).unwrap().unwrap().to_vec().unwrap(), [0, 1, 2]);
    }
    assert_eq!(a.get(1).unwrap().unwrap().pop().unwrap(), Some(2));
    assert_eq!(a.get(1).unwrap().unwrap().len().unwrap(), 2);
    for i in [0, 2] {
        assert_eq!(a.get(i).unwrap().unwrap().len().unwrap(), 3);
    }
}

#[multiproc::test]
fn containers_test_dict_proxy_nested() {
    let mgr = Manager::start().unwrap();
    let pets = mgr
        .dict_from([("ferrets".to_string(), 2u32), ("hamsters".into(), 4)])
        .unwrap();
    let supplies = mgr
        .dict_from([("water".to_string(), 10u32), ("feed".into(), 3)])
        .unwrap();
    let d: DictProxy<String, DictProxy<String, u32>> = mgr
        .dict_from([
            ("pets".to_string(), pets.clone()),
            ("supplies".into(), supplies.clone()),
        ])
        .unwrap();
    let at = |k: &str| d.get(&(k.to_string())).unwrap().unwrap();
    assert_eq!(supplies.get(&("water".to_string())).unwrap(), Some(10));
    assert_eq!(
        at("supplies").get(&("water".to_string())).unwrap(),
        Some(10)
    );
    at("supplies")
        .insert(&("blankets".to_string()), &5)
        .unwrap();
    assert_eq!(supplies.get(&("blankets".to_string())).unwrap(), Some(5));
    at("supplies").insert(&("water".to_string()), &7).unwrap();
    assert_eq!(supplies.get(&("water".to_string())).unwrap(), Some(7));

    // The nested objects live on while only the outer dict refers to them.
    drop(pets);
    drop(supplies);
    assert_eq!(at("pets").get(&("ferrets".to_string())).unwrap(), Some(2));
    at("supplies")
        .insert(&("blankets".to_string()), &11)
        .unwrap();
    assert_eq!(
        at("supplies").get(&("blankets".to_string())).unwrap(),
        Some(11)
    );
    let pets = at("pets");
    let supplies = at("supplies");
    d.clear().unwrap();
    assert_eq!(d.len().unwrap(), 0);
    assert_eq!(supplies.get(&("water".to_string())).unwrap(), Some(7));
    assert_eq!(pets.get(&("hamsters".to_string())).unwrap(), Some(4));

    let l = mgr.list_from([pets.clone(), supplies.clone()]).unwrap();
    l.get(0)
        .unwrap()
        .unwrap()
        .insert(&("marmots".to_string()), &1)
        .unwrap();
    assert_eq!(pets.get(&("marmots".to_string())).unwrap(), Some(1));
    drop(pets);
    drop(supplies);
    assert_eq!(
        l.get(0)
            .unwrap()
            .unwrap()
            .get(&("marmots".to_string()))
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        l.get(1)
            .unwrap()
            .unwrap()
            .get(&("feed".to_string()))
            .unwrap(),
        Some(3)
    );
}

#[multiproc::test]
fn containers_test_nested_queue() {
    let mgr = Manager::start().unwrap();
    let a = mgr.list::<QueueProxy<u32>>().unwrap();
    a.append(&(mgr.queue::<u32>().unwrap())).unwrap();
    a.get(0).unwrap().unwrap().put(&123).unwrap();
    assert_eq!(a.get(0).unwrap().unwrap().get().unwrap(), 123);
    let b = mgr.dict::<u32, QueueProxy<u32>>().unwrap();
    b.insert(&0, &(mgr.queue::<u32>().unwrap())).unwrap();
    b.get(&0).unwrap().unwrap().put(&456).unwrap();
    assert_eq!(b.get(&0).unwrap().unwrap().get().unwrap(), 456);
}

#[multiproc::test]
fn containers_test_namespace() {
    let mgr = Manager::start().unwrap();
    let n = mgr.namespace().unwrap();
    n.set("name", "Bob").unwrap();
    n.set("job", "Builder").unwrap();
    n.set("_hidden", "hidden").unwrap();
    assert_eq!(
        (
            n.get::<String>("name").unwrap(),
            n.get::<String>("job").unwrap()
        ),
        ("Bob".to_string(), "Builder".to_string())
    );
    assert!(n.remove("job").unwrap());
    let mut names = n.names().unwrap();
    names.sort();
    assert_eq!(names, ["_hidden", "name"]);
    assert!(n.get::<String>("job").is_err());
    assert_eq!(n.get::<String>("name").unwrap(), "Bob");
}

// ---- _TestMyManager ----------------------------------------------------------------------------

/// Python's `FooBar`: `f` works, `g` raises `ValueError`, `_h` is private. Registered as `Foo`
/// exposing `f` and `g`, and as `Bar` exposing `f` and `_h`; Rust exposes exactly the `pub`
/// methods, so `Bar` is a second type whose `_h` is public.
#[derive(serde::Serialize, serde::Deserialize)]
struct Foo2;

#[multiproc::managed]
impl Foo2 {
    pub fn f(&self) -> String {
        "f()".into()
    }

    pub fn g(&self) -> Result<(), String> {
        Err("ValueError".into())
    }

    #[allow(dead_code)]
    fn _h(&self) -> String {
        "_h()".into()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Bar;

#[multiproc::managed]
impl Bar {
    pub fn f(&self) -> String {
        "f()".into()
    }

    pub fn _h(&self) -> String {
        "_h()".into()
    }
}

/// Python's `baz_s()`: a generator of squares, served through an iterator proxy; here a method
/// returning them.
#[derive(serde::Serialize, serde::Deserialize)]
struct Baz;

#[multiproc::managed]
impl Baz {
    pub fn squares(&self) -> Vec<u32> {
        (0..10).map(|i| i * i).collect()
    }
}

fn mymanager_common(manager: &Manager) {
    let foo_s: Foo2Proxy = manager.create(Foo2).unwrap();
    let bar: BarProxy = manager.create(Bar).unwrap();
    let baz_s: BazProxy = manager.create(Baz).unwrap();
    assert_eq!(foo_s.f().unwrap(), "f()");
    let err = foo_s.g().unwrap_err();
    assert!(err.to_string().contains("ValueError"), "{err}");
    assert_eq!(foo_s.core().call::<_, String>("f", &()).unwrap(), "f()");
    // Python's `RemoteError`; here the server refuses a method the type does not expose.
    let err = foo_s.core().call::<_, String>("_h", &()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err:?}");
    assert!(err.to_string().contains("no method `_h`"), "{err}");
    assert_eq!(bar.f().unwrap(), "f()");
    assert_eq!(bar._h().unwrap(), "_h()");
    assert_eq!(bar.core().call::<_, String>("f", &()).unwrap(), "f()");
    assert_eq!(bar.core().call::<_, String>("_h", &()).unwrap(), "_h()");
    assert_eq!(
        baz_s.squares().unwrap(),
        (0..10).map(|i| i * i).collect::<Vec<u32>>()
    );
}

#[multiproc::test]
fn my_manager_test_mymanager() {
    let manager = Manager::start().unwrap();
    let pid = manager.pid().unwrap();
    mymanager_common(&manager);
    manager.shutdown().unwrap();
    assert!(
        common::wait_until(Duration::from_secs(5), || !is_our_child(pid)),
        "manager {pid} still running"
    );
}

/// Python's `with manager:` shuts it down at the end of the block: here the end of scope.
#[multiproc::test]
fn my_manager_test_mymanager_context() {
    let pid = {
        let manager = Manager::start().unwrap();
        mymanager_common(&manager);
        manager.pid().unwrap()
    };
    assert!(
        common::wait_until(Duration::from_secs(5), || !is_our_child(pid)),
        "manager {pid} still running"
    );
}

/// Python: `start()` then `with manager:` (the block does not start it again) and the process exits
/// with 0. Here every manager is started when made; an explicit `shutdown()` inside the scope and
/// the drop at its end do not clash, and the server process is gone.
#[multiproc::test]
fn my_manager_test_mymanager_context_prestarted() {
    let pid = {
        let manager = Manager::start().unwrap();
        let pid = manager.pid().unwrap();
        mymanager_common(&manager);
        manager.shutdown().unwrap();
        assert_eq!(manager.pid(), None, "a shut-down manager has no process");
        pid
    };
    assert!(
        common::wait_until(Duration::from_secs(5), || !is_our_child(pid)),
        "manager {pid} still running"
    );
}

// ---- _TestRemoteManager, _TestManagerRestart ---------------------------------------------------

const AUTHKEY: &[u8] = b"conformance-13-ports-remote-key";

type Values = (String, i32, f64, (i32, i32), Vec<u8>);

fn values() -> Values {
    ("hello world".into(), -42, 2.5, (1, 2), vec![0xde, 0xad])
}

#[worker]
fn remote_putter(address: String, authkey: Vec<u8>) {
    let manager = Manager::connect(address.as_str(), &authkey).unwrap();
    let queue: QueueProxy<Values> = manager.lookup("queue").unwrap();
    queue.put(&(values())).unwrap();
}

#[multiproc::test]
fn remote_manager_test_remote() {
    let manager = Manager::serve("127.0.0.1:0", AUTHKEY).unwrap();
    let queue = manager.queue::<Values>().unwrap();
    manager.publish("queue", &queue).unwrap();
    let address = manager.socket_addr().unwrap().to_string();
    let p = remote_putter::spawn(address.clone(), AUTHKEY.to_vec()).unwrap();
    let manager2 = Manager::connect(address.as_str(), AUTHKEY).unwrap();
    let queue2: QueueProxy<Values> = manager2.lookup("queue").unwrap();
    assert_eq!(queue2.get_timeout(LONG).unwrap(), values());
    p.join().unwrap();
    manager.shutdown().unwrap();
}

#[worker]
fn restart_putter(address: String, authkey: Vec<u8>) {
    let manager = Manager::connect(address.as_str(), &authkey).unwrap();
    let queue: QueueProxy<String> = manager.lookup("queue").unwrap();
    queue.put(&("hello world".to_string())).unwrap();
}

/// Python: a manager on an address, shut down, and a new one on the same address at once (issue
/// 7301: the port must be reusable right away).
#[multiproc::test]
fn manager_restart_test_rapid_restart() {
    let manager = Manager::serve("127.0.0.1:0", AUTHKEY).unwrap();
    let addr = manager.socket_addr().unwrap();
    let queue = manager.queue::<String>().unwrap();
    manager.publish("queue", &queue).unwrap();
    restart_putter::spawn(addr.to_string(), AUTHKEY.to_vec())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(queue.get_timeout(LONG).unwrap(), "hello world");
    drop(queue);
    manager.shutdown().unwrap();
    drop(manager);

    let manager = Manager::serve(addr, AUTHKEY).unwrap();
    assert_eq!(manager.socket_addr().unwrap(), addr);
    let queue = manager.queue::<String>().unwrap();
    manager.publish("queue", &queue).unwrap();
    restart_putter::spawn(addr.to_string(), AUTHKEY.to_vec())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(queue.get_timeout(LONG).unwrap(), "hello world");
    manager.shutdown().unwrap();
}

// ---- TestSyncManagerTypes ----------------------------------------------------------------------
// Each runs the Python `_test_<type>` body in a child (asserts there fail the child's join) and
// checks the object in the parent afterwards. `test_pool` is not ported: there is no manager-served
// `Pool`.

#[worker]
fn smt_list(obj: ListProxy<u32>) {
    assert_eq!(obj.get(0).unwrap(), Some(5));
    assert_eq!(obj.count(&5).unwrap(), 1);
    assert_eq!(obj.index(&5).unwrap(), Some(0));
    obj.sort().unwrap();
    obj.reverse().unwrap();
    assert_eq!(obj.iter().unwrap().count(), 1);
    assert_eq!(obj.len().unwrap(), 1);
    assert_eq!(obj.remove(0).unwrap(), 5);
}

#[multiproc::test]
fn sync_manager_types_test_list() {
    let mgr = Manager::start().unwrap();
    let o = mgr.list::<u32>().unwrap();
    o.append(&5).unwrap();
    smt_list::spawn(o.clone()).unwrap().join().unwrap();
    assert!(o.is_empty().unwrap());
    assert_eq!(o.len().unwrap(), 0);
}

#[worker]
fn smt_event(obj: EventProxy) {
    assert!(obj.is_set().unwrap());
    obj.wait().unwrap();
    obj.clear().unwrap();
    assert!(!obj.wait_timeout(Duration::from_millis(1)).unwrap());
}

#[multiproc::test]
fn sync_manager_types_test_event() {
    let mgr = Manager::start().unwrap();
    let o = mgr.event().unwrap();
    o.set().unwrap();
    smt_event::spawn(o.clone()).unwrap().join().unwrap();
    assert!(!o.is_set().unwrap());
    assert!(!o.wait_timeout(Duration::from_millis(1)).unwrap());
}

#[worker]
fn smt_lock(obj: LockProxy) {
    std::mem::forget(obj.acquire().unwrap());
}

/// Python: the child acquires and exits; the parent then releases it, and a second release raises
/// `RuntimeError`. Here the server releases a lock whose holder went away, so the lock is free once
/// the child has exited, and a release of a free lock fails (`InvalidInput`).
#[multiproc::test]
fn sync_manager_types_test_lock() {
    let mgr = Manager::start().unwrap();
    let o = mgr.lock().unwrap();
    smt_lock::spawn(o.clone()).unwrap().join().unwrap();
    assert!(common::wait_until(Duration::from_secs(5), || !o
        .locked()
        .unwrap()));
    let err = o.core().call::<_, ()>("release", &()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");
    o.acquire().unwrap().release().unwrap();
}

#[worker]
fn smt_rlock(obj: RLockProxy) {
    obj.acquire().unwrap().release().unwrap();
}

#[multiproc::test]
fn sync_manager_types_test_rlock() {
    let mgr = Manager::start().unwrap();
    let o = mgr.rlock().unwrap();
    smt_rlock::spawn(o.clone()).unwrap().join().unwrap();
    assert!(!o.locked().unwrap());
}

#[worker]
fn smt_semaphore(obj: SemaphoreProxy) {
    obj.acquire().unwrap();
}

#[multiproc::test]
fn sync_manager_types_test_semaphore() {
    let mgr = Manager::start().unwrap();
    let o = mgr.semaphore(1).unwrap();
    smt_semaphore::spawn(o.clone()).unwrap().join().unwrap();
    assert_eq!(o.value().unwrap(), 0);
    o.release().unwrap();
    assert_eq!(o.value().unwrap(), 1);
}

#[multiproc::test]
fn sync_manager_types_test_bounded_semaphore() {
    let mgr = Manager::start().unwrap();
    let o = mgr.bounded_semaphore(1).unwrap();
    smt_semaphore::spawn(o.clone()).unwrap().join().unwrap();
    assert_eq!(o.value().unwrap(), 0);
    o.release().unwrap();
    assert_eq!(o.value().unwrap(), 1);
    assert!(o.release().is_err(), "a bounded semaphore above its bound");
}

#[worker]
fn smt_condition(obj: ConditionProxy) {
    drop(obj.acquire().unwrap());
}

#[multiproc::test]
fn sync_manager_types_test_condition() {
    let mgr = Manager::start().unwrap();
    let o = mgr.condition().unwrap();
    smt_condition::spawn(o.clone()).unwrap().join().unwrap();
    assert!(!o.locked().unwrap());
}

#[worker]
fn smt_barrier(obj: BarrierProxy) {
    assert_eq!(obj.parties().unwrap(), 5);
    obj.reset().unwrap();
}

#[multiproc::test]
fn sync_manager_types_test_barrier() {
    let mgr = Manager::start().unwrap();
    let o = mgr.barrier(5).unwrap();
    smt_barrier::spawn(o.clone()).unwrap().join().unwrap();
    assert!(!o.is_broken().unwrap());
    assert_eq!(o.n_waiting().unwrap(), 0);
}

#[worker]
fn smt_queue(obj: JoinableQueueProxy<u32>) {
    assert_eq!(obj.len().unwrap(), 2);
    assert!(obj.is_full().unwrap());
    assert!(!obj.is_empty().unwrap());
    assert_eq!(obj.get().unwrap(), 5);
    assert!(!obj.is_empty().unwrap());
    assert_eq!(obj.get().unwrap(), 6);
    assert!(obj.is_empty().unwrap());
}

/// Python's `manager.Queue(2)`: `queue_bounded(2)`.
#[multiproc::test]
fn sync_manager_types_test_queue() {
    let mgr = Manager::start().unwrap();
    let o = mgr.queue_bounded::<u32>(2).unwrap();
    o.put(&5).unwrap();
    o.put(&6).unwrap();
    smt_queue::spawn(o.clone()).unwrap().join().unwrap();
    assert!(o.is_empty().unwrap());
    assert!(!o.is_full().unwrap());
}

/// Python's `manager.JoinableQueue(2)`: the bounded manager queue is joinable; its two items are
/// taken but not marked done, so `join` waits until the parent marks them.
#[multiproc::test]
fn sync_manager_types_test_joinable_queue() {
    let mgr = Manager::start().unwrap();
    let o = mgr.queue_bounded::<u32>(2).unwrap();
    o.put(&5).unwrap();
    o.put(&6).unwrap();
    smt_queue::spawn(o.clone()).unwrap().join().unwrap();
    assert!(o.is_empty().unwrap());
    assert!(!o.is_full().unwrap());
    assert_eq!(o.unfinished().unwrap(), 2);
    assert!(o.join_timeout(Duration::from_millis(50)).is_err());
    o.task_done().unwrap();
    o.task_done().unwrap();
    o.join_timeout(LONG).unwrap();
}

#[worker]
fn smt_dict(obj: DictProxy<String, u32>) {
    assert_eq!(obj.len().unwrap(), 1);
    assert_eq!(obj.get(&("foo".to_string())).unwrap(), Some(5));
    assert_eq!(obj.items().unwrap(), [("foo".to_string(), 5)]);
    assert_eq!(obj.keys().unwrap(), ["foo"]);
    assert_eq!(obj.values().unwrap(), [5]);
    assert_eq!(obj.popitem().unwrap(), Some(("foo".to_string(), 5)));
}

#[multiproc::test]
fn sync_manager_types_test_dict() {
    let mgr = Manager::start().unwrap();
    let o = mgr.dict::<String, u32>().unwrap();
    o.insert(&("foo".to_string()), &5).unwrap();
    smt_dict::spawn(o.clone()).unwrap().join().unwrap();
    assert!(o.is_empty().unwrap());
    assert_eq!(o.len().unwrap(), 0);
}

#[worker]
fn smt_value(obj: ValueProxy<i32>) {
    assert_eq!(obj.get().unwrap(), 1);
    obj.set(&2).unwrap();
}

#[multiproc::test]
fn sync_manager_types_test_value() {
    let mgr = Manager::start().unwrap();
    let o = mgr.value(1i32).unwrap();
    smt_value::spawn(o.clone()).unwrap().join().unwrap();
    assert_eq!(o.get().unwrap(), 2);
}

#[worker]
fn smt_array(obj: ArrayProxy<i32>) {
    assert_eq!(obj.get(0).unwrap(), 0);
    assert_eq!(obj.get(1).unwrap(), 1);
    assert_eq!(obj.len().unwrap(), 2);
    assert_eq!(obj.to_vec().unwrap(), [0, 1]);
}

#[multiproc::test]
fn sync_manager_types_test_array() {
    let mgr = Manager::start().unwrap();
    let o = mgr.array([0i32, 1]).unwrap();
    smt_array::spawn(o.clone()).unwrap().join().unwrap();
}

#[worker]
fn smt_namespace(obj: NamespaceProxy) {
    assert_eq!(obj.get::<i32>("x").unwrap(), 0);
    assert_eq!(obj.get::<i32>("y").unwrap(), 1);
}

#[multiproc::test]
fn sync_manager_types_test_namespace() {
    let mgr = Manager::start().unwrap();
    let o = mgr.namespace().unwrap();
    o.set("x", &0i32).unwrap();
    o.set("y", &1i32).unwrap();
    smt_namespace::spawn(o.clone()).unwrap().join().unwrap();
}

// ---- TestTimeouts ------------------------------------------------------------------------------

#[worker]
fn send_late(child: Connection<u32>, ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
    child.send(&123).unwrap();
}

/// Python: a process-wide socket timeout of 0.1 s must not make `Pipe` reads time out. Rust has no
/// such global setting; what is left is that a blocking `recv` waits as long as the sender takes.
/// (The `Listener`/`Client` half has no counterpart: there is no public listener API.)
#[multiproc::test]
fn timeouts_test_timeout() {
    let (parent, child) = Pipe::<u32>::new().unwrap();
    let p = send_late::spawn(child, 300).unwrap();
    let start = Instant::now();
    assert_eq!(parent.recv().unwrap(), 123);
    assert!(start.elapsed() >= Duration::from_millis(250));
    p.join().unwrap();
}

// ---- TestNoForkBomb ----------------------------------------------------------------------------

#[worker]
fn would_fork_bomb() -> u32 {
    123
}

/// Python: a script that starts a process without the `if __name__ == '__main__'` guard fails with
/// `RuntimeError` under spawn instead of starting processes forever. Here an entry point without the
/// annotation (a plain `#[test]`) is refused with `NotBootstrapped`, before any child starts.
#[test]
fn no_fork_bomb_test_noforkbomb() {
    let before = multiproc::open_fd_count();
    let err = would_fork_bomb::spawn().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotBootstrapped, "{err:?}");
    assert!(err.to_string().contains("#[multiproc::test]"), "{err}");
    assert_eq!(multiproc::open_fd_count(), before);
}

// ---- TestCloseFds ------------------------------------------------------------------------------

/// Whether `fd` is open in this process.
fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; a closed one gives EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

#[worker]
fn child_has_fd(fd: i32) -> bool {
    fd_is_open(fd)
}

/// Python: a socket the parent opened is closed in a spawned child (using its number there fails
/// with `EBADF`). Here a descriptor the parent opened without close-on-exec does not reach the child
/// (tests/fd_inherit.rs covers the fork server too).
#[multiproc::test]
fn close_fds_test_closefd() {
    // SAFETY: plain open of a NUL-terminated path, without O_CLOEXEC on purpose.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    assert!(fd >= 0);
    // SAFETY: F_DUPFD on a descriptor this test owns; the copy has no close-on-exec.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD, 950) };
    assert!(high >= 950);
    // SAFETY: the original is this test's and no longer used.
    unsafe { libc::close(fd) };
    assert!(fd_is_open(high));
    assert!(!child_has_fd::spawn(high).unwrap().join().unwrap());
    // SAFETY: the copy is this test's and no longer used.
    unsafe { libc::close(high) };
}
