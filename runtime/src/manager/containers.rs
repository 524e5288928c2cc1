//! Typed proxies for the data containers: [`ListProxy`], [`DictProxy`], [`NamespaceProxy`],
//! [`ValueProxy`]. Each method is one round trip to the server; values are encoded with the codec, so
//! any `Serialize + DeserializeOwned` type works (handles that carry descriptors are refused).

use super::protocol::Blob;
use super::proxy::{Proxy, ProxyCore};
use crate::error::{Error, ErrorKind, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Borrow;

/// Implements `Clone`, `Debug`, serde (as the core) and [`Proxy`] for a proxy type.
macro_rules! proxy_type {
    ($name:ident [$($p:ident),*], $tag:expr) => {
        impl<$($p),*> Clone for $name<$($p),*> {
            fn clone(&self) -> Self {
                $name { core: self.core.clone(), _t: std::marker::PhantomData }
            }
        }
        impl<$($p),*> std::fmt::Debug for $name<$($p),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("address", &self.core.endpoint().address)
                    .field("id", &format_args!("{:032x}", self.core.object().0))
                    .finish()
            }
        }
        impl<$($p),*> serde::Serialize for $name<$($p),*> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                self.core.serialize(s)
            }
        }
        impl<'de, $($p),*> serde::Deserialize<'de> for $name<$($p),*> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                Ok($name { core: ProxyCore::deserialize(d)?, _t: std::marker::PhantomData })
            }
        }
        impl<$($p),*> Proxy for $name<$($p),*> {
            fn tag() -> String {
                $tag
            }
            fn from_core(core: ProxyCore) -> Self {
                $name { core, _t: std::marker::PhantomData }
            }
            fn core(&self) -> &ProxyCore {
                &self.core
            }
        }
    };
}
pub(crate) use proxy_type;

fn decode_all<T: DeserializeOwned>(blobs: Vec<Blob>) -> Result<Vec<T>> {
    blobs.iter().map(Blob::decode).collect()
}

/// A list held by a manager. Python: `manager.list()`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let list = multiproc::Manager::start()?.list::<u32>()?;
/// list.append(&1)?;                       // list.append(1)
/// list.extend([2, 3])?;                   // list.extend([2, 3])
/// assert_eq!(list.len()?, 3);             // len(list)
/// assert_eq!(list.get(0)?, Some(1));      // list[0]
/// assert_eq!(list.pop()?, Some(3));       // list.pop()
/// for x in list.iter()? { println!("{x}"); }  // iterates over a snapshot
/// # Ok(()) }
/// ```
pub struct ListProxy<T> {
    core: ProxyCore,
    _t: std::marker::PhantomData<fn() -> T>,
}

