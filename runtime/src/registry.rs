//! The link-time table of entry points (`inventory`): every `#[worker]` function, and the runtime's own
//! entry points (pool worker loop, manager server), by name. The parent finds an entry by the function's
//! type name and sends the entry's name; the child, being the same binary, finds it by name.

use crate::bootstrap::{Outcome, panic_message};
use crate::codec::{self, Encoded};
use crate::error::{Error, ErrorKind, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

/// Decodes the arguments from the bytes and descriptors, runs the entry point, encodes its result.
pub type Invoke = fn(&[u8], Vec<OwnedFd>) -> Result<Encoded>;

/// Runs an entry point on a whole chunk (a pool task): decodes a sequence of argument tuples from the
/// bytes and descriptors, calls the function on each, and appends the sequence of their outcomes to
/// the output bytes and descriptors.
pub type InvokeBatch = fn(&[u8], Vec<OwnedFd>, &mut Vec<u8>, &mut Vec<OwnedFd>) -> Result<()>;

/// One registered entry point. Built by `#[worker]`; not meant to be written by hand.
pub struct WorkerEntry {
    /// Unique name: `module::path::function`.
    pub name: &'static str,
    /// `std::any::type_name` of the function item, the key the parent looks it up by.
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
    by_type: HashMap<&'static str, &'static WorkerEntry>,
    /// Names registered twice (two versions of one crate linked into the binary): never guessed at.
    ambiguous: std::collections::HashSet<&'static str>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut idx = Index {
            by_name: HashMap::new(),
            by_type: HashMap::new(),
            ambiguous: Default::default(),
        };
        for e in inventory::iter::<WorkerEntry> {
            if idx.by_name.insert(e.name, e).is_some() {
                idx.ambiguous.insert(e.name);
            }
            if idx.by_type.insert((e.type_name)(), e).is_some() {
                idx.ambiguous.insert((e.type_name)());
            }
        }
        for name in &idx.ambiguous {
            idx.by_name.remove(name);
            idx.by_type.remove(name);
        }
        idx
    })
}

/// The entry registered under `name`.
pub(crate) fn by_name(name: &str) -> Option<&'static WorkerEntry> {
    index().by_name.get(name).copied()
}

/// The entry for the function whose type name is `type_name`, or `NotAWorker` naming it.
pub(crate) fn lookup_fn(type_name: &'static str) -> Result<&'static WorkerEntry> {
    if index().ambiguous.contains(type_name) {
        return Err(Error::new(
            ErrorKind::NotAWorker {
                name: type_name.to_string(),
            },
            format!(
                "two workers are registered as `{type_name}` (two versions of one crate in this binary?); \
                 rename one of them"
            ),
        ));
    }
    index().by_type.get(type_name).copied().ok_or_else(|| {
        Error::new(
            ErrorKind::NotAWorker { name: type_name.to_string() },
            format!(
                "`{type_name}` is not a registered worker: annotate the function with #[multiproc::worker] \
                 (closures and function pointers cannot run in another process; pass the worker by name)"
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
/// panic fails only its own item), encode the `Vec` of outcomes at once. A result that cannot be
/// encoded fails only its own item too.
pub fn invoke_batch<A: DeserializeOwned, R: Serialize>(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
    out: &mut Vec<u8>,
    out_fds: &mut Vec<OwnedFd>,
    f: impl Fn(A) -> R,
) -> Result<()> {
    let args: Vec<A> = codec::decode(bytes, fds)?;
    let outcomes: Vec<Outcome<R>> = args
        .into_iter()
        .map(|a| match catch_unwind(AssertUnwindSafe(|| f(a))) {
            Ok(v) => Outcome::Ok(v),
            Err(panic) => Outcome::Panicked(panic_message(&*panic)),
        })
        .collect();
    let (len, nfds) = (out.len(), out_fds.len());
    if codec::encode_into(&outcomes, out, out_fds).is_ok() {
        return Ok(());
    }
    out.truncate(len);
    out_fds.truncate(nfds);
    // Some result does not encode: find it (them) and send the others.
    let mut scratch = Encoded::default();
    let checked: Vec<Outcome<&R>> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Ok(v) => {
                scratch.bytes.clear();
                scratch.fds.clear();
                match codec::encode_into(v, &mut scratch.bytes, &mut scratch.fds) {
                    Ok(()) => Outcome::Ok(v),
                    Err(e) => Outcome::Failed(e.to_string()),
                }
            }
            Outcome::Panicked(m) => Outcome::Panicked(m.clone()),
            Outcome::Failed(m) => Outcome::Failed(m.clone()),
        })
        .collect();
    codec::encode_into(&checked, out, out_fds)
}
