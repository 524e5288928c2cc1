//! Managed containers from the parent and from workers: list, dict, namespace, value, queue, lock,
//! event, custom `#[managed]` types, publish/lookup, shutdown.

use multiproc::manager::{DictProxy, ListProxy, NamespaceProxy, QueueProxy};
use multiproc::{ErrorKind, Manager, worker};
use std::time::Duration;

#[derive(serde::Serialize, serde::Deserialize)]
struct Counter {
    n: u64,
}

#[multiproc::managed]
impl Counter {
    /// Adds `by`, returning the new total.
    pub fn increment(&mut self, by: u64) -> u64 {
        self.n += by;
        self.n
    }

    pub fn value(&self) -> u64 {
        self.n
    }

    pub fn checked_sub(&mut self, by: u64) -> Result<u64, String> {
        self.n = self
            .n
            .checked_sub(by)
            .ok_or_else(|| format!("cannot take {by} from {}", self.n))?;
        Ok(self.n)
    }

    pub fn boom(&self) {
        panic!("counter exploded");
    }

    fn private_helper(&self) -> u64 {
        self.n
    }
}

#[worker]
fn fill(list: ListProxy<u64>, d: DictProxy<String, u64>, ns: NamespaceProxy, i: u64) {
    list.append(&(i * 10)).expect("append");
    d.insert(&format!("k{i}"), &i).expect("insert");
    ns.set(&format!("w{i}"), &i).expect("set");
}

#[worker]
fn bump(c: CounterProxy, times: u64) {
    for _ in 0..times {
        c.increment(1).expect("increment");
    }
}

#[worker]
fn consume(q: QueueProxy<String>, out: ListProxy<String>) {
    loop {
        let item = q.get().expect("get");
        if item == "stop" {
            return;
        }
        out.append(&item.to_uppercase()).expect("append");
    }
}

/// True when this process maps a manager connection's shared-memory mailboxes.
fn maps_mailboxes() -> bool {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .contains("multiproc-mailbox")
}

/// From a fresh process: small calls go through shared memory, and values larger than a mailbox
/// (64 KiB) travel beside it, in both directions, between small calls.
#[worker]
fn large_and_small(
    list: ListProxy<String>,
    value: multiproc::manager::ValueProxy<Vec<u8>>,
) -> bool {
    assert!(!maps_mailboxes(), "no manager connection yet");
    assert_eq!(list.len().expect("len"), 0);
    let mailboxes = maps_mailboxes();
    let big: Vec<String> = (0..300).map(|i| format!("{i:>1000}")).collect();
    list.extend(big.clone()).expect("extend (a large request)");
    assert_eq!(list.len().expect("len"), 300);
    assert_eq!(list.to_vec().expect("to_vec (a large reply)"), big);
    assert_eq!(list.get(7).expect("get"), Some(big[7].clone()));
    let blob: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    value.set(&blob).expect("set");
    assert_eq!(value.get().expect("get"), blob);
    assert_eq!(value.swap(&[1][..]).expect("swap"), blob);
    assert_eq!(value.get().expect("get"), [1]);
    mailboxes
}

#[multiproc::test]
fn local_calls_use_shared_memory_and_large_values_still_travel() {
    let mgr = Manager::start().unwrap();
    let list = mgr.list::<String>().unwrap();
    let value = mgr.value(Vec::<u8>::new()).unwrap();
    let p = large_and_small::spawn(list.clone(), value.clone()).unwrap();
    assert!(
        p.join().unwrap(),
        "a local manager connection should map mailboxes"
    );
    assert_eq!(list.len().unwrap(), 300);
    assert_eq!(value.get().unwrap(), [1]);
}

