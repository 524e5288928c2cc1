#[multiproc::main]
fn start() {}

fn main() {
    start();
}
