// A queue handle is shared between threads by cloning it, not by reference: a `get` must be able to
// tell that no other handle could still put.
use multiproc::Queue;

#[multiproc::main]
fn main() -> multiproc::Result<()> {
    let q = Queue::<u32>::new()?;
    std::thread::scope(|s| {
        s.spawn(|| q.get());
        q.put(1)
    })?;
    Ok(())
}
