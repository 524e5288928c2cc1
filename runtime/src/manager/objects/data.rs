//! The data containers a server holds: `list`, `dict`, `Namespace`, `Value`, `set` and `Array`. Their
//! elements stay encoded ([`Blob`]s), so one server serves every element type.

use super::{CallContext, Object, no_method, out_of_range};
use crate::error::{Error, ErrorKind, Result};
use crate::manager::protocol::{Blob, args, ret};
use crate::poison::lock;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// `manager.list()`.
pub(crate) struct ListObj {
    pub tag: String,
    pub items: Mutex<Vec<Blob>>,
}

impl Object for ListObj {
    fn quick(&self, method: &str) -> bool {
        matches!(method, "append" | "get" | "set" | "pop" | "len")
    }
    fn tag(&self) -> &str {
        &self.tag
    }
    fn call(
        &self,
        _: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut items = lock(&self.items);
        match method {
            "append" => items.push(args(a)?),
            "extend" => items.extend(args::<Vec<Blob>>(a)?),
            "insert" => {
                let (i, v): (u64, Blob) = args(a)?;
                let i = (i as usize).min(items.len());
                items.insert(i, v);
            }
            "get" => ret(out, &items.get(args::<u64>(a)? as usize))?,
            "set" => {
                let (i, v): (u64, Blob) = args(a)?;
                let len = items.len();
                *items
                    .get_mut(i as usize)
                    .ok_or_else(|| out_of_range(i, len))? = v;
            }
            "remove" => {
                let i: u64 = args(a)?;
                if i as usize >= items.len() {
                    return Err(out_of_range(i, items.len()));
                }
                ret(out, &items.remove(i as usize))?
            }
            "pop" => ret(out, &items.pop())?,
            "len" => ret(out, &(items.len() as u64))?,
            "clear" => items.clear(),
            "contains" => ret(out, &items.contains(&args(a)?))?,
            "count" => {
                let v: Blob = args(a)?;
                ret(out, &(items.iter().filter(|x| **x == v).count() as u64))?
            }
            "remove_value" => {
                let v: Blob = args(a)?;
                let at = items.iter().position(|x| *x == v);
                if let Some(i) = at {
                    items.remove(i);
                }
                ret(out, &at.is_some())?
            }
            "reverse" => items.reverse(),
            // Replaces the whole list if it still is `expected` (a sort done by the client, which
            // alone can compare the items): false, and nothing changed, if another call came first.
            "replace_if" => {
                let (expected, new): (Vec<Blob>, Vec<Blob>) = args(a)?;
                let same = *items == expected;
                if same {
                    *items = new;
                }
                ret(out, &same)?
            }
            "index" => {
                let v: Blob = args(a)?;
                ret(out, &items.iter().position(|x| *x == v).map(|i| i as u64))?
            }
            "snapshot" => ret(out, &*items)?,
            _ => return Err(no_method(&self.tag, method)),
        }
        Ok(())
    }
}

/// `manager.dict()`: insertion-ordered like a Python dict.
pub(crate) struct DictObj {
    pub tag: String,
    pub map: Mutex<Dict>,
}

#[derive(Default)]
pub(crate) struct Dict {
    map: HashMap<Blob, (u64, Blob)>,
    next: u64,
}

impl Dict {
    fn insert(&mut self, k: Blob, v: Blob) -> Option<Blob> {
        match self.map.get_mut(&k) {
            Some(slot) => Some(std::mem::replace(&mut slot.1, v)),
            None => {
                self.next += 1;
                self.map.insert(k, (self.next, v));
                None
            }
        }
    }

    fn ordered(&self) -> Vec<(&Blob, &Blob)> {
        let mut all: Vec<(u64, &Blob, &Blob)> =
            self.map.iter().map(|(k, (s, v))| (*s, k, v)).collect();
        all.sort_unstable_by_key(|e| e.0);
        all.into_iter().map(|(_, k, v)| (k, v)).collect()
    }
}

impl Object for DictObj {
    fn quick(&self, method: &str) -> bool {
        matches!(
            method,
            "insert" | "get" | "contains" | "remove" | "popitem" | "setdefault" | "len"
        )
    }
    fn tag(&self) -> &str {
        &self.tag
    }
    fn call(
        &self,
        _: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut d = lock(&self.map);
        match method {
            "insert" => {
                let (k, v): (Blob, Blob) = args(a)?;
                ret(out, &d.insert(k, v))?
            }
            "get" => ret(out, &d.map.get(&args::<Blob>(a)?).map(|e| &e.1))?,
            "contains" => ret(out, &d.map.contains_key(&args::<Blob>(a)?))?,
            "remove" => ret(out, &d.map.remove(&args::<Blob>(a)?).map(|e| e.1))?,
            // The most recently inserted entry, as Python's LIFO `popitem`.
            "popitem" => {
                let last = d
                    .map
                    .iter()
                    .max_by_key(|(_, (seq, _))| *seq)
                    .map(|(k, _)| k.clone());
                let pair = last.and_then(|k| d.map.remove(&k).map(|(_, v)| (k, v)));
                ret(out, &pair)?
            }
            "setdefault" => {
                let (k, v): (Blob, Blob) = args(a)?;
                let cur = match d.map.get(&k) {
                    Some(e) => e.1.clone(),
                    None => {
                        d.insert(k, v.clone());
                        v
                    }
                };
                ret(out, &cur)?
            }
            "update" => {
                for (k, v) in args::<Vec<(Blob, Blob)>>(a)? {
                    d.insert(k, v);
                }
            }
            "len" => ret(out, &(d.map.len() as u64))?,
            "clear" => d.map.clear(),
            "keys" => ret(
                out,
                &d.ordered().into_iter().map(|e| e.0).collect::<Vec<_>>(),
            )?,
            "values" => ret(
                out,
                &d.ordered().into_iter().map(|e| e.1).collect::<Vec<_>>(),
            )?,
            "items" => ret(out, &d.ordered())?,
            _ => return Err(no_method(&self.tag, method)),
        }
        Ok(())
    }
}

