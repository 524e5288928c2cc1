//! The pool worker: a long-lived child that runs chunks of tasks sent on its task channel.
//!
//! Parent → worker frames start with a tag: [`INIT`] (a task frame: the initializer and its arguments),
//! [`CHUNK`] (an entry name, then a [chunk](super::chunk) of argument tuples), [`EXIT`]. The worker
//! answers the initializer (or, without one, says it is up) with one report, then each chunk with one
//! [reply](super::chunk), in order: the entry's batch entry point decodes the whole chunk, runs each
//! item behind its own panic boundary and encodes every outcome in one pass. It leaves when told to or when the parent's end closes.

use super::chunk;
use crate::codec;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::channel::Channel;
use crate::protocol::child::{self as protocol, Report};
use crate::registry::{self, WorkerEntry};
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The registry name of the worker loop.
pub(crate) const ENTRY: &str = "multiproc::pool::worker";

pub(crate) const INIT: u8 = 0;
pub(crate) const CHUNK: u8 = 1;
pub(crate) const EXIT: u8 = 2;

inventory::submit! {
    WorkerEntry {
        name: ENTRY,
        type_name: || ENTRY,
        invoke: |bytes, fds| registry::invoke(bytes, fds, |(chan, has_init): (Channel, bool)| serve(chan, has_init)),
        invoke_batch: None,
    }
}

/// The prefix of every task chunk for `entry_name`.
pub(crate) fn chunk_prefix(entry_name: &str) -> Result<Vec<u8>> {
    let mut bytes = vec![CHUNK];
    codec::encode_into(entry_name, &mut bytes, &mut Vec::new())?;
    Ok(bytes)
}

/// What the worker does with one frame.
enum Step {
    Reply,
    Exit,
}

fn serve(chan: Channel, has_init: bool) {
    let started = if has_init {
        chan.recv_with(None, |frame, fds| match frame.bytes().split_first() {
            Some((&INIT, task)) => Ok(registry::run_task(task, fds)),
            _ => Err(Error::codec("pool worker expected its initializer first")),
        })
    } else {
        codec::encode(&()).map(|unit| (Report::Ok, Some(unit)))
    };
    let Ok(outcome) = started else { return };
    let init_ok = matches!(outcome.0, Report::Ok);
    if protocol::send_report(&chan, outcome).is_err() || !init_ok {
        return;
    }
    let mut out = Vec::new();
    let mut out_fds = Vec::new();
    loop {
        out.clear();
        out_fds.clear();
        let step = chan.recv_with(None, |frame, fds| {
            run_frame(frame.bytes(), fds, &mut out, &mut out_fds)
        });
        match step {
            Ok(Step::Reply) => {
                if let Err(e) =
                    Channel::check_sendable(out.len(), out_fds.len(), chan.max_message())
                {
                    // A reply the channel refuses fails its chunk; the worker lives on.
                    out.clear();
                    out_fds.clear();
                    chunk::failed_reply(Report::failed(&e), &mut out, &mut out_fds);
                }
                let fds: Vec<_> = out_fds.iter().map(|f| f.as_fd()).collect();
                if chan.send_raw(&out, &fds).is_err() {
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
    match bytes.split_first() {
        Some((&CHUNK, rest)) => {
            let (name, used): (String, usize) = codec::decode_prefix(rest, Vec::new())?;
            let Some(batch) = registry::by_name(&name).and_then(|e| e.invoke_batch) else {
                chunk::failed_reply(Report::failed(&registry::not_found(&name)), out, out_fds);
                return Ok(Step::Reply);
            };
            out.push(chunk::OUTCOMES);
            let ran = catch_unwind(AssertUnwindSafe(|| {
                batch(&rest[used..], fds, &mut *out, &mut *out_fds)
            }));
            let failed = match ran {
                Ok(Ok(())) => return Ok(Step::Reply),
                Ok(Err(e)) => Report::failed(&e),
                Err(panic) => Report::Panicked(protocol::panic_message(&*panic)),
            };
            // Decoding the chunk, or encoding its outcomes, failed: every item fails with it.
            out.clear();
            out_fds.clear();
            chunk::failed_reply(failed, out, out_fds);
            Ok(Step::Reply)
        }
        Some((&EXIT, _)) => Ok(Step::Exit),
        _ => Err(Error::new(
            ErrorKind::Codec,
            "pool worker received a frame it does not understand",
        )),
    }
}
