//! Python's custom-class manager seed: a counter class registered with a manager, shared by several
//! workers that increment it.
//!
//! ```python
//! class Counter:
//!     def __init__(self): self.value = 0
//!     def increment(self, by=1): self.value += by; return self.value
//!     def get(self): return self.value
//! class MyManager(BaseManager): pass
//! MyManager.register('Counter', Counter)
//! with MyManager() as m:
//!     c = m.Counter()
//!     ps = [Process(target=bump, args=(c, 1000)) for _ in range(4)]; ...
//!     print(c.get())   # 4000: each call runs in the server, one at a time
//! ```

use multiproc::{Manager, managed, worker};

#[derive(serde::Serialize, serde::Deserialize, Default)]
pub struct Counter {
    value: u64,
}

#[managed] // MyManager.register('Counter', Counter): generates CounterProxy
impl Counter {
    pub fn new() -> Counter {
        Counter { value: 0 }
    }

    /// Adds `by` and returns the new value.
    pub fn increment(&mut self, by: u64) -> u64 {
        self.value += by;
        self.value
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.value
    }

    /// Subtracts `by`, refusing to go below zero (the error comes back as `ErrorKind::Remote`).
    pub fn take(&mut self, by: u64) -> Result<u64, String> {
        self.value = self
            .value
            .checked_sub(by)
            .ok_or_else(|| format!("cannot take {by} from {}", self.value))?;
        Ok(self.value)
    }
}

/// Increments the shared counter `times` times, each call a round trip to the manager.
#[worker]
fn bump(counter: CounterProxy, times: u64) {
    for _ in 0..times {
        counter.increment(1).expect("manager is gone");
    }
}

pub fn run() -> multiproc::Result<()> {
    let m = Manager::start()?;
    let c: CounterProxy = m.create(Counter::new())?; // c = m.Counter()
    let ps = (0..4)
        .map(|_| bump::spawn(c.clone(), 1000))
        .collect::<multiproc::Result<Vec<_>>>()?;
    for p in ps {
        p.join()?;
    }
    println!("  counter after 4 workers x 1000 increments: {}", c.get()?);
    assert_eq!(c.get()?, 4000);
    match c.take(5000) {
        Err(e) => println!("  c.take(5000) failed on the server: {e}"),
        Ok(v) => println!("  unexpected: {v}"),
    }
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
