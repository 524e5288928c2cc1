// A function without #[multiproc::worker] is not registered: spawning it is a compile error.
use multiproc::Process;

fn square(x: u64) -> u64 {
    x * x
}

#[multiproc::main]
fn main() -> multiproc::Result<()> {
    let p = Process::builder().spawn(square, (3u64,))?;
    p.join()?;
    Ok(())
}
