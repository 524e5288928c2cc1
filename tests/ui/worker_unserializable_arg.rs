struct Opaque;

#[multiproc::worker]
fn consume(x: Opaque) -> u32 {
    let _ = x;
    1
}

fn main() {}
