#[multiproc::worker]
fn total(xs: impl Iterator<Item = u32>) -> u32 {
    xs.sum()
}

fn main() {}
