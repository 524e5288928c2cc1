//! [`Value`] (a `T` in shared memory with its own robust lock) and [`RawValue`] (the same without the
//! lock). Python: `multiprocessing.Value` and `multiprocessing.sharedctypes.RawValue`.

use super::{Lock, RLock};
use crate::error::Result;
use crate::shm::data::Data;
use crate::shm::guard::{self, Acquire, MutexGuard};
use crate::shm::shareable::{AtomicShareable, Shareable};
use crate::sys::mutex::RobustMutex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// One `T` in shared memory, with a robust process-shared lock. Clones and copies sent to workers are
/// the same memory. Python: `Value('i', 0)`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::Value;
///
/// #[multiproc::worker]
/// fn add(counter: Value<u64>, n: u64) {
///     for _ in 0..n {
///         *counter.lock().unwrap() += 1;      // with counter.get_lock(): counter.value += 1
///     }
/// }
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     let counter = Value::new(0u64)?;
///     let workers = [add::spawn(counter.clone(), 1000)?, add::spawn(counter.clone(), 1000)?];
///     for w in workers { w.join()?; }
///     assert_eq!(counter.get()?, 2000);
///     Ok(())
/// }
/// ```
pub struct Value<T: Shareable> {
    data: Data<T>,
    /// A lock the caller supplied, taken instead of the block's own.
    lock: Option<AnyLock>,
}

/// A lock supplied to a [`Value`] or [`Array`](crate::Array) in place of its own (Python:
/// `Value('i', 0, lock=my_lock)`): a [`Lock`] or an [`RLock`], shared with whatever else uses it, so
/// that one lock guards several values, or a value and other work. `From` either.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::{Lock, Value};
/// let lock = Lock::new()?;
/// let a = Value::with_lock(1u32, lock.clone())?;
/// let b = Value::with_lock(2u32, lock.clone())?;
/// let held = lock.acquire()?;                  // guards both
/// assert!(a.try_lock()?.is_none() && b.try_lock()?.is_none());
/// drop(held);
/// assert_eq!(a.get()? + b.get()?, 3);
/// # Ok::<(), multiproc::Error>(())
/// ```
#[derive(Clone, Serialize, Deserialize, Debug)]
pub enum AnyLock {
    /// A [`Lock`]: a guard of the value while this thread holds the lock is an error, not a hang.
    Lock(Lock),
    /// An [`RLock`]: the holding thread may take the value's guard too.
    RLock(RLock),
}

impl AnyLock {
    #[inline]
    pub(crate) fn mutex(&self) -> &RobustMutex {
        match self {
            AnyLock::Lock(l) => l.mutex(),
            AnyLock::RLock(l) => l.mutex(),
        }
    }
}

impl From<Lock> for AnyLock {
    fn from(lock: Lock) -> AnyLock {
        AnyLock::Lock(lock)
    }
}

impl From<RLock> for AnyLock {
    fn from(lock: RLock) -> AnyLock {
        AnyLock::RLock(lock)
    }
}

/// Exclusive access to a [`Value`]'s `T` while its lock is held; unlocks when dropped.
///
/// If the previous holder died holding the lock, [`owner_died`](ValueGuard::owner_died) says so: the
/// value may be half-updated (like a poisoned `std::sync::Mutex`). The flag goes to that next
/// acquirer only.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let v = multiproc::Value::new([0u32; 4])?;
/// let mut g = v.lock()?;                       // with v.get_lock():
/// g[1] = 5;
/// drop(g);                                     // released
/// assert_eq!(v.get()?, [0, 5, 0, 0]);
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct ValueGuard<'a, T: Shareable> {
    held: MutexGuard<'a>,
    ptr: *mut T,
}

const WHAT: &str = "shared value's lock";

