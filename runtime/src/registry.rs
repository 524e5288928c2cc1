//! The link-time table of entry points (`inventory`): every `#[worker]` function, and the runtime's own
//! entry points (pool worker loop, manager server), by name. The parent finds an entry by the function's
//! type name and sends the entry's name; the child, being the same binary, finds it by name.

use crate::codec::{self, Encoded};
use crate::error::{Error, ErrorKind, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;

/// Decodes the arguments from the bytes and descriptors, runs the entry point, encodes its result.
pub type Invoke = fn(&[u8], Vec<OwnedFd>) -> Result<Encoded>;

/// One registered entry point. Built by `#[worker]`; not meant to be written by hand.
pub struct WorkerEntry {
    /// Unique name: `module::path::function`.
    pub name: &'static str,
    /// `std::any::type_name` of the function item, the key the parent looks it up by.
    pub type_name: fn() -> &'static str,
    /// Runs it in the child.
    pub invoke: Invoke,
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