#[multiproc::test]
fn list_and_dict_ops() {
    let mgr = Manager::start().unwrap();
    let list = mgr.list_from([3u32, 1]).unwrap();
    list.append(&4).unwrap();
    list.extend([1, 5]).unwrap();
    list.insert(0, &9).unwrap();
    assert_eq!(list.to_vec().unwrap(), [9, 3, 1, 4, 1, 5]);
    assert_eq!(list.len().unwrap(), 6);
    assert_eq!(list.get(1).unwrap(), Some(3));
    assert_eq!(list.get(60).unwrap(), None);
    list.set(1, &30).unwrap();
    assert_eq!(
        list.set(60, &1).unwrap_err().kind(),
        &ErrorKind::InvalidInput
    );
    assert_eq!(list.remove(0).unwrap(), 9);
    assert_eq!(list.pop().unwrap(), Some(5));
    assert!(list.contains(&4).unwrap());
    assert_eq!(list.index(&1).unwrap(), Some(1));
    assert_eq!(list.iter().unwrap().sum::<u32>(), 30 + 1 + 4 + 1);
    list.clear().unwrap();
    assert!(list.is_empty().unwrap());
    assert_eq!(list.pop().unwrap(), None);

    let d = mgr.dict_from([("count".to_string(), 0i64)]).unwrap();
    assert_eq!(d.insert("b", &2).unwrap(), None);
    assert_eq!(d.insert("count", &1).unwrap(), Some(0));
    d.update([("a".to_string(), 3)]).unwrap();
    assert_eq!(d.keys().unwrap(), ["count", "b", "a"]);
    assert_eq!(d.values().unwrap(), [1, 2, 3]);
    assert_eq!(d.get("a").unwrap(), Some(3));
    assert!(d.contains_key("b").unwrap());
    assert_eq!(d.setdefault("b", &7).unwrap(), 2);
    assert_eq!(d.setdefault("z", &7).unwrap(), 7);
    assert_eq!(d.remove("b").unwrap(), Some(2));
    assert_eq!(d.len().unwrap(), 3);
    assert_eq!(
        d.iter().unwrap().collect::<Vec<_>>(),
        [
            ("count".to_string(), 1),
            ("a".to_string(), 3),
            ("z".to_string(), 7)
        ]
    );
    d.clear().unwrap();
    assert!(d.is_empty().unwrap());
}

#[multiproc::test]
fn workers_fill_list_dict_namespace() {
    let mgr = Manager::start().unwrap();
    let (list, d, ns) = (
        mgr.list().unwrap(),
        mgr.dict().unwrap(),
        mgr.namespace().unwrap(),
    );
    let ps: Vec<_> = (0..4)
        .map(|i| fill::spawn(list.clone(), d.clone(), ns.clone(), i).unwrap())
        .collect();
    for p in ps {
        p.join().unwrap();
    }
    let mut got = list.to_vec().unwrap();
    got.sort();
    assert_eq!(got, [0, 10, 20, 30]);
    let mut items = d.items().unwrap();
    items.sort();
    assert_eq!(
        items,
        [
            ("k0".into(), 0),
            ("k1".into(), 1),
            ("k2".into(), 2),
            ("k3".into(), 3)
        ]
    );
    assert_eq!(ns.names().unwrap(), ["w0", "w1", "w2", "w3"]);
    assert_eq!(ns.get::<u64>("w3").unwrap(), 3);
    assert_eq!(
        ns.get::<u64>("nope").unwrap_err().kind(),
        &ErrorKind::NotFound
    );
    assert!(ns.remove("w3").unwrap());
}

#[multiproc::test]
fn custom_type_shared_by_workers() {
    let mgr = Manager::start().unwrap();
    let c = mgr.create(Counter { n: 0 }).unwrap();
    let ps: Vec<_> = (0..3)
        .map(|_| bump::spawn(c.clone(), 50).unwrap())
        .collect();
    for p in ps {
        p.join().unwrap();
    }
    assert_eq!(c.value().unwrap(), 150);
    assert_eq!(c.checked_sub(100).unwrap(), 50);
    let err = c.checked_sub(100).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Remote {
            message: "cannot take 100 from 50".into()
        }
    );
    let err = c.boom().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Remote { message } if message.contains("counter exploded"))
    );
    // The server survived the panic and the object still works.
    assert_eq!(c.increment(1).unwrap(), 51);
    assert_eq!(Counter { n: 2 }.private_helper(), 2);
}

