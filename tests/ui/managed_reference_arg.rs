#[derive(serde::Serialize, serde::Deserialize)]
struct Greeter(String);

#[multiproc::managed]
impl Greeter {
    pub fn greet(&self, name: &str) -> String {
        format!("{} {name}", self.0)
    }
}

fn main() {}