proxy_type!(
    ListProxy[T],
    format!("list<{}>", std::any::type_name::<T>())
);

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    /// Appends `value`. Python: `list.append(value)`.
    pub fn append<Q>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.core.call("append", &Blob::encode(value)?)
    }

    /// [`append`](Self::append) for async code (feature `async`): the reply is awaited without a
    /// thread.
    #[cfg(feature = "async")]
    pub async fn append_async<Q>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let item = Blob::encode(value)?;
        self.core.call_async("append", &item).await
    }

    /// [`get`](Self::get) for async code (feature `async`).
    #[cfg(feature = "async")]
    pub async fn get_async(&self, index: usize) -> Result<Option<T>> {
        let b: Option<Blob> = self.core.call_async("get", &(index as u64)).await?;
        b.map(|b| b.decode()).transpose()
    }

    /// [`len`](Self::len) for async code (feature `async`).
    #[cfg(feature = "async")]
    pub async fn len_async(&self) -> Result<usize> {
        Ok(self.core.call_async::<_, u64>("len", &()).await? as usize)
    }

    /// Appends every item. Python: `list.extend(items)`.
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

    /// Inserts `value` at `index` (at the end if `index` is past it). Python: `list.insert(i, v)`.
    pub fn insert<Q>(&self, index: usize, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.core
            .call("insert", &(index as u64, Blob::encode(value)?))
    }

    /// The item at `index`, or `None` past the end. Python: `list[i]`.
    pub fn get(&self, index: usize) -> Result<Option<T>> {
        let b: Option<Blob> = self.core.call("get", &(index as u64))?;
        b.map(|b| b.decode()).transpose()
    }

    /// Replaces the item at `index`; [`ErrorKind::InvalidInput`] past the end. Python: `list[i] = v`.
    pub fn set<Q>(&self, index: usize, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.core.call("set", &(index as u64, Blob::encode(value)?))
    }

    /// Removes and returns the item at `index`; [`ErrorKind::InvalidInput`] past the end. Python:
    /// `list.pop(i)`.
    pub fn remove(&self, index: usize) -> Result<T> {
        let b: Blob = self.core.call("remove", &(index as u64))?;
        b.decode()
    }

    /// Removes and returns the last item. Python: `list.pop()`.
    pub fn pop(&self) -> Result<Option<T>> {
        let b: Option<Blob> = self.core.call("pop", &())?;
        b.map(|b| b.decode()).transpose()
    }

    /// Number of items. Python: `len(list)`.
    pub fn len(&self) -> Result<usize> {
        Ok(self.core.call::<_, u64>("len", &())? as usize)
    }

    /// True when the list has no items.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Removes every item. Python: `list.clear()`.
    pub fn clear(&self) -> Result<()> {
        self.core.call("clear", &())
    }

    /// True if an item equals `value` (compared as encoded bytes). Python: `value in list`.
    pub fn contains<Q>(&self, value: &Q) -> Result<bool>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.core.call("contains", &Blob::encode(value)?)
    }

    /// How many items equal `value` (compared as encoded bytes). Python: `list.count(value)`.
    pub fn count<Q>(&self, value: &Q) -> Result<usize>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        Ok(self.core.call::<_, u64>("count", &Blob::encode(value)?)? as usize)
    }

    /// Removes the first item equal to `value` (compared as encoded bytes); [`ErrorKind::NotFound`]
    /// if there is none. Python: `list.remove(value)` (`ValueError` there). [`remove`](Self::remove)
    /// is by index (Python's `list.pop(i)`).
    pub fn remove_value<Q>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        if self.core.call("remove_value", &Blob::encode(value)?)? {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::NotFound,
                "list.remove(x): no item equals x (check with contains, or use index)",
            ))
        }
    }

    /// Reverses the list in place, on the server. Python: `list.reverse()`.
    pub fn reverse(&self) -> Result<()> {
        self.core.call("reverse", &())
    }

    /// Sorts the list (stable, ascending). Python: `list.sort()`. See [`sort_by`](Self::sort_by).
    pub fn sort(&self) -> Result<()>
    where
        T: Ord,
    {
        self.sort_by(T::cmp)
    }

    /// Sorts the list with `compare` (stable). Python: `list.sort(key=...)`. Only this process can
    /// compare the items (the server holds them encoded), so it reads the list, sorts it here and
    /// writes it back only if nobody changed it meanwhile, retrying otherwise; after
    /// [`SORT_TRIES`](Self::SORT_TRIES) changed reads it gives up with [`ErrorKind::Timeout`] and the
    /// list as another caller left it.
    pub fn sort_by(&self, mut compare: impl FnMut(&T, &T) -> std::cmp::Ordering) -> Result<()> {
        for _ in 0..Self::SORT_TRIES {
            let blobs: Vec<Blob> = self.core.call("snapshot", &())?;
            let values: Vec<T> = decode_all(blobs.clone())?;
            let mut order: Vec<usize> = (0..values.len()).collect();
            order.sort_by(|&a, &b| compare(&values[a], &values[b]));
            let sorted: Vec<&Blob> = order.iter().map(|&i| &blobs[i]).collect();
            if self.core.call("replace_if", &(&blobs, sorted))? {
                return Ok(());
            }
        }
        Err(Error::new(
            ErrorKind::Timeout,
            format!(
                "list.sort(): the list changed during each of {} tries; sort when fewer processes write it",
                Self::SORT_TRIES
            ),
        ))
    }

    /// How many times [`sort`](Self::sort) reads the list again when another call changed it
    /// meanwhile.
    pub const SORT_TRIES: usize = 64;

    /// Position of the first item equal to `value`. Python: `list.index(value)`.
    pub fn index<Q>(&self, value: &Q) -> Result<Option<usize>>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let i: Option<u64> = self.core.call("index", &Blob::encode(value)?)?;
        Ok(i.map(|i| i as usize))
    }

    /// A copy of the whole list, in one round trip. Python: `list(proxy)`.
    pub fn to_vec(&self) -> Result<Vec<T>> {
        decode_all(self.core.call("snapshot", &())?)
    }

    /// Iterates over a snapshot taken now (later changes are not seen). Python: `for x in proxy`.
    pub fn iter(&self) -> Result<std::vec::IntoIter<T>> {
        Ok(self.to_vec()?.into_iter())
    }
}

