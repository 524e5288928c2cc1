struct Counter(u32);

impl Counter {
    #[multiproc::worker]
    fn bump(&self, by: u32) -> u32 {
        self.0 + by
    }
}

fn main() {}
