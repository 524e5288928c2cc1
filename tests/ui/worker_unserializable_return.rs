struct Opaque;

#[multiproc::worker]
fn make(x: u32) -> Opaque {
    let _ = x;
    Opaque
}

fn main() {
    // The call site adds no error of its own.
    let _ = make::spawn(1);
}
