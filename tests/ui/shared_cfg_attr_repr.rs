#[multiproc::shared]
#[cfg_attr(all(), repr(packed))]
struct Packed {
    a: u8,
    b: u64,
}

fn main() {}
