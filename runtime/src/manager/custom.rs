//! User types served by a manager: `#[multiproc::managed]` on an `impl` block registers the type
//! ([`ManagedEntry`], in a link-time table like workers) and implements [`Managed`] for it, naming the
//! typed proxy it generates. Python: `BaseManager.register('Counter', Counter)`.

use super::objects::{CallContext, Object};
use super::protocol;
use super::proxy::Proxy;
use crate::error::{Error, ErrorKind, Result};
use crate::poison::lock;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// A type whose values a [`Manager`](super::Manager) can hold, reached through its generated proxy.
/// Implemented by `#[multiproc::managed]`; not meant to be implemented by hand.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Counter { n: u64 }
///
/// #[multiproc::managed]
/// impl Counter {
///     pub fn increment(&mut self, by: u64) -> u64 { self.n += by; self.n }
///     pub fn value(&self) -> u64 { self.n }
/// }
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     let mgr = multiproc::Manager::start()?;
///     let counter: CounterProxy = mgr.create(Counter { n: 0 })?; // Python: manager.Counter()
///     assert_eq!(counter.increment(2)?, 2);
///     assert_eq!(counter.value()?, 2);
///     Ok(())
/// }
/// ```
pub trait Managed: Serialize + DeserializeOwned + Send + 'static {
    /// The proxy `#[managed]` generated: `<Type>Proxy`.
    type Proxy: Proxy;
    /// The name it is registered under (`module::path::Type`).
    const NAME: &'static str;
}

/// Runs one method on a served value: `(value, method, argument bytes, output)`.
pub type Dispatch = fn(&mut (dyn Any + Send), &str, &[u8], &mut Vec<u8>) -> Result<()>;

/// One registered managed type. Built by `#[multiproc::managed]`.
pub struct ManagedEntry {
    /// [`Managed::NAME`].
    pub name: &'static str,
    /// Decodes an initial value sent by [`Manager::create`](super::Manager::create).
    pub create: fn(&[u8]) -> Result<Box<dyn Any + Send>>,
    /// Runs a method.
    pub dispatch: Dispatch,
}

inventory::collect!(ManagedEntry);

/// The entry registered under `name`: [`ErrorKind::NotFound`] if none is, and
/// [`ErrorKind::InvalidInput`] if two types are (serving either could hand a value to the other's
/// methods).
pub(crate) fn entry(name: &str) -> Result<&'static ManagedEntry> {
    /// Every registered name, with its entry, or `None` when several entries share it.
    type Index = HashMap<&'static str, Option<&'static ManagedEntry>>;
    static INDEX: OnceLock<Index> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut index = Index::new();
        for e in inventory::iter::<ManagedEntry> {
            index
                .entry(e.name)
                .and_modify(|slot| *slot = None)
                .or_insert(Some(e));
        }
        index
    });
    match index.get(name) {
        Some(Some(e)) => Ok(e),
        Some(None) => Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "several managed types are registered as `{name}` in the server's binary (two \
                 copies of one crate?): the manager refuses to serve any of them"
            ),
        )),
        None => Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "`{name}` is not a managed type in the server's binary: annotate its impl block \
                 with #[multiproc::managed] (a remote server must be built with the type too)"
            ),
        )),
    }
}

/// `ManagedEntry::create` for `T`.
pub fn create<T: DeserializeOwned + Send + 'static>(bytes: &[u8]) -> Result<Box<dyn Any + Send>> {
    let value: T = protocol::args(bytes)?;
    Ok(Box::new(value))
}

/// Generated dispatch: the served value as `T`.
pub fn downcast<T: 'static>(value: &mut (dyn Any + Send)) -> Result<&mut T> {
    value.downcast_mut::<T>().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("served object is not a {}", std::any::type_name::<T>()),
        )
    })
}

/// Generated dispatch: decode the arguments `A`, call, encode the result.
pub fn call<A: DeserializeOwned, R: Serialize>(
    args: &[u8],
    out: &mut Vec<u8>,
    f: impl FnOnce(A) -> R,
) -> Result<()> {
    let a: A = protocol::args(args)?;
    protocol::ret(out, &f(a))
}

/// Generated dispatch for a method returning `Result<R, E>`: its error goes back as
/// [`ErrorKind::Remote`] with `E`'s message.
pub fn call_result<A: DeserializeOwned, R: Serialize, E: std::fmt::Display>(
    args: &[u8],
    out: &mut Vec<u8>,
    f: impl FnOnce(A) -> std::result::Result<R, E>,
) -> Result<()> {
    let a: A = protocol::args(args)?;
    match f(a) {
        Ok(r) => protocol::ret(out, &r),
        Err(e) => Err(Error::new(
            ErrorKind::Remote {
                message: e.to_string(),
            },
            e.to_string(),
        )),
    }
}

/// Generated dispatch: a method name the type does not have.
pub fn unknown_method(type_name: &str, method: &str) -> Error {
    super::objects::no_method(type_name, method)
}

/// A served user value.
pub(crate) struct CustomObj {
    pub entry: &'static ManagedEntry,
    pub value: Mutex<Box<dyn Any + Send>>,
}

impl Object for CustomObj {
    fn tag(&self) -> &str {
        self.entry.name
    }
    fn call(
        &self,
        _: &mut CallContext<'_>,
        method: &str,
        args: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut v = lock(&self.value);
        (self.entry.dispatch)(&mut **v, method, args, out)
    }
}
