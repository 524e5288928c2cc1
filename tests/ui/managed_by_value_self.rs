#[derive(serde::Serialize, serde::Deserialize)]
struct Counter(u64);

#[multiproc::managed]
impl Counter {
    pub fn into_inner(self) -> u64 {
        self.0
    }
}

fn main() {}
