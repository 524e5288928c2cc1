#[multiproc::shared]
struct Named {
    id: u32,
    name: String,
}

fn main() {}
