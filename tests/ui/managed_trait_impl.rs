#[derive(serde::Serialize, serde::Deserialize)]
struct Counter(u64);

#[multiproc::managed]
impl Default for Counter {
    fn default() -> Self {
        Counter(0)
    }
}

fn main() {}