impl<T: Shareable> Value<T> {
    /// A new shared value holding `value`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let v = multiproc::Value::new(1.5f64)?;   // Value('d', 1.5)
    /// assert_eq!(v.get()?, 1.5);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new(value: T) -> Result<Value<T>> {
        let data = Data::<T>::zeroed(1)?;
        // SAFETY: the fresh block holds room for one T and nobody else sees it yet.
        unsafe { data.ptr().write(value) };
        Ok(Value { data, lock: None })
    }

    /// A new shared value guarded by `lock`, a [`Lock`] or [`RLock`] the caller supplies, instead of a
    /// lock of its own: [`lock`](Self::lock), [`get`](Self::get) and [`set`](Self::set) take it.
    /// Python: `Value('i', 0, lock=my_lock)`. (Python's `lock=False` is [`RawValue`].)
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let lock = multiproc::RLock::new()?;
    /// let v = multiproc::Value::with_lock(0i32, lock.clone())?;
    /// let _outer = lock.acquire()?;
    /// *v.lock()? += 1;                             // an RLock: the holder may take it again
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn with_lock(value: T, lock: impl Into<AnyLock>) -> Result<Value<T>> {
        let mut v = Value::new(value)?;
        v.lock = Some(lock.into());
        Ok(v)
    }

    /// The lock given to [`with_lock`](Self::with_lock), if any (`None`: the value has its own).
    /// Python: `v.get_lock()` for a value made with `lock=`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let v = multiproc::Value::with_lock(0u8, multiproc::Lock::new()?)?;
    /// assert!(matches!(v.supplied_lock(), Some(multiproc::AnyLock::Lock(_))));
    /// assert!(multiproc::Value::new(0u8)?.supplied_lock().is_none());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn supplied_lock(&self) -> Option<&AnyLock> {
        self.lock.as_ref()
    }

    #[inline]
    fn mutex(&self) -> &RobustMutex {
        match &self.lock {
            Some(l) => l.mutex(),
            None => self.data.lock(),
        }
    }

    #[inline]
    fn guard(&self, wait: Acquire) -> Result<Option<ValueGuard<'_, T>>> {
        Ok(
            guard::acquire(self.mutex(), WHAT, wait)?.map(|held| ValueGuard {
                held,
                ptr: self.data.ptr(),
            }),
        )
    }

    #[inline]
    fn guard_some(&self, wait: Acquire) -> Result<ValueGuard<'_, T>> {
        guard::acquire_some(self.mutex(), WHAT, wait).map(|held| ValueGuard {
            held,
            ptr: self.data.ptr(),
        })
    }

    /// Takes the lock, waiting as long as another thread or process holds it.
    /// Python: `with v.get_lock(): ...`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let v = multiproc::Value::new(0i32)?;
    /// let mut g = v.lock()?;
    /// *g += 1;
    /// assert!(!g.owner_died());
    /// # drop(g); assert_eq!(v.get()?, 1);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    #[inline]
    pub fn lock(&self) -> Result<ValueGuard<'_, T>> {
        self.guard_some(Acquire::Block)
    }

    /// Takes the lock if it is free: `Ok(None)` if another holds it.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let v = multiproc::Value::new(0i32)?;
    /// let g = v.try_lock()?.expect("nobody else holds it");
    /// # drop(g);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn try_lock(&self) -> Result<Option<ValueGuard<'_, T>>> {
        self.guard(Acquire::Try)
    }

    /// Takes the lock, giving up with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) after `timeout`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// use std::time::Duration;
    /// let v = multiproc::Value::new(0i32)?;
    /// *v.lock_timeout(Duration::from_millis(10))? = 7;
    /// assert_eq!(v.get()?, 7);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Result<ValueGuard<'_, T>> {
        self.guard_some(Acquire::Timeout(timeout))
    }

    /// A copy of the value, read under the lock. Python: `v.value`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::Value::new(3u8)?.get()?, 3);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn get(&self) -> Result<T>
    where
        T: Copy,
    {
        Ok(*self.lock()?)
    }

    /// Replaces the value under the lock. Python: `v.value = x`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let v = multiproc::Value::new(3u8)?;
    /// v.set(4)?;
    /// assert_eq!(v.get()?, 4);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn set(&self, value: T) -> Result<()>
    where
        T: Copy,
    {
        *self.lock()? = value;
        Ok(())
    }

    /// True when both handles are the same shared memory.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::Value::new(0u32)?;
    /// assert!(a.same(&a.clone()));
    /// assert!(!a.same(&multiproc::Value::new(0u32)?));
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn same(&self, other: &Value<T>) -> bool {
        self.data.same(&other.data)
    }
}

impl<T: Shareable> ValueGuard<'_, T> {
    /// True if the previous holder died while holding the lock: the value may be half-updated.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let v = multiproc::Value::new(0i32)?;
    /// assert!(!v.lock()?.owner_died());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn owner_died(&self) -> bool {
        self.held.owner_died()
    }
}

impl<T: Shareable> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held, so no other guard aliases the value; the block outlives 'a.
        unsafe { &*self.ptr }
    }
}

impl<T: Shareable> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; the guard is borrowed mutably, so this is the only reference.
        unsafe { &mut *self.ptr }
    }
}

impl<T: Shareable + std::fmt::Debug> std::fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueGuard")
            .field("value", &**self)
            .field("owner_died", &self.owner_died())
            .finish()
    }
}

