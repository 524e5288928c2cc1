#[derive(serde::Serialize, serde::Deserialize)]
struct Holder<T>(T);

#[multiproc::managed]
impl<T: Clone> Holder<T> {
    pub fn get(&self) -> T {
        self.0.clone()
    }
}

fn main() {}
