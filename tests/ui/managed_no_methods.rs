#[derive(serde::Serialize, serde::Deserialize)]
struct Counter(u64);

#[multiproc::managed]
impl Counter {
    pub fn new() -> Counter {
        Counter(0)
    }

    fn value(&self) -> u64 {
        self.0
    }
}

fn main() {}
