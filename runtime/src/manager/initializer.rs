//! A manager's initializer: a `#[worker]` function the server process runs once before it serves
//! (Python: `manager.start(initializer, initargs)`). It travels as a task frame, the same way a
//! pool's initializer reaches its workers (`PoolBuilder::initializer`), with the descriptors its
//! arguments carry beside it.

use crate::codec;
use crate::error::{Error, Result};
use crate::protocol::child::{self as protocol, Report, failure};
use crate::registry;
use crate::worker::WorkerFn;
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;
use std::sync::Arc;

/// An encoded initializer call: the entry's name and arguments, and their descriptors.
#[derive(Serialize, Deserialize)]
pub(crate) struct InitTask {
    pub bytes: Vec<u8>,
    pub fds: Vec<InitFd>,
}

/// One descriptor of an initializer's arguments.
#[derive(Serialize, Deserialize)]
pub(crate) struct InitFd(#[serde(with = "codec::fd")] pub OwnedFd);

/// The initializer as the builder keeps it: encoded once, shared by the builder's clones, its
/// descriptors duplicated for each server started.
pub(crate) type Encoded = Arc<Result<(Vec<u8>, Vec<OwnedFd>)>>;

/// Encodes `f(args..)` for [`InitTask`]; a failure is reported when the manager starts.
pub(crate) fn encode<F, Args>(f: F, args: Args) -> Encoded
where
    F: WorkerFn<Args, Output = ()>,
    Args: Serialize,
{
    Arc::new(registry::lookup_fn(f.entry_name()).and_then(|e| {
        let enc = protocol::encode_task(e.name, &args)?;
        Ok((enc.bytes, enc.fds))
    }))
}

/// The task to hand one server process.
pub(crate) fn task(encoded: &Encoded) -> Result<InitTask> {
    let (bytes, fds) = encoded.as_ref().as_ref().map_err(Clone::clone)?;
    let fds = fds
        .iter()
        .map(|fd| Ok(InitFd(fd.try_clone()?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(InitTask {
        bytes: bytes.clone(),
        fds,
    })
}

/// Runs the initializer in the server process; its panic or error is the server's failure, which
/// `start` reports.
pub(crate) fn run(task: InitTask) -> Result<()> {
    let fds = task.fds.into_iter().map(|f| f.0).collect();
    match registry::run_task(&task.bytes, fds) {
        (Report::Ok, _) => Ok(()),
        (report, _) => {
            let e = failure(report);
            Err(Error::new(
                e.kind().clone(),
                format!("the manager's initializer failed, so the server did not start: {e}"),
            ))
        }
    }
}
