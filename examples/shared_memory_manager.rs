//! Python's `SharedMemoryManager` seed: a manager process owns the shared memory it hands out, so
//! the blocks outlive the workers that fill them and all go when the manager shuts down.
//!
//! ```python
//! from multiprocessing.managers import SharedMemoryManager
//! with SharedMemoryManager() as smm:
//!     sl = smm.ShareableList(range(8))
//!     procs = [Process(target=square_slice, args=(sl.shm.name, i)) for i in range(2)]
//!     ...
//!     print(list(sl))                     # the squares
//!     shm = smm.SharedMemory(size=64)     # raw bytes, also owned by the manager
//! # here every block made by smm is unlinked
//! ```

use multiproc::{ShareableList, SharedMemory, SharedMemoryManager, worker};

/// Squares every other item, starting at `start`, of the list named `name`.
#[worker]
fn square_slice(name: String, start: usize) {
    let sl = ShareableList::<i64>::attach(&name).expect("attach");
    for i in (start..sl.len()).step_by(2) {
        let x = sl.get(i).expect("get");
        sl.set(i, x * x).expect("set");
    }
}

pub fn run() -> multiproc::Result<()> {
    let smm = SharedMemoryManager::start()?; // smm = SharedMemoryManager(); smm.start()
    let sl = smm.shareable_list(&(0..8).collect::<Vec<i64>>())?; // smm.ShareableList(range(8))
    let name = sl.shm().name().to_string();
    let procs = [
        square_slice::spawn(name.clone(), 0)?,
        square_slice::spawn(name.clone(), 1)?,
    ];
    for p in procs {
        p.join()?;
    }
    println!("  squared by two workers: {:?}", sl.to_vec()?);

    let shm = smm.shared_memory(64)?; // smm.SharedMemory(size=64)
    shm.write_at(0, b"kept by the manager")?;
    let shm_name = shm.name().to_string();
    drop(shm);
    let mut buf = [0u8; 19];
    SharedMemory::attach(&shm_name)?.read_at(0, &mut buf)?;
    println!(
        "  after its creator's handle is gone: {:?}",
        String::from_utf8_lossy(&buf)
    );

    smm.shutdown()?; // the end of `with SharedMemoryManager() as smm:`
    println!(
        "  after shutdown, attaching {name:?}: {}",
        match ShareableList::<i64>::attach(&name) {
            Ok(_) => "still there".to_string(),
            Err(e) => format!("{:?}", e.kind()),
        }
    );
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
