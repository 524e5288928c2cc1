//! Python's `Manager` seed: workers append to a managed list, fill a managed dict and a Namespace;
//! the parent prints them.
//!
//! ```python
//! def worker(d, l, ns, i):
//!     d['count'] += 1      # (not atomic in Python either: use a lock for read-modify-write)
//!     l.append(i * 10); d[f'worker{i}'] = i; setattr(ns, f'w{i}', i * i)
//! with Manager() as manager:
//!     shared_dict = manager.dict({'count': 0}); shared_list = manager.list(); ns = manager.Namespace()
//!     ps = [Process(target=worker, args=(shared_dict, shared_list, ns, i)) for i in range(5)]
//!     for p in ps: p.start()
//!     for p in ps: p.join()
//!     print(dict(shared_dict), list(shared_list), ns)
//! ```

use multiproc::manager::{DictProxy, ListProxy, LockProxy, NamespaceProxy};
use multiproc::{Manager, worker};

/// One worker: bump the counter under the manager's lock, append, insert, set an attribute.
#[worker]
fn manager_worker(
    d: DictProxy<String, u64>,
    l: ListProxy<u64>,
    ns: NamespaceProxy,
    lock: LockProxy,
    i: u64,
) {
    {
        let _guard = lock.acquire().expect("lock"); // with lock:
        let n = d.get("count").expect("get").unwrap_or(0);
        d.insert("count", &(n + 1)).expect("insert"); //   d['count'] += 1
    }
    l.append(&(i * 10)).expect("append");
    d.insert(&format!("worker{i}"), &i).expect("insert");
    ns.set(&format!("w{i}"), &(i * i)).expect("set");
}

pub fn run() -> multiproc::Result<()> {
    let manager = Manager::start()?; // with Manager() as manager:
    let shared_dict = manager.dict_from([("count".to_string(), 0u64)])?;
    let shared_list = manager.list::<u64>()?;
    let ns = manager.namespace()?;
    let lock = manager.lock()?;
    let ps = (0..5)
        .map(|i| {
            manager_worker::spawn(
                shared_dict.clone(),
                shared_list.clone(),
                ns.clone(),
                lock.clone(),
                i,
            )
        })
        .collect::<multiproc::Result<Vec<_>>>()?;
    for p in ps {
        p.join()?;
    }
    println!("  shared dict: {:?}", shared_dict.items()?);
    println!("  shared list: {:?}", shared_list.to_vec()?);
    for name in ns.names()? {
        println!("  ns.{name} = {}", ns.get::<u64>(&name)?);
    }
    assert_eq!(shared_dict.get("count")?, Some(5));
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