#[multiproc::test]
fn queue_between_workers() {
    let mgr = Manager::start().unwrap();
    let q = mgr.queue::<String>().unwrap();
    let out = mgr.list::<String>().unwrap();
    let p = consume::spawn(q.clone(), out.clone()).unwrap();
    for w in ["a", "b", "c", "stop"] {
        q.put(w).unwrap();
    }
    p.join().unwrap();
    assert_eq!(out.to_vec().unwrap(), ["A", "B", "C"]);
    assert_eq!(q.try_get().unwrap_err().kind(), &ErrorKind::Empty);
    assert!(
        q.get_timeout(Duration::from_millis(20))
            .unwrap_err()
            .is_timeout()
    );
    assert!(q.is_empty().unwrap());
}

#[multiproc::test]
fn lock_event_value() {
    let mgr = Manager::start().unwrap();
    let lock = mgr.lock().unwrap();
    let g = lock.acquire().unwrap();
    assert!(lock.locked().unwrap());
    // Another thread has its own connection, so it is another owner.
    let l2 = lock.clone();
    let blocked = std::thread::spawn(move || {
        l2.acquire_timeout(Duration::from_millis(30))
            .map(|_| ())
            .unwrap_err()
            .is_timeout()
    });
    assert!(blocked.join().unwrap());
    g.release().unwrap();
    assert!(lock.try_acquire().unwrap().is_some());
    assert!(!lock.locked().unwrap());

    let ev = mgr.event().unwrap();
    assert!(!ev.wait_timeout(Duration::from_millis(5)).unwrap());
    let e2 = ev.clone();
    let setter = std::thread::spawn(move || e2.set().unwrap());
    ev.wait().unwrap();
    setter.join().unwrap();
    assert!(ev.is_set().unwrap());
    ev.clear().unwrap();
    assert!(!ev.is_set().unwrap());

    let v = mgr.value(1.5f64).unwrap();
    v.set(&2.5).unwrap();
    assert_eq!(v.swap(&3.5).unwrap(), 2.5);
    assert_eq!(v.get().unwrap(), 3.5);
}

