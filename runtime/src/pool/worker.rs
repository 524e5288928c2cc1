//! The pool worker: a long-lived child that runs chunks of tasks sent on its task channel.
//!
//! Parent → worker frames start with a tag: [`INIT`] (a task frame: the initializer and its arguments),
//! [`CHUNK`] (an entry name, then a [chunk](super::chunk) of argument tuples), [`EXIT`]. The worker
//! answers the initializer (or, without one, says it is up) with one report, then each chunk with one
//! chunk of reports, in order. It leaves when told to or when the parent's end closes.

use super::chunk::{ChunkReader, ChunkWriter};
use crate::bootstrap::{self, Report};
use crate::codec;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::channel::Channel;
use crate::registry::{self, WorkerEntry};
use std::os::fd::{AsFd, OwnedFd};

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
            Some((&INIT, task)) => Ok(bootstrap::run_task(task, fds)),
            _ => Err(Error::codec("pool worker expected its initializer first")),
        })
    } else {
        codec::encode(&()).map(|unit| (Report::Ok, Some(unit)))
    };
    let Ok(outcome) = started else { return };
    let init_ok = matches!(outcome.0, Report::Ok);
    if bootstrap::send_report(&chan, outcome).is_err() || !init_ok {
        return;
    }
    let mut out = ChunkWriter::new(&[]);
    loop {
        out.reset();
        let step = chan.recv_with(None, |frame, fds| run_frame(frame.bytes(), fds, &mut out));
        match step {
            Ok(Step::Reply) => {
                let fds: Vec<_> = out.fds.iter().map(|f| f.as_fd()).collect();
                if chan.send_raw(&out.bytes, &fds).is_err() {
                    return;
                }
            }
            Ok(Step::Exit) | Err(_) => return,
        }
    }
}

fn run_frame(bytes: &[u8], fds: Vec<OwnedFd>, out: &mut ChunkWriter) -> Result<Step> {
    match bytes.split_first() {
        Some((&CHUNK, rest)) => {
            let (name, used): (String, usize) = codec::decode_prefix(rest, Vec::new())?;
            let entry = registry::by_name(&name);
            for item in ChunkReader::new(&rest[used..], fds)? {
                let (args, item_fds) = item?;
                let outcome = match entry {
                    Some(e) => bootstrap::run_invoke(e.invoke, args, item_fds),
                    None => (
                        Report::Failed(format!("no worker named `{name}` in this binary")),
                        None,
                    ),
                };
                out.push_with(|b, f| bootstrap::encode_report_into(outcome, b, f))?;
            }
            Ok(Step::Reply)
        }
        Some((&EXIT, _)) => Ok(Step::Exit),
        _ => Err(Error::new(
            ErrorKind::Codec,
            "pool worker received a frame it does not understand",
        )),
    }
}
