//! Python's `Array` seed: a worker squares a shared array of doubles in place.
//!
//! ```python
//! def square_elements(lock, arr):
//!     with lock:
//!         for i in range(len(arr)): arr[i] = arr[i] * arr[i]
//! shared_array = Array(ctypes.c_double, [1.0, 2.0, 3.0, 4.0])
//! p = Process(target=square_elements, args=(lock, shared_array)); p.start(); p.join()
//! print(f"Squared array: {list(shared_array)}")  # [1.0, 4.0, 9.0, 16.0]
//! ```

use multiproc::{Array, worker};

/// Squares every element under the array's own lock.
#[worker]
fn square_elements(arr: Array<f64>) {
    let mut elems = arr.lock().expect("lock");
    for x in elems.iter_mut() {
        *x *= *x;
    }
}

pub fn run() -> multiproc::Result<()> {
    let shared_array = Array::from_slice(&[1.0, 2.0, 3.0, 4.0])?; // Array(ctypes.c_double, [...])
    square_elements::spawn(shared_array.clone())?.join()?;
    println!("  squared array: {:?}", shared_array.to_vec()?);
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
