//! The pool on MPI ranks (feature `mpi`): one binary, launched by `cargo run` or by `mpirun -np N`.
//!
//! Under an MPI launcher with more than one rank, `#[multiproc::main]` (after its own check: a
//! multiproc child runs its worker, whatever its environment says) starts MPI. Rank 0 goes on into
//! `main`; every other rank becomes a *node agent* ([`agent`]) and never returns from the bootstrap: it
//! runs the pool workers rank 0 asks for as local child processes and relays their frames, until rank 0
//! leaves `main`. A pool built with [`Backend::Mpi`](crate::Backend::Mpi) (or `Auto`) on rank 0 reaches
//! its workers through [`link::MpiTransport`], a `Transport` like the local one, so the scheduler, the
//! supervisor and the whole Pool API are the same code.
//!
//! - `service`: the one thread per process that makes every MPI call
//! - `wire`: the messages between rank 0 and the agents
//! - `link`: rank 0's session and the transport
//! - `agent`: the other ranks
//!
//! See docs/mpi.md.

mod agent;
mod link;
mod service;
mod wire;

pub(crate) use link::{MpiTransport, Session};

use crate::error::{Error, ErrorKind};
use std::sync::{Arc, OnceLock};

/// Rank 0's session, when the program runs under MPI with more than one rank.
static SESSION: OnceLock<Arc<Session>> = OnceLock::new();

/// This process's rank and, where the launcher says it, the world's size, from the environment an MPI
/// launcher sets: Open MPI (`OMPI_COMM_WORLD_RANK`/`SIZE`), PMI (MPICH, Intel MPI, Slurm:
/// `PMI_RANK`/`PMI_SIZE`) or PMIx (`PMIX_RANK`). `None`: not launched by MPI.
pub(crate) fn launched() -> Option<(u32, Option<u32>)> {
    let num = |name: &str| std::env::var(name).ok()?.trim().parse::<u32>().ok();
    if let Some(rank) = num("OMPI_COMM_WORLD_RANK") {
        return Some((rank, num("OMPI_COMM_WORLD_SIZE")));
    }
    if let Some(rank) = num("PMI_RANK") {
        return Some((rank, num("PMI_SIZE")));
    }
    num("PMIX_RANK").map(|rank| (rank, None))
}

/// Held by rank 0's `#[multiproc::main]`: when `main` ends, every agent is told to leave and MPI is
/// finalized.
#[derive(Debug)]
pub struct MpiGuard(());

impl Drop for MpiGuard {
    fn drop(&mut self) {
        if let Some(session) = SESSION.get() {
            session.finish();
        }
    }
}

/// The bootstrap's MPI step: nothing outside an MPI launch or with one rank; on ranks other than 0 the
/// node agent, then the process exits; on rank 0 the session, ended by the guard.
pub(crate) fn enter() -> Option<MpiGuard> {
    let (rank, size) = launched()?;
    if size == Some(1) {
        return None;
    }
    if rank != 0 {
        let code = match agent::serve() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("multiproc: the MPI agent on rank {rank} failed: {e:#}");
                1
            }
        };
        std::process::exit(code);
    }
    match Session::start() {
        Ok(session) if session.size() > 1 => {
            let _ = SESSION.set(Arc::new(session));
            Some(MpiGuard(()))
        }
        Ok(session) => {
            session.finish();
            None
        }
        Err(e) => {
            eprintln!("multiproc: could not start MPI on rank 0: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Rank 0's session, if this program runs under MPI with more than one rank and `main` has not ended.
pub(crate) fn session() -> Option<Arc<Session>> {
    SESSION.get().filter(|s| !s.is_finished()).cloned()
}

/// Why a backend that needs MPI cannot be had here.
pub(crate) fn unavailable() -> Error {
    let why = match launched() {
        None => "this program was not launched by an MPI launcher (mpirun, mpiexec, srun)",
        Some((_, Some(1))) => "it runs on one MPI rank: there are no other ranks to serve tasks",
        Some(_) if SESSION.get().is_none() => {
            "MPI was not started: only #[multiproc::main] starts it (multiproc::init() does not)"
        }
        Some(_) => "MPI has ended: `main` has returned",
    };
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "Backend::Mpi needs a program launched with several ranks (e.g. `mpirun -np 3 ./app`) \
             and #[multiproc::main] on its main: {why}. Backend::Auto falls back to local processes"
        ),
    )
}

/// The error for `what` (a task, a result, an initializer) holding descriptors on its way between
/// ranks.
pub(crate) fn descriptors_refused(what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "{what} holds a file descriptor (a Pipe, Queue, Value, Array, lock, Event, SharedMemory or \
             another handle), which cannot cross MPI ranks (they may be on other hosts): pass a \
             manager proxy instead (Manager::serve on an address every host reaches), or use a local \
             pool"
        ),
    )
}