/// A dict held by a manager, insertion-ordered like Python's. Keys compare by their encoded bytes.
/// Python: `manager.dict()`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let d = multiproc::Manager::start()?.dict::<String, u32>()?;
/// d.insert("a", &1)?;                                 // d['a'] = 1
/// assert_eq!(d.get("a")?, Some(1));                    // d.get('a')
/// d.update([("b".to_string(), 2)])?;                  // d.update({'b': 2})
/// assert_eq!(d.keys()?, ["a", "b"]);                  // list(d.keys())
/// for (k, v) in d.iter()? { println!("{k}: {v}"); }   // d.items(), a snapshot
/// # Ok(()) }
/// ```
pub struct DictProxy<K, V> {
    core: ProxyCore,
    _t: std::marker::PhantomData<fn() -> (K, V)>,
}

proxy_type!(
    DictProxy[K, V],
    format!(
        "dict<{}, {}>",
        std::any::type_name::<K>(),
        std::any::type_name::<V>()
    )
);

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    /// Sets `key` to `value`, returning the previous value. Python: `d[key] = value`.
    pub fn insert<KQ, VQ>(&self, key: &KQ, value: &VQ) -> Result<Option<V>>
    where
        K: Borrow<KQ>,
        V: Borrow<VQ>,
        KQ: Serialize + ?Sized,
        VQ: Serialize + ?Sized,
    {
        let old: Option<Blob> = self
            .core
            .call("insert", &(Blob::encode(key)?, Blob::encode(value)?))?;
        old.map(|b| b.decode()).transpose()
    }

    /// The value of `key`, if present. Python: `d.get(key)`.
    pub fn get<Q>(&self, key: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let b: Option<Blob> = self.core.call("get", &Blob::encode(key)?)?;
        b.map(|b| b.decode()).transpose()
    }

    /// [`insert`](Self::insert) for async code (feature `async`): the reply is awaited without a
    /// thread.
    #[cfg(feature = "async")]
    pub async fn insert_async<KQ, VQ>(&self, key: &KQ, value: &VQ) -> Result<Option<V>>
    where
        K: Borrow<KQ>,
        V: Borrow<VQ>,
        KQ: Serialize + ?Sized,
        VQ: Serialize + ?Sized,
    {
        let args = (Blob::encode(key)?, Blob::encode(value)?);
        let old: Option<Blob> = self.core.call_async("insert", &args).await?;
        old.map(|b| b.decode()).transpose()
    }

    /// [`get`](Self::get) for async code (feature `async`).
    #[cfg(feature = "async")]
    pub async fn get_async<Q>(&self, key: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let key = Blob::encode(key)?;
        let b: Option<Blob> = self.core.call_async("get", &key).await?;
        b.map(|b| b.decode()).transpose()
    }

    /// True if `key` is present. Python: `key in d`.
    pub fn contains_key<Q>(&self, key: &Q) -> Result<bool>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.core.call("contains", &Blob::encode(key)?)
    }

    /// Removes `key`, returning its value. Python: `d.pop(key, None)`.
    pub fn remove<Q>(&self, key: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let b: Option<Blob> = self.core.call("remove", &Blob::encode(key)?)?;
        b.map(|b| b.decode()).transpose()
    }

    /// Removes and returns the most recently inserted entry, `None` when empty (Python raises
    /// `KeyError`). Python: `d.popitem()`.
    pub fn popitem(&self) -> Result<Option<(K, V)>> {
        let pair: Option<(Blob, Blob)> = self.core.call("popitem", &())?;
        pair.map(|(k, v)| Ok((k.decode()?, v.decode()?)))
            .transpose()
    }

    /// True if both dicts have the same keys (compared as encoded bytes, as the dict does) with
    /// equal values (`V: PartialEq`), in any order. Python: `dict(a) == dict(b)`. A method, not
    /// `PartialEq`: it makes two round trips, which can fail, and `==` cannot return an error. The two
    /// reads are not one atomic snapshot when other processes write meanwhile.
    pub fn eq_contents(&self, other: &DictProxy<K, V>) -> Result<bool>
    where
        V: PartialEq,
    {
        let mine: Vec<(Blob, Blob)> = self.core.call("items", &())?;
        let theirs: Vec<(Blob, Blob)> = other.core.call("items", &())?;
        if mine.len() != theirs.len() {
            return Ok(false);
        }
        let theirs: std::collections::HashMap<Blob, Blob> = theirs.into_iter().collect();
        for (k, v) in &mine {
            let Some(w) = theirs.get(k) else {
                return Ok(false);
            };
            if v != w && v.decode::<V>()? != w.decode::<V>()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The value of `key`, inserting `default` first if absent. Python: `d.setdefault(key, default)`.
    pub fn setdefault<KQ, VQ>(&self, key: &KQ, default: &VQ) -> Result<V>
    where
        K: Borrow<KQ>,
        V: Borrow<VQ>,
        KQ: Serialize + ?Sized,
        VQ: Serialize + ?Sized,
    {
        let b: Blob = self
            .core
            .call("setdefault", &(Blob::encode(key)?, Blob::encode(default)?))?;
        b.decode()
    }

    /// Inserts every pair, in one round trip. Python: `d.update(pairs)`.
    pub fn update(&self, items: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        let blobs = items
            .into_iter()
            .map(|(k, v)| Ok((Blob::encode(&k)?, Blob::encode(&v)?)))
            .collect::<Result<Vec<_>>>()?;
        self.core.call("update", &blobs)
    }

    /// Number of entries. Python: `len(d)`.
    pub fn len(&self) -> Result<usize> {
        Ok(self.core.call::<_, u64>("len", &())? as usize)
    }

    /// True when the dict has no entries.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Removes every entry. Python: `d.clear()`.
    pub fn clear(&self) -> Result<()> {
        self.core.call("clear", &())
    }

    /// The keys, in insertion order. Python: `list(d.keys())`.
    pub fn keys(&self) -> Result<Vec<K>> {
        decode_all(self.core.call("keys", &())?)
    }

    /// The values, in insertion order. Python: `list(d.values())`.
    pub fn values(&self) -> Result<Vec<V>> {
        decode_all(self.core.call("values", &())?)
    }

    /// The entries, in insertion order, in one round trip. Python: `list(d.items())` / `dict(d)`.
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        let pairs: Vec<(Blob, Blob)> = self.core.call("items", &())?;
        pairs
            .into_iter()
            .map(|(k, v)| Ok((k.decode()?, v.decode()?)))
            .collect()
    }

    /// Iterates over a snapshot of the entries taken now. Python: `for k, v in d.items()`.
    pub fn iter(&self) -> Result<std::vec::IntoIter<(K, V)>> {
        Ok(self.items()?.into_iter())
    }
}

