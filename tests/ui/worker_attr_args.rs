#[multiproc::worker(name = "square")]
fn square(x: u64) -> u64 {
    x * x
}

fn main() {}
