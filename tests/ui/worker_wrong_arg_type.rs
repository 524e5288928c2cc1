#[multiproc::worker]
fn square(x: u64) -> u64 {
    x * x
}

#[multiproc::main]
fn main() {
    let _ = square::spawn("seven");
}
