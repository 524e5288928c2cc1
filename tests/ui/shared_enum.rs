#[multiproc::shared]
enum State {
    Idle,
    Busy,
}

fn main() {}
