//! What a small shared object costs: nanoseconds per `Value::new` and `Lock::new` while all are held
//! (N of each, default 20,000: `cargo run --release --example object_cost -- 20000`), per create+drop
//! pair, and the descriptors the N objects of each kind keep open. Not a test: the figures depend on
//! the machine and its load.

use multiproc::{Lock, Value};
use std::time::Instant;

fn per_object(label: &str, n: usize, started: Instant) {
    let ns = started.elapsed().as_nanos() as f64 / n as f64;
    println!("{label:<28} {ns:>9.0} ns/object");
}

#[multiproc::main]
fn main() -> multiproc::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let fds0 = multiproc::open_fd_count();

    let t = Instant::now();
    let values = (0..n)
        .map(|i| Value::new(i as u64))
        .collect::<multiproc::Result<Vec<_>>>()?;
    per_object("Value::<u64>::new (held)", n, t);
    let fds_values = multiproc::open_fd_count() - fds0;

    let t = Instant::now();
    let locks = (0..n)
        .map(|_| Lock::new())
        .collect::<multiproc::Result<Vec<_>>>()?;
    per_object("Lock::new (held)", n, t);
    let fds_all = multiproc::open_fd_count() - fds0;
    println!("descriptors for {n} Values: {fds_values}; for {n} Values and {n} Locks: {fds_all}");

    let k = n.min(200);
    let message = multiproc::codec::encode(&(values[..k].to_vec(), locks[..k].to_vec()))?;
    println!(
        "descriptors in one message carrying {k} Values and {k} Locks: {}",
        message.fds.len()
    );
    drop(message);

    let t = Instant::now();
    drop(values);
    drop(locks);
    per_object("drop (each of 2n)", 2 * n, t);

    let t = Instant::now();
    for i in 0..n {
        drop(Value::new(i as u64)?);
    }
    per_object("Value::new + drop", n, t);
    let t = Instant::now();
    for _ in 0..n {
        drop(Lock::new()?);
    }
    per_object("Lock::new + drop", n, t);
    Ok(())
}
