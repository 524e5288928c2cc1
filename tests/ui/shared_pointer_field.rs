#[multiproc::shared]
struct Pointing {
    next: *mut u64,
}

fn main() {}
