//! The pool worker: a long-lived child that runs chunks of tasks sent on its task channel.
//!
//! The frames it reads and writes are the pool's [protocol](crate::protocol::pool). It answers the
//! initializer (or, without one, says it is up) with one report, then each chunk with one reply, in
//! order: the entry's batch entry point decodes the whole chunk, runs each item behind its own panic
//! boundary and encodes every outcome in one pass. It leaves when told to or when the parent's end
//! closes.
//!
//! This is the child's side of the local transport (`super::transport::LocalProcesses`): it reads a
//! [`Channel`].

use crate::codec;
use crate::error::{Error, Result};
use crate::ipc::channel::Channel;
use crate::ipc::side::{Side, Sided};
use crate::protocol::child::{self as protocol, Report};
use crate::protocol::pool::{self as wire, Request};
use crate::registry::{self, WorkerEntry};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The registry name of the worker loop.
pub(crate) const ENTRY: &str = "multiproc::pool::worker";

inventory::submit! {
    WorkerEntry {
        name: ENTRY,
        type_name: || ENTRY,
        invoke: |bytes, fds| {
            registry::invoke(bytes, fds, |(chan, has_init, side): (Channel, bool, Option<SideFd>)| {
                serve(chan, has_init, side)
            })
        },
        invoke_batch: None,
    }
}

/// The block of the worker's [`Side`], as the pool hands it over.
#[derive(Serialize, Deserialize)]
pub(crate) struct SideFd(#[serde(with = "crate::codec::fd")] pub(crate) OwnedFd);

/// What the worker does with one frame.
enum Step {
    Reply,
    Exit,
}

fn serve(chan: Channel, has_init: bool, side: Option<SideFd>) {
    chan.read_frames_in_place();
    // The pool puts large frames in the side it made: a worker that cannot map it could not read
    // them, so it says so as its start report (the pool then fails to start it, with this error)
    // and leaves.
    let side = match side.map(|fd| Side::attach(fd.0)).transpose() {
        Ok(side) => side,
        Err(e) => {
            let why = Error::new(
                e.kind().clone(),
                format!("a pool worker could not map the shared block beside its channel: {e}"),
            );
            let _ = protocol::send_report(&chan, (Report::failed(&why), None));
            return;
        }
    };
    // The worker's end of its task channel: large frames beside it where the pool made a side.
    let link = Sided::new(chan, side);
    let chan = &link.chan;
    let started = if has_init {
        link.recv(None, |frame, fds| match Request::parse(frame)? {
            Request::Init(task) => Ok(registry::run_task(task, fds)),
            _ => Err(Error::codec("pool worker expected its initializer first")),
        })
    } else {
        codec::encode(&()).map(|unit| (Report::Ok, Some(unit)))
    };
    let Ok(outcome) = started else { return };
    let init_ok = matches!(outcome.0, Report::Ok);
    if protocol::send_report(chan, outcome).is_err() || !init_ok {
        return;
    }
    let mut out = Vec::new();
    let mut out_fds = Vec::new();
    loop {
        out.clear();
        out_fds.clear();
        let step = link.recv(None, |frame, fds| {
            run_frame(frame, fds, &mut out, &mut out_fds)
        });
        match step {
            Ok(Step::Reply) => {
                if let Err(e) =
                    Channel::check_sendable(out.len(), out_fds.len(), chan.max_message())
                {
                    // A reply the channel refuses fails its chunk; the worker lives on.
                    out.clear();
                    out_fds.clear();
                    wire::failed_reply(Report::failed(&e), &mut out, &mut out_fds);
                }
                let fds: Vec<_> = out_fds.iter().map(|f| f.as_fd()).collect();
                if link.send(&out, &fds).is_err() {
                    return;
                }
            }
            Ok(Step::Exit) | Err(_) => return,
        }
    }
}

fn run_frame(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
    out: &mut Vec<u8>,
    out_fds: &mut Vec<OwnedFd>,
) -> Result<Step> {
    match Request::parse(bytes)? {
        Request::Chunk { entry, items } => {
            let Some(batch) = registry::by_name(&entry).and_then(|e| e.invoke_batch) else {
                let why = registry::not_found(&entry);
                wire::failed_reply(Report::failed(&why), out, out_fds);
                return Ok(Step::Reply);
            };
            let ran = catch_unwind(AssertUnwindSafe(|| {
                batch(items, fds, &mut *out, &mut *out_fds)
            }));
            let failed = match ran {
                Ok(Ok(())) => return Ok(Step::Reply),
                Ok(Err(e)) => Report::failed(&e),
                Err(panic) => Report::PanickedAt(protocol::Panic::caught(&*panic)),
            };
            // Decoding the chunk, or encoding its outcomes, failed: every item fails with it.
            out.clear();
            out_fds.clear();
            wire::failed_reply(failed, out, out_fds);
            Ok(Step::Reply)
        }
        Request::Exit => Ok(Step::Exit),
        Request::Init(_) => Err(Error::codec("pool worker received a second initializer")),
    }
}
