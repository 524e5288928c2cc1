// `crate = path` reaches multiproc through a re-export, on every attribute macro.
mod reexport {
    pub use ::multiproc;
}

#[multiproc::worker(crate = crate::reexport::multiproc)]
fn square(x: u64) -> u64 {
    x * x
}

#[multiproc::shared(crate = crate::reexport::multiproc)]
#[derive(Clone, Copy, Default)]
struct Stats {
    hits: u64,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Counter(u64);

#[multiproc::managed(crate = crate::reexport::multiproc)]
impl Counter {
    pub fn add(&mut self, by: u64) -> u64 {
        self.0 += by;
        self.0
    }
}

#[multiproc::main(crate = crate::reexport::multiproc)]
fn main() -> multiproc::Result<()> {
    let _ = square(3);
    let _ = (0..3u64).map(*square).sum::<u64>();
    let _spawn: fn(u64) -> multiproc::Result<multiproc::Process<u64>> = square::spawn;
    let _ = Stats::default().hits;
    let _proxy: Option<CounterProxy> = None;
    Ok(())
}