/// One `T` in shared memory without a lock: reads and writes from several processes race, exactly as
/// in Python. Plain data is copied in and out with [`get`](RawValue::get) and [`set`](RawValue::set)
/// (each one copy, never a reference into memory another process writes); a `T` made only of atomics
/// ([`AtomicShareable`]) is borrowed through `Deref` instead. Python: `RawValue('i', 0)`.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// let hits = multiproc::RawValue::new(AtomicU64::new(0))?;
/// hits.fetch_add(1, Ordering::Relaxed);        // atomics need no lock
/// assert_eq!(hits.load(Ordering::Relaxed), 1);
///
/// let ready = multiproc::RawValue::new(false)?;
/// ready.set(true);                             // another process sees it with ready.get()
/// assert!(ready.get());
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct RawValue<T: Shareable> {
    data: Data<T>,
}

impl<T: Shareable> RawValue<T> {
    /// A new shared value holding `value`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let v = multiproc::RawValue::new(5i64)?;
    /// assert_eq!(v.get(), 5);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new(value: T) -> Result<RawValue<T>> {
        let data = Data::<T>::zeroed(1)?;
        // SAFETY: the fresh block holds room for one T and nobody else sees it yet.
        unsafe { data.ptr().write(value) };
        Ok(RawValue { data })
    }

    /// A copy of the value, read afresh from shared memory each call (so a loop on it sees other
    /// processes' writes). A concurrent write may be seen half-done, as in Python. Python: `v.value`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::RawValue::new(true)?.get(), true);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn get(&self) -> T
    where
        T: Copy,
    {
        let mut out = std::mem::MaybeUninit::<T>::uninit();
        // SAFETY: one element at index 0 exists; `out` is private and has room for it. Every write to
        // the block is a whole valid T (set, or a lock holder), and a type whose bytes could mix into
        // an invalid value is copied under the block's lock, so the bytes read form a valid T.
        unsafe {
            self.data.read_into(0, out.as_mut_ptr(), 1);
            out.assume_init()
        }
    }

    /// Overwrites the value (one copy, not atomic with respect to another process's
    /// [`get`](Self::get) or `set`). Python: `v.value = x`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let v = multiproc::RawValue::new(1u16)?;
    /// v.set(v.get() + 1);                    // racy across processes, like Python's RawValue
    /// assert_eq!(v.get(), 2);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn set(&self, value: T)
    where
        T: Copy,
    {
        // SAFETY: one element at index 0 exists; `value` is a valid private T.
        unsafe { self.data.write_from(0, &value, 1) }
    }

    /// The value's address in this process's mapping, for your own synchronised access (other
    /// processes read and write it concurrently; forming a `&T` or `&mut T` from it is up to you).
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let v = multiproc::RawValue::new(0u32)?;
    /// assert!(!v.as_ptr().is_null());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *mut T {
        self.data.ptr()
    }
}

/// A value made only of atomics is borrowed: every access to it is atomic.
impl<T: AtomicShareable> Deref for RawValue<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the block holds an initialised T for as long as the handle lives; T is made only of
        // atomics, so no process ever writes it non-atomically while this reference lives (set/get
        // need T: Copy, which no atomic is).
        unsafe { &*self.data.ptr() }
    }
}

macro_rules! handle_impls {
    ($ty:ident, locked) => {
        impl<T: Shareable> Clone for $ty<T> {
            /// Another handle to the same shared memory (and the same supplied lock, if any).
            fn clone(&self) -> Self {
                $ty {
                    data: self.data.clone(),
                    lock: self.lock.clone(),
                }
            }
        }

        impl<T: Shareable> Serialize for $ty<T> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                (&self.data, &self.lock).serialize(s)
            }
        }

        impl<'de, T: Shareable> Deserialize<'de> for $ty<T> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let (data, lock) = <(Data<T>, Option<$crate::sync::AnyLock>)>::deserialize(d)?;
                Ok($ty { data, lock })
            }
        }

        handle_impls!(@debug $ty);
    };
    ($ty:ident) => {
        impl<T: Shareable> Clone for $ty<T> {
            /// Another handle to the same shared memory.
            fn clone(&self) -> Self {
                $ty {
                    data: self.data.clone(),
                }
            }
        }

        impl<T: Shareable> Serialize for $ty<T> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                self.data.serialize(s)
            }
        }

        impl<'de, T: Shareable> Deserialize<'de> for $ty<T> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                Ok($ty {
                    data: Data::deserialize(d)?,
                })
            }
        }

        handle_impls!(@debug $ty);
    };
    (@debug $ty:ident) => {

        impl<T: Shareable> std::fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(
                    f,
                    "{}<{}>({} element{} in shared memory)",
                    stringify!($ty),
                    std::any::type_name::<T>(),
                    self.data.len(),
                    if self.data.len() == 1 { "" } else { "s" }
                )
            }
        }
    };
}
pub(crate) use handle_impls;

handle_impls!(Value, locked);
handle_impls!(RawValue);
