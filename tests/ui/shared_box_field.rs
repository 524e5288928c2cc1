#[multiproc::shared]
struct Boxed {
    value: Box<u64>,
}

fn main() {}
