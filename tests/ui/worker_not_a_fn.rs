#[multiproc::worker]
struct Square(u64);

fn main() {}