#[multiproc::test]
fn publish_lookup_and_shutdown() {
    let mgr = Manager::start().unwrap();
    let d = mgr.dict::<u32, u32>().unwrap();
    d.insert(&1, &2).unwrap();
    mgr.publish("results", &d).unwrap();
    let again: DictProxy<u32, u32> = mgr.lookup("results").unwrap();
    assert_eq!(again.get(&1).unwrap(), Some(2));
    let wrong = mgr.lookup::<ListProxy<u32>>("results").unwrap_err();
    assert_eq!(wrong.kind(), &ErrorKind::InvalidInput);
    let missing = mgr.lookup::<ListProxy<u32>>("nothing").unwrap_err();
    assert_eq!(missing.kind(), &ErrorKind::NotFound);
    let pid = mgr.pid().unwrap();
    mgr.shutdown().unwrap();
    assert!(d.len().unwrap_err().is_disconnected());
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[multiproc::test]
fn handles_with_descriptors_are_refused() {
    let mgr = Manager::start().unwrap();
    let list = mgr.list::<multiproc::Connection<u8>>().unwrap();
    let (a, _b) = multiproc::Pipe::<u8>::new().unwrap();
    assert_eq!(
        list.append(&a).unwrap_err().kind(),
        &ErrorKind::InvalidInput
    );
    assert!(list.is_empty().unwrap());
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Gatekeeper;

#[multiproc::managed]
impl Gatekeeper {
    /// Blocks this call (in the server) until `gate` is set, up to 20 s.
    pub fn hold(&self, gate: multiproc::manager::EventProxy) -> bool {
        gate.wait_timeout(Duration::from_secs(20)).unwrap_or(false)
    }
}

#[worker]
fn hold_the_gate(keeper: GatekeeperProxy, gate: multiproc::manager::EventProxy) -> bool {
    keeper.hold(gate).expect("hold")
}

#[multiproc::test]
fn a_slow_call_does_not_block_other_clients() {
    let mgr = Manager::start().unwrap();
    let keeper = mgr.create(Gatekeeper).unwrap();
    let gate = mgr.event().unwrap();
    let p = hold_the_gate::spawn(keeper, gate.clone()).unwrap();
    // While the worker's call is parked in the server, other calls go through, and the one that
    // releases it must too.
    let list = mgr.list_from([1u8, 2, 3]).unwrap();
    assert_eq!(list.len().unwrap(), 3);
    gate.set().unwrap();
    assert!(p.join().unwrap());
}

#[multiproc::test]
fn proxies_can_be_stored_in_a_manager() {
    let mgr = Manager::start().unwrap();
    let inner = mgr.list_from([7u32]).unwrap();
    let outer = mgr.dict::<String, ListProxy<u32>>().unwrap();
    outer.insert("inner", &inner).unwrap();
    let back = outer.get("inner").unwrap().unwrap();
    back.append(&8).unwrap();
    assert_eq!(inner.to_vec().unwrap(), [7, 8]);
}

/// Starts, uses and drops `n` managers from this thread and from a helper thread that lives on;
/// returns the descriptor counts before, after the loop, and after the helper used one more manager.
#[worker]
fn cycle_managers(n: u32) -> (usize, usize, usize) {
    // Counts descriptors: a fork server started in the middle would add its own.
    multiproc::set_start_method(multiproc::StartMethod::Spawn);
    let (to_helper, jobs) = std::sync::mpsc::channel::<Option<ListProxy<u32>>>();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let helper = std::thread::spawn(move || {
        while let Ok(Some(list)) = jobs.recv() {
            list.append(&2).expect("append from the helper");
            done.send(()).expect("report");
        }
    });
    let before = multiproc::open_fd_count();
    for i in 0..n {
        let mgr = Manager::start().expect("start");
        let list = mgr.list::<u32>().expect("list");
        list.append(&i).expect("append");
        to_helper.send(Some(list.clone())).expect("hand over");
        finished.recv().expect("helper done");
        assert_eq!(list.len().expect("len"), 2);
    }
    let after = multiproc::open_fd_count();
    // The helper still caches its connection to the last (stopped) manager until it opens another.
    let mgr = Manager::start().expect("start");
    let list = mgr.list::<u32>().expect("list");
    to_helper.send(Some(list.clone())).expect("hand over");
    finished.recv().expect("helper done");
    drop((list, mgr));
    to_helper.send(None).expect("stop");
    helper.join().expect("helper");
    (before, after, multiproc::open_fd_count())
}

#[multiproc::test]
fn dropped_managers_leave_no_connections_behind() {
    let (before, after, end) = cycle_managers::spawn(50).unwrap().join().unwrap();
    // The helper thread's connection to the last manager of the loop is still cached: 1 socket + 2
    // doorbells at most; everything else was released.
    assert!(
        after <= before + 3,
        "{before} descriptors before, {after} after 50 managers"
    );
    assert_eq!(end, before, "descriptors left after the helper moved on");
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Point {
    x: i64,
    y: i64,
}

#[multiproc::managed]
impl Point {
    pub fn moved(&self, by: Self) -> Self {
        Point {
            x: self.x + by.x,
            y: self.y + by.y,
        }
    }

    pub fn checked_scale(&self, k: i64) -> Result<Self, String> {
        match (self.x.checked_mul(k), self.y.checked_mul(k)) {
            (Some(x), Some(y)) => Ok(Point { x, y }),
            _ => Err("overflow".to_string()),
        }
    }

    pub fn with_neighbours(&self) -> Vec<Self> {
        vec![self.moved(Point { x: -1, y: 0 }), self.clone()]
    }
}

#[multiproc::test]
fn methods_taking_and_returning_self_mean_the_served_type() {
    let mgr = Manager::start().unwrap();
    let p: PointProxy = mgr.create(Point { x: 1, y: 2 }).unwrap();
    let moved: Point = p.moved(Point { x: 10, y: 20 }).unwrap();
    assert_eq!(moved, Point { x: 11, y: 22 });
    assert_eq!(p.checked_scale(3).unwrap(), Point { x: 3, y: 6 });
    let err = p.checked_scale(i64::MAX).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Remote { .. }), "{err:?}");
    assert_eq!(
        p.with_neighbours().unwrap(),
        [Point { x: 0, y: 2 }, Point { x: 1, y: 2 }]
    );
}

/// A type registered twice under one name, as two copies of a crate would do.
#[derive(serde::Serialize, serde::Deserialize)]
struct Twice;

impl multiproc::Managed for Twice {
    type Proxy = ListProxy<u8>;
    const NAME: &'static str = "manager_basic::Twice";
}

fn twice_dispatch(
    _: &mut (dyn std::any::Any + Send),
    method: &str,
    _: &[u8],
    _: &mut Vec<u8>,
) -> multiproc::Result<()> {
    Err(multiproc::__private::managed::unknown_method(
        "Twice", method,
    ))
}

const fn twice_entry() -> multiproc::manager::ManagedEntry {
    multiproc::manager::ManagedEntry {
        name: <Twice as multiproc::Managed>::NAME,
        create: multiproc::__private::managed::create::<Twice>,
        dispatch: twice_dispatch,
    }
}

multiproc::__private::inventory::submit! { twice_entry() }
multiproc::__private::inventory::submit! { twice_entry() }

#[multiproc::test]
fn a_name_registered_twice_is_refused() {
    let mgr = Manager::start().unwrap();
    let err = mgr.create(Twice).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("several managed types"), "{err}");
    let c: CounterProxy = mgr.create(Counter { n: 1 }).unwrap();
    assert_eq!(c.value().unwrap(), 1);
}