/// `manager.Namespace()`: named attributes of any type.
pub(crate) struct NamespaceObj {
    pub attrs: Mutex<HashMap<String, Blob>>,
}

impl Object for NamespaceObj {
    fn quick(&self, method: &str) -> bool {
        matches!(method, "get" | "set" | "remove")
    }
    fn tag(&self) -> &str {
        "namespace"
    }
    fn call(
        &self,
        _: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut m = lock(&self.attrs);
        match method {
            "get" => ret(out, &m.get(&args::<String>(a)?))?,
            "set" => {
                let (k, v): (String, Blob) = args(a)?;
                m.insert(k, v);
            }
            "remove" => ret(out, &m.remove(&args::<String>(a)?).is_some())?,
            "names" => {
                let mut names: Vec<&String> = m.keys().collect();
                names.sort();
                ret(out, &names)?
            }
            _ => return Err(no_method("namespace", method)),
        }
        Ok(())
    }
}

/// `manager.Value(typecode, value)`.
pub(crate) struct ValueObj {
    pub tag: String,
    pub value: Mutex<Blob>,
}

impl Object for ValueObj {
    fn quick(&self, method: &str) -> bool {
        matches!(method, "get" | "set" | "swap")
    }
    fn tag(&self) -> &str {
        &self.tag
    }
    fn call(
        &self,
        _: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut v = lock(&self.value);
        match method {
            "get" => ret(out, &*v)?,
            "set" => *v = args(a)?,
            "swap" => {
                let new: Blob = args(a)?;
                ret(out, &std::mem::replace(&mut *v, new))?
            }
            _ => return Err(no_method(&self.tag, method)),
        }
        Ok(())
    }
}

/// `manager.set()` (Python has no registered set type; `manager.dict` keys are the usual stand-in,
/// and this is that, typed). Items compare by their encoded bytes.
pub(crate) struct SetObj {
    pub tag: String,
    pub items: Mutex<HashSet<Blob>>,
}

impl Object for SetObj {
    fn quick(&self, method: &str) -> bool {
        matches!(method, "add" | "discard" | "contains" | "len")
    }
    fn tag(&self) -> &str {
        &self.tag
    }
    fn call(
        &self,
        _: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut items = lock(&self.items);
        match method {
            "add" => ret(out, &items.insert(args(a)?))?,
            "extend" => {
                let new: Vec<Blob> = args(a)?;
                items.extend(new);
            }
            "discard" => ret(out, &items.remove(&args::<Blob>(a)?))?,
            "contains" => ret(out, &items.contains(&args::<Blob>(a)?))?,
            "len" => ret(out, &(items.len() as u64))?,
            "clear" => items.clear(),
            "pop" => {
                let any = items.iter().next().cloned();
                if let Some(b) = &any {
                    items.remove(b);
                }
                ret(out, &any)?
            }
            "snapshot" => ret(out, &items.iter().collect::<Vec<_>>())?,
            _ => return Err(no_method(&self.tag, method)),
        }
        Ok(())
    }
}

/// `manager.Array(typecode, sequence)`: a list whose length is fixed at creation.
pub(crate) struct ArrayObj {
    pub tag: String,
    pub items: Mutex<Vec<Blob>>,
}

impl Object for ArrayObj {
    fn quick(&self, method: &str) -> bool {
        matches!(method, "get" | "set" | "len")
    }
    fn tag(&self) -> &str {
        &self.tag
    }
    fn call(
        &self,
        _: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut items = lock(&self.items);
        let out_of_range = |i: u64, len: usize| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("array index {i} out of range for an array of {len} items"),
            )
        };
        match method {
            "get" => {
                let i: u64 = args(a)?;
                let v = items
                    .get(i as usize)
                    .ok_or_else(|| out_of_range(i, items.len()))?;
                ret(out, v)?
            }
            "set" => {
                let (i, v): (u64, Blob) = args(a)?;
                let len = items.len();
                *items
                    .get_mut(i as usize)
                    .ok_or_else(|| out_of_range(i, len))? = v;
            }
            "len" => ret(out, &(items.len() as u64))?,
            "snapshot" => ret(out, &*items)?,
            _ => return Err(no_method(&self.tag, method)),
        }
        Ok(())
    }
}
