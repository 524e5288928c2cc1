#[multiproc::shared]
struct Pair<T> {
    a: T,
    b: T,
}

fn main() {}
