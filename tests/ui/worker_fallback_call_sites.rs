// A worker with a mistake in its signature gets one error there; the crate's calls to it get none.
#[multiproc::worker]
fn count(words: &str) -> usize {
    words.len()
}

#[multiproc::managed]
impl Counter {
    pub fn add(&mut self, by: &u64) {
        self.0 += by;
    }
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Counter(u64);

fn main() {
    let _ = count("a b");
    let _ = count::spawn("a b");
    let _proxy: Option<CounterProxy> = None;
}