/// Quick calls (run by the server's poller) interleaved with calls handed to the connection's own
/// thread (a queue, a bulk snapshot), from several processes at once.
#[worker]
fn mixed_calls(d: DictProxy<u64, u64>, q: QueueProxy<u64>, list: ListProxy<u64>, base: u64) -> u64 {
    let mut bad = 0;
    for i in base..base + 200 {
        d.insert(&i, &(i * 2)).expect("insert");
        q.put(&i).expect("put");
        let got = q.get().expect("get");
        list.append(&got).expect("append");
        if d.get(&i).expect("get") != Some(i * 2) {
            bad += 1;
        }
        if i % 50 == 0 && list.to_vec().expect("to_vec").is_empty() {
            bad += 1;
        }
    }
    bad
}

#[multiproc::test]
fn quick_and_handed_calls_mix_across_clients() {
    let mgr = Manager::start().unwrap();
    let d = mgr.dict::<u64, u64>().unwrap();
    let q = mgr.queue::<u64>().unwrap();
    let list = mgr.list::<u64>().unwrap();
    let procs: Vec<_> = (0..4u64)
        .map(|c| mixed_calls::spawn(d.clone(), q.clone(), list.clone(), c * 1000).unwrap())
        .collect();
    for p in procs {
        assert_eq!(p.join().unwrap(), 0);
    }
    assert_eq!(d.len().unwrap(), 800);
    let mut all = list.to_vec().unwrap();
    all.sort_unstable();
    let want: Vec<u64> = (0..4u64).flat_map(|c| c * 1000..c * 1000 + 200).collect();
    assert_eq!(all, want);
}
