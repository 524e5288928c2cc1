#[derive(serde::Serialize, serde::Deserialize)]
struct Counter(u64);

#[multiproc::managed]
impl Counter {
    pub fn value(&self) -> u64 {
        self.0
    }

    pub(crate) fn rewind_to_zero(&mut self) {
        self.0 = 0;
    }
}

fn rewind_to_zero_through(proxy: &CounterProxy) {
    // Only `pub` methods are on the proxy.
    let _ = proxy.rewind_to_zero();
}

fn main() {}
