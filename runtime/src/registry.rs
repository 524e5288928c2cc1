//! The link-time table of entry points (`inventory`): every `#[worker]` function, and the runtime's own
//! entry points (pool worker loop, manager server), by name. The parent finds a worker's entry by the name
//! its `WorkerFn::ENTRY` gives and sends that name; the child, being the same binary, finds it by name and runs it.

use crate::codec::{self, Encoded};
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::child::{self as protocol, Report};
use crate::protocol::pool as wire;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

/// Decodes the arguments from the bytes and descriptors, runs the entry point, encodes its result.
pub type Invoke = fn(&[u8], Vec<OwnedFd>) -> Result<Encoded>;

/// Runs an entry point on a whole chunk (a pool task): decodes a sequence of argument tuples from the
/// bytes and descriptors, calls the function on each, and appends the whole reply (its tag, then
/// the outcomes or the plain results: `protocol::pool`) to the output bytes and descriptors.
pub type InvokeBatch = fn(&[u8], Vec<OwnedFd>, &mut Vec<u8>, &mut Vec<OwnedFd>) -> Result<()>;

/// One registered entry point. Built by `#[worker]`; not meant to be written by hand.
pub struct WorkerEntry {
    /// Unique name: `module::path::function`.
    pub name: &'static str,
    /// The Rust name of what runs, for diagnostics (workers and the parent look entries up by `name`).
    pub type_name: fn() -> &'static str,
    /// Runs it in the child.
    pub invoke: Invoke,
    /// Runs it on a chunk of calls in a pool worker (every `#[worker]` has one; the runtime's own
    /// entry points do not).
    pub invoke_batch: Option<InvokeBatch>,
}

inventory::collect!(WorkerEntry);

struct Index {
    by_name: HashMap<&'static str, &'static WorkerEntry>,
    /// Names registered twice (two versions of one crate linked into the binary): never guessed at.
    ambiguous: std::collections::HashSet<&'static str>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut idx = Index {
            by_name: HashMap::new(),
            ambiguous: Default::default(),
        };
        for e in inventory::iter::<WorkerEntry> {
            if idx.by_name.insert(e.name, e).is_some() {
                idx.ambiguous.insert(e.name);
            }
        }
        for name in &idx.ambiguous {
            idx.by_name.remove(name);
        }
        idx
    })
}

/// The entry registered under `name`.
pub(crate) fn by_name(name: &str) -> Option<&'static WorkerEntry> {
    index().by_name.get(name).copied()
}

/// The error of a task naming an entry this binary lacks.
pub(crate) fn not_found(name: &str) -> Error {
    Error::new(
        ErrorKind::NotAWorker {
            name: name.to_string(),
        },
        format!("no worker named `{name}` in this binary"),
    )
}

/// Runs one task frame — the entry's name, then its encoded arguments — catching a panic. Used for a
/// started child's single task and by long-lived workers (pools) for each of theirs.
pub(crate) fn run_task(bytes: &[u8], fds: Vec<OwnedFd>) -> (Report, Option<Encoded>) {
    let run = || -> Result<Encoded> {
        let (name, origin, args) = protocol::decode_task(bytes)?;
        if let Some(origin) = origin {
            crate::current::adopt_origin(origin);
        }
        let entry = by_name(&name).ok_or_else(|| not_found(&name))?;
        (entry.invoke)(args, fds)
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(enc)) => (Report::Ok, Some(enc)),
        Ok(Err(e)) => (Report::failed(&e), None),
        Err(panic) => (Report::PanickedAt(protocol::Panic::caught(&*panic)), None),
    }
}

