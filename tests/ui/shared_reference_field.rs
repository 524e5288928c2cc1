#[multiproc::shared]
struct Borrowing {
    value: &'static u64,
}

fn main() {}