/// Named attributes of any type held by a manager. Python: `manager.Namespace()`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let ns = multiproc::Manager::start()?.namespace()?;
/// ns.set("name", &"run-1".to_string())?;     // ns.name = 'run-1'
/// ns.set("total", &0.5f64)?;                 // ns.total = 0.5
/// assert_eq!(ns.get::<f64>("total")?, 0.5);  // ns.total
/// assert_eq!(ns.names()?, ["name", "total"]);
/// # Ok(()) }
/// ```
pub struct NamespaceProxy {
    core: ProxyCore,
    _t: std::marker::PhantomData<()>,
}

proxy_type!(NamespaceProxy[], "namespace".to_string());

impl NamespaceProxy {
    /// The attribute `name` as a `T`: [`ErrorKind::NotFound`] if unset, [`ErrorKind::Codec`] if it was
    /// set with another type. Python: `ns.name`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let b: Option<Blob> = self.core.call("get", name)?;
        match b {
            Some(b) => b.decode(),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("namespace has no attribute `{name}`"),
            )),
        }
    }

    /// Sets the attribute `name`. Python: `ns.name = value`.
    pub fn set<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<()> {
        self.core.call("set", &(name, Blob::encode(value)?))
    }

    /// Deletes the attribute `name`; false if it was not set. Python: `del ns.name`.
    pub fn remove(&self, name: &str) -> Result<bool> {
        self.core.call("remove", name)
    }

    /// The names of the attributes, sorted. Python: `vars(ns)`.
    pub fn names(&self) -> Result<Vec<String>> {
        self.core.call("names", &())
    }
}

/// One value held by a manager. Python: `manager.Value('i', 0)`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let v = multiproc::Manager::start()?.value(String::from("idle"))?;
/// v.set("busy")?;                                      // v.value = 'busy'
/// assert_eq!(v.get()?, "busy");                        // v.value
/// assert_eq!(v.swap("done")?, "busy");
/// # Ok(()) }
/// ```
pub struct ValueProxy<T> {
    core: ProxyCore,
    _t: std::marker::PhantomData<fn() -> T>,
}

proxy_type!(
    ValueProxy[T],
    format!("value<{}>", std::any::type_name::<T>())
);

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// The value. Python: `v.value`.
    pub fn get(&self) -> Result<T> {
        let b: Blob = self.core.call("get", &())?;
        b.decode()
    }

    /// Replaces the value. Python: `v.value = x`.
    pub fn set<Q>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.core.call("set", &Blob::encode(value)?)
    }

    /// Replaces the value, returning the old one, atomically.
    pub fn swap<Q>(&self, value: &Q) -> Result<T>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let b: Blob = self.core.call("swap", &Blob::encode(value)?)?;
        b.decode()
    }
}
