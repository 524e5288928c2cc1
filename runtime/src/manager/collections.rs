//! Typed proxies for [`SetProxy`] (a shared set) and [`ArrayProxy`] (Python's `manager.Array`: a
//! list of fixed length). Items are encoded with the codec; the set compares them by their encoded
//! bytes, as the dict does its keys.

use super::containers::proxy_type;
use super::protocol::Blob;
use super::proxy::{Proxy, ProxyCore};
use crate::error::{Error, ErrorKind, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Borrow;

fn decode_all<T: DeserializeOwned>(blobs: Vec<Blob>) -> Result<Vec<T>> {
    blobs.iter().map(Blob::decode).collect()
}

/// A set held by a manager. Items are equal when their encodings are (so keep to types whose equal
/// values encode the same: integers, strings, tuples and structs of them; not floats' `-0.0`/`NaN`).
/// Python registers no set type on `SyncManager`; this is the typed form of the usual stand-in, a
/// `manager.dict()` used for its keys.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let seen = multiproc::Manager::start()?.set::<String>()?;
/// assert!(seen.add("a")?);                   // seen.add('a'), and it was new
/// assert!(!seen.add("a")?);
/// assert!(seen.contains("a")?);              // 'a' in seen
/// seen.remove("a")?;                         // seen.remove('a') (NotFound if absent)
/// assert_eq!(seen.len()?, 0);
/// # Ok(()) }
/// ```
pub struct SetProxy<T> {
    core: ProxyCore,
    _t: std::marker::PhantomData<fn() -> T>,
}

proxy_type!(SetProxy[T], format!("set<{}>", std::any::type_name::<T>()));

impl<T: Serialize + DeserializeOwned> SetProxy<T> {
    /// Adds `value`; true if it was not there. Python: `s.add(value)`.
    pub fn add<Q>(&self, value: &Q) -> Result<bool>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.core.call("add", &Blob::encode(value)?)
    }

    /// Adds every item. Python: `s.update(items)`.
    pub fn extend<I: IntoIterator>(&self, items: I) -> Result<()>
    where
        I::Item: Borrow<T>,
    {
        let blobs = items
            .into_iter()
            .map(|v| Blob::encode(v.borrow()))
            .collect::<Result<Vec<_>>>()?;
        self.core.call("extend", &blobs)
    }

    /// Removes `value` if present; true if it was. Python: `s.discard(value)`.
    pub fn discard<Q>(&self, value: &Q) -> Result<bool>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.core.call("discard", &Blob::encode(value)?)
    }

    /// Removes `value`; [`ErrorKind::NotFound`] if it is not there (Python: `KeyError`). Python:
    /// `s.remove(value)`.
    pub fn remove<Q>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        if self.discard(value)? {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::NotFound,
                "set.remove(x): x is not in the set (use discard to ignore that)",
            ))
        }
    }

    /// Removes and returns some item, `None` when empty (Python raises `KeyError`). Python:
    /// `s.pop()`.
    pub fn pop(&self) -> Result<Option<T>> {
        let b: Option<Blob> = self.core.call("pop", &())?;
        b.map(|b| b.decode()).transpose()
    }

    /// True if `value` is in the set. Python: `value in s`.
    pub fn contains<Q>(&self, value: &Q) -> Result<bool>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.core.call("contains", &Blob::encode(value)?)
    }

    /// Number of items. Python: `len(s)`.
    pub fn len(&self) -> Result<usize> {
        Ok(self.core.call::<_, u64>("len", &())? as usize)
    }

    /// True when the set has no items.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Removes every item. Python: `s.clear()`.
    pub fn clear(&self) -> Result<()> {
        self.core.call("clear", &())
    }

    /// A copy of the items, in no particular order, in one round trip. Python: `list(s)`.
    pub fn to_vec(&self) -> Result<Vec<T>> {
        decode_all(self.core.call("snapshot", &())?)
    }

    /// Iterates over a snapshot taken now. Python: `for x in s`.
    pub fn iter(&self) -> Result<std::vec::IntoIter<T>> {
        Ok(self.to_vec()?.into_iter())
    }
}

/// An array held by a manager: a list whose length is fixed when it is made. Python:
/// `manager.Array('i', [1, 2, 3])` (the typecode is the Rust type here).
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let arr = multiproc::Manager::start()?.array(vec![0i32; 4])?;  // manager.Array('i', [0] * 4)
/// arr.set(1, &7)?;                                               // arr[1] = 7
/// assert_eq!(arr.get(1)?, 7);                                    // arr[1]
/// assert_eq!(arr.len()?, 4);                                     // len(arr)
/// assert_eq!(arr.to_vec()?, [0, 7, 0, 0]);                       // list(arr)
/// # Ok(()) }
/// ```
pub struct ArrayProxy<T> {
    core: ProxyCore,
    _t: std::marker::PhantomData<fn() -> T>,
}

proxy_type!(
    ArrayProxy[T],
    format!("array<{}>", std::any::type_name::<T>())
);

impl<T: Serialize + DeserializeOwned> ArrayProxy<T> {
    /// The item at `index`; [`ErrorKind::InvalidInput`] past the end (Python: `IndexError`).
    /// Python: `arr[i]`.
    pub fn get(&self, index: usize) -> Result<T> {
        let b: Blob = self.core.call("get", &(index as u64))?;
        b.decode()
    }

    /// Replaces the item at `index`; [`ErrorKind::InvalidInput`] past the end. Python:
    /// `arr[i] = v`.
    pub fn set<Q>(&self, index: usize, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.core.call("set", &(index as u64, Blob::encode(value)?))
    }

    /// Number of items, fixed at creation. Python: `len(arr)`.
    pub fn len(&self) -> Result<usize> {
        Ok(self.core.call::<_, u64>("len", &())? as usize)
    }

    /// True for an array of no items.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A copy of the whole array, in one round trip. Python: `arr[:]` / `list(arr)`.
    pub fn to_vec(&self) -> Result<Vec<T>> {
        decode_all(self.core.call("snapshot", &())?)
    }

    /// Iterates over a snapshot taken now.
    pub fn iter(&self) -> Result<std::vec::IntoIter<T>> {
        Ok(self.to_vec()?.into_iter())
    }
}