/// The entry that `#[worker]` registered under `name` (a [`WorkerFn::ENTRY`](crate::WorkerFn)), or
/// `NotAWorker` naming it. Only a `#[worker]` implements `WorkerFn`, so this fails only when the name is
/// registered twice (two versions of one crate, or two workers of one name in one module) or when
/// `WorkerFn` was implemented by hand.
pub(crate) fn lookup_fn(name: &'static str) -> Result<&'static WorkerEntry> {
    if index().ambiguous.contains(name) {
        return Err(Error::new(
            ErrorKind::NotAWorker {
                name: name.to_string(),
            },
            format!(
                "two workers are registered as `{name}` (two versions of one crate in this binary, or two \
                 workers of that name in one module?); rename one of them"
            ),
        ));
    }
    by_name(name).ok_or_else(|| {
        Error::new(
            ErrorKind::NotAWorker {
                name: name.to_string(),
            },
            format!(
                "`{name}` is not a registered worker: implement `WorkerFn` only through \
                 #[multiproc::worker] on the function"
            ),
        )
    })
}

/// The body of every generated [`Invoke`]: decode `A`, call, encode the result.
pub fn invoke<A: DeserializeOwned, R: Serialize>(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
    f: impl FnOnce(A) -> R,
) -> Result<Encoded> {
    let args: A = codec::decode(bytes, fds)?;
    codec::encode(&f(args))
}

/// The body of every generated [`InvokeBatch`]: decode a `Vec<A>` at once, call `f` on each item (a
/// panic fails only its own item), and append the whole reply, its tag included, to `out`: the `Vec` of outcomes,
/// encoded at once, or, when the results are plain numbers and every item returned, their bytes
/// (see `protocol::pool::PLAIN`). A result that cannot be encoded fails only its own item too.
pub fn invoke_batch<A: DeserializeOwned, R: Serialize>(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
    out: &mut Vec<u8>,
    out_fds: &mut Vec<OwnedFd>,
    f: impl Fn(A) -> R,
) -> Result<()> {
    let args: Vec<A> = match codec::read_plain_items(bytes) {
        Some(read) => read.map_err(|why| {
            Error::codec(format!(
                "a pool chunk of plain items could not be read: {why}"
            ))
        })?,
        None => codec::decode(bytes, fds)?,
    };
    let count = args.len();
    let mut args = args.into_iter();
    let base = out.len();
    if let Some(plain) = codec::plain::<R>() {
        wire::begin_plain(plain, count, out);
        for a in args.by_ref() {
            match catch_unwind(AssertUnwindSafe(|| f(a))) {
                Ok(v) => plain.write(&v, out),
                Err(panic) => {
                    // Outcomes after all: those that returned, this panic, then the rest.
                    let done = wire::plain_so_far(plain, &out[base..]);
                    out.truncate(base);
                    wire::begin_outcomes(out);
                    let panic = protocol::Panic::caught(&*panic);
                    return protocol::encode_outcomes_with(count, out, out_fds, |w| {
                        done.iter().for_each(|v| w.ok(v));
                        w.panicked(panic);
                        run_each(args, &f, w);
                    });
                }
            }
        }
        return Ok(());
    }
    wire::begin_outcomes(out);
    protocol::encode_outcomes_with(count, out, out_fds, |w| run_each(args, &f, w))
}

/// Runs `f` on each of `args`, writing its outcome.
fn run_each<A, R: Serialize>(
    args: impl Iterator<Item = A>,
    f: &impl Fn(A) -> R,
    w: &mut protocol::OutcomeWriter<'_, '_>,
) {
    for a in args {
        match catch_unwind(AssertUnwindSafe(|| f(a))) {
            Ok(v) => w.ok(&v),
            Err(panic) => w.panicked(protocol::Panic::caught(&*panic)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_entry_fails_as_not_a_worker_across_the_report() {
        let task = protocol::encode_task("no::such::worker", &()).unwrap();
        let mut bytes = Vec::new();
        protocol::encode_report_into(run_task(&task.bytes, task.fds), &mut bytes, &mut Vec::new())
            .unwrap();
        let err = protocol::decode_report::<()>(&bytes, Vec::new()).unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::NotAWorker {
                name: "no::such::worker".into()
            }
        );
        assert!(err.to_string().contains("no worker named"), "{err}");
    }

    /// A chunk of plain numbers answers with their bytes; an item that panics part way turns the
    /// reply into outcomes (those before, the panic, those after), appended after what `out` held.
    #[test]
    fn batches_of_plain_numbers_reply_plain_until_an_item_panics() {
        let mut items = Vec::new();
        assert!(codec::write_plain_items(&[1u64, 2, 3], &mut items));
        let double = |(x,): (u64,)| x * 2;
        let mut out = vec![0xAA];
        invoke_batch(&items, Vec::new(), &mut out, &mut Vec::new(), double).unwrap();
        assert_eq!(out[1], wire::PLAIN);
        let mut got = Vec::new();
        wire::decode_reply::<u64>(0, 3, &out[1..], Vec::new(), |_, r| got.push(r.unwrap()))
            .unwrap();
        assert_eq!(got, [2, 4, 6]);

        let picky = |(x,): (u64,)| {
            assert_ne!(x, 2, "two is refused");
            x
        };
        let mut out = vec![0xAA];
        invoke_batch(&items, Vec::new(), &mut out, &mut Vec::new(), picky).unwrap();
        assert_eq!(out[..2], [0xAA, wire::OUTCOMES]);
        let mut got = Vec::new();
        wire::decode_reply::<u64>(0, 3, &out[1..], Vec::new(), |_, r| got.push(r)).unwrap();
        assert_eq!(*got[0].as_ref().unwrap(), 1);
        assert!(matches!(
            got[1].as_ref().unwrap_err().kind(),
            ErrorKind::WorkerPanicked { message, .. } if message.contains("two is refused")
        ));
        assert_eq!(*got[2].as_ref().unwrap(), 3);
    }
}
