//! [`Array`] (a fixed-length `[T]` in shared memory with its own robust lock) and [`RawArray`] (the
//! same without the lock). Python: `multiprocessing.Array` and `sharedctypes.RawArray`.

use super::value::{AnyLock, handle_impls};
use crate::error::{Error, ErrorKind, Result};
use crate::shm::data::Data;
use crate::shm::guard::{self, Acquire, MutexGuard};
use crate::shm::shareable::{AtomicShareable, Shareable};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// A fixed-length `[T]` in shared memory, with a robust process-shared lock. Clones and copies sent to
/// workers are the same memory. Python: `Array('d', [1.0, 2.0])`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::Array;
///
/// #[multiproc::worker]
/// fn square_all(a: Array<f64>) {
///     for x in a.lock().unwrap().iter_mut() {
///         *x *= *x;
///     }
/// }
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     let a = Array::from_slice(&[1.0, 2.0, 3.0, 4.0])?;
///     square_all::spawn(a.clone())?.join()?;
///     assert_eq!(a.to_vec()?, [1.0, 4.0, 9.0, 16.0]);
///     Ok(())
/// }
/// ```
pub struct Array<T: Shareable> {
    data: Data<T>,
    /// A lock the caller supplied, taken instead of the block's own.
    lock: Option<AnyLock>,
}

/// Exclusive access to an [`Array`]'s elements while its lock is held; derefs to `[T]` and unlocks
/// when dropped. [`owner_died`](ArrayGuard::owner_died) reports a previous holder that died holding it.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let a = multiproc::Array::from_slice(&[3, 1, 2])?;
/// a.lock()?.sort();                            // any slice method, under the lock
/// assert_eq!(a.to_vec()?, [1, 2, 3]);
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct ArrayGuard<'a, T: Shareable> {
    held: MutexGuard<'a>,
    ptr: *mut T,
    len: usize,
}

const WHAT: &str = "shared array's lock";

fn copy_in<T: Copy + Shareable>(data: &Data<T>, values: &[T]) {
    // SAFETY: the fresh block has room for values.len() elements and nobody else sees it yet.
    unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), data.ptr(), values.len()) };
}

fn out_of_range(index: usize, len: usize) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("index {index} is out of range for a shared array of {len} elements"),
    )
}

impl<T: Shareable> Array<T> {
    /// `len` zero-valued elements. Python: `Array('d', 8)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::Array::<u32>::new(3)?;
    /// assert_eq!(a.to_vec()?, [0, 0, 0]);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new(len: usize) -> Result<Array<T>> {
        Ok(Array {
            data: Data::zeroed(len)?,
            lock: None,
        })
    }

    /// `len` zero-valued elements guarded by `lock`, a [`Lock`](crate::Lock) or
    /// [`RLock`](crate::RLock) the caller supplies, instead of a lock of their own (see
    /// [`Value::with_lock`](crate::Value::with_lock)). Python: `Array('d', 8, lock=my_lock)`. (Python's
    /// `lock=False` is [`RawArray`].)
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let lock = multiproc::Lock::new()?;
    /// let a = multiproc::Array::<u32>::with_lock(3, lock.clone())?;
    /// let held = lock.acquire()?;
    /// assert!(a.try_lock()?.is_none());
    /// # drop(held);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn with_lock(len: usize, lock: impl Into<AnyLock>) -> Result<Array<T>> {
        Ok(Array {
            data: Data::zeroed(len)?,
            lock: Some(lock.into()),
        })
    }

    /// A copy of `values` guarded by `lock` (see [`with_lock`](Self::with_lock)). Python:
    /// `Array('i', [1, 2, 3], lock=my_lock)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::Array::from_slice_with_lock(&[1, 2], multiproc::RLock::new()?)?;
    /// assert_eq!(a.to_vec()?, [1, 2]);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn from_slice_with_lock(values: &[T], lock: impl Into<AnyLock>) -> Result<Array<T>>
    where
        T: Copy,
    {
        let mut a = Array::from_slice(values)?;
        a.lock = Some(lock.into());
        Ok(a)
    }

    /// The lock given to [`with_lock`](Self::with_lock), if any (`None`: the array has its own).
    /// Python: `a.get_lock()` for an array made with `lock=`.
    pub fn supplied_lock(&self) -> Option<&AnyLock> {
        self.lock.as_ref()
    }

    #[inline]
    fn mutex(&self) -> &crate::sys::mutex::RobustMutex {
        match &self.lock {
            Some(l) => l.mutex(),
            None => self.data.lock(),
        }
    }

    /// A copy of `values`. Python: `Array('i', [1, 2, 3])`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::Array::from_slice(&[1, 2, 3])?;
    /// assert_eq!(a.len(), 3);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn from_slice(values: &[T]) -> Result<Array<T>>
    where
        T: Copy,
    {
        let data = Data::zeroed(values.len())?;
        copy_in(&data, values);
        Ok(Array { data, lock: None })
    }

    /// Number of elements. Python: `len(a)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::Array::<f32>::new(5)?.len(), 5);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for an array of no elements.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert!(multiproc::Array::<u8>::new(0)?.is_empty());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.data.len() == 0
    }

    #[inline]
    fn wrap<'a>(&'a self, held: MutexGuard<'a>) -> ArrayGuard<'a, T> {
        ArrayGuard {
            held,
            ptr: self.data.ptr(),
            len: self.data.len(),
        }
    }

    /// Takes the lock, waiting as long as another thread or process holds it.
    /// Python: `with a.get_lock(): ...`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::Array::from_slice(&[1, 2])?;
    /// a.lock()?.reverse();
    /// assert_eq!(a.to_vec()?, [2, 1]);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    #[inline]
    pub fn lock(&self) -> Result<ArrayGuard<'_, T>> {
        guard::acquire_some(self.mutex(), WHAT, Acquire::Block).map(|h| self.wrap(h))
    }

    /// Takes the lock if it is free: `Ok(None)` if another holds it.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::Array::<u8>::new(2)?;
    /// assert!(a.try_lock()?.is_some());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn try_lock(&self) -> Result<Option<ArrayGuard<'_, T>>> {
        Ok(guard::acquire(self.mutex(), WHAT, Acquire::Try)?.map(|h| self.wrap(h)))
    }

    /// Takes the lock, giving up with [`ErrorKind::Timeout`] after `timeout`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::Array::<u8>::new(2)?;
    /// a.lock_timeout(std::time::Duration::from_millis(5))?[0] = 9;
    /// assert_eq!(a.get(0)?, 9);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Result<ArrayGuard<'_, T>> {
        guard::acquire_some(self.mutex(), WHAT, Acquire::Timeout(timeout)).map(|h| self.wrap(h))
    }

    /// Element `index`, read under the lock. Python: `a[i]`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::Array::from_slice(&[7, 8])?;
    /// assert_eq!(a.get(1)?, 8);
    /// assert!(a.get(2).is_err());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn get(&self, index: usize) -> Result<T>
    where
        T: Copy,
    {
        let g = self.lock()?;
        g.get(index)
            .copied()
            .ok_or_else(|| out_of_range(index, g.len()))
    }

    /// Sets element `index` under the lock. Python: `a[i] = x`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::Array::<i8>::new(2)?;
    /// a.set(1, -1)?;
    /// assert_eq!(a.to_vec()?, [0, -1]);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn set(&self, index: usize, value: T) -> Result<()>
    where
        T: Copy,
    {
        let mut g = self.lock()?;
        let len = g.len();
        let slot = g.get_mut(index).ok_or_else(|| out_of_range(index, len))?;
        *slot = value;
        Ok(())
    }

    /// A copy of every element, read under the lock. Python: `a[:]`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::Array::from_slice(&[1.5])?.to_vec()?, [1.5]);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn to_vec(&self) -> Result<Vec<T>>
    where
        T: Copy,
    {
        Ok(self.lock()?.to_vec())
    }
}

impl<T: Shareable> ArrayGuard<'_, T> {
    /// True if the previous holder died while holding the lock: elements may be half-updated.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::Array::<u8>::new(1)?;
    /// assert!(!a.lock()?.owner_died());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn owner_died(&self) -> bool {
        self.held.owner_died()
    }
}

impl<T: Shareable> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the lock is held, so no other guard aliases the elements; `len` initialised
        // (zero-valid) elements live in the block, which outlives the guard.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: Shareable> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in deref; the guard is borrowed mutably, so this is the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl<T: Shareable + std::fmt::Debug> std::fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrayGuard")
            .field("elements", &&**self)
            .field("owner_died", &self.owner_died())
            .finish()
    }
}

/// A fixed-length `[T]` in shared memory without a lock: reads and writes from several processes race,
/// as in Python. Plain data is copied in and out ([`get`](RawArray::get), [`set`](RawArray::set), and
/// in bulk at memory speed with [`copy_to`](RawArray::copy_to) / [`to_vec`](RawArray::to_vec)), never
/// borrowed while another process may write it; an array of atomics ([`AtomicShareable`]) derefs to
/// `[T]`. Python: `RawArray('d', n)`.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let a = multiproc::RawArray::from_slice(&[1.0f64; 8])?;
/// let total: f64 = a.to_vec().iter().sum();   // a[:], one bulk copy
/// assert_eq!(total, 8.0);
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct RawArray<T: Shareable> {
    data: Data<T>,
}

impl<T: Shareable> RawArray<T> {
    /// `len` zero-valued elements. Python: `RawArray('d', 8)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::RawArray::<u64>::new(4)?.len(), 4);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new(len: usize) -> Result<RawArray<T>> {
        Ok(RawArray {
            data: Data::zeroed(len)?,
        })
    }

    /// A copy of `values`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::RawArray::from_slice(&[1u8, 2])?.to_vec(), [1, 2]);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn from_slice(values: &[T]) -> Result<RawArray<T>>
    where
        T: Copy,
    {
        let data = Data::zeroed(values.len())?;
        copy_in(&data, values);
        Ok(RawArray { data })
    }

    /// Number of elements. Python: `len(a)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::RawArray::<f32>::new(5)?.len(), 5);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for an array of no elements.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert!(multiproc::RawArray::<u8>::new(0)?.is_empty());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.data.len() == 0
    }

    /// Element `index`, read afresh from shared memory (it may see another process's write
    /// half-done). Python: `a[i]`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::RawArray::from_slice(&[7, 8])?;
    /// assert_eq!(a.get(1)?, 8);
    /// assert!(a.get(2).is_err());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn get(&self, index: usize) -> Result<T>
    where
        T: Copy,
    {
        if index >= self.data.len() {
            return Err(out_of_range(index, self.data.len()));
        }
        let mut out = std::mem::MaybeUninit::<T>::uninit();
        // SAFETY: index is in bounds and `out` is private; every write to the block is a whole valid
        // T, and a type that could tear is copied under the block's lock (see Data::read_into).
        unsafe {
            self.data.read_into(index, out.as_mut_ptr(), 1);
            Ok(out.assume_init())
        }
    }

    /// Sets element `index` (one copy; other processes may read it half-done). Python: `a[i] = x`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::RawArray::<u32>::new(2)?;
    /// a.set(0, 5)?;
    /// assert_eq!(a.get(0)?, 5);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn set(&self, index: usize, value: T) -> Result<()>
    where
        T: Copy,
    {
        if index >= self.data.len() {
            return Err(out_of_range(index, self.data.len()));
        }
        // SAFETY: index is in bounds; `value` is a valid private T.
        unsafe { self.data.write_from(index, &value, 1) };
        Ok(())
    }

    /// Copies every element into `dst`, which must have [`len`](Self::len) elements, in one bulk copy
    /// at memory speed ([`ErrorKind::InvalidInput`] otherwise). Python: `a[:]` into a buffer.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::RawArray::from_slice(&[1.0, 2.0])?;
    /// let mut buf = [0.0; 2];
    /// a.copy_to(&mut buf)?;
    /// assert_eq!(buf, [1.0, 2.0]);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn copy_to(&self, dst: &mut [T]) -> Result<()>
    where
        T: Copy,
    {
        if dst.len() != self.data.len() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "copy_to needs a buffer of {} elements, the shared array's length, not {}",
                    self.data.len(),
                    dst.len()
                ),
            ));
        }
        // SAFETY: both ranges hold len elements; dst is private memory.
        unsafe { self.data.read_into(0, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// Copies `dst.len()` elements starting at `start` into `dst` (one bulk copy;
    /// [`ErrorKind::InvalidInput`] if they run past the end). Reading a large array in cache-sized
    /// pieces this way processes it at memory speed without a full copy. Python: `a[start:start+n]`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::RawArray::from_slice(&[1u32, 2, 3, 4, 5])?;
    /// let (mut buf, mut total) = ([0u32; 2], 0);
    /// for start in (0..a.len()).step_by(2) {
    ///     let n = buf.len().min(a.len() - start);
    ///     a.read_at(start, &mut buf[..n])?;
    ///     total += buf[..n].iter().sum::<u32>();
    /// }
    /// assert_eq!(total, 15);
    /// assert!(a.read_at(4, &mut buf).is_err());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn read_at(&self, start: usize, dst: &mut [T]) -> Result<()>
    where
        T: Copy,
    {
        let len = self.data.len();
        if start.checked_add(dst.len()).is_none_or(|end| end > len) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "elements {start}..{} are out of range for a shared array of {len} elements",
                    start.saturating_add(dst.len())
                ),
            ));
        }
        // SAFETY: start + dst.len() <= len (checked); dst is private memory.
        unsafe { self.data.read_into(start, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// A copy of every element (one bulk copy). Python: `a[:]`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::RawArray::from_slice(&[3u16, 4])?.to_vec(), [3, 4]);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn to_vec(&self) -> Vec<T>
    where
        T: Copy,
    {
        let len = self.data.len();
        let mut out = Vec::<T>::with_capacity(len);
        // SAFETY: the Vec has room for len elements; every byte is written by the copy (valid Ts, as
        // in get) before set_len.
        unsafe {
            self.data.read_into(0, out.as_mut_ptr(), len);
            out.set_len(len);
        }
        out
    }

    /// The first element's address in this process's mapping, for your own synchronised access
    /// (other processes read and write it concurrently).
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert!(!multiproc::RawArray::<u8>::new(4)?.as_ptr().is_null());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *mut T {
        self.data.ptr()
    }
}

/// An array of atomics is borrowed as a slice: every access to it is atomic.
impl<T: AtomicShareable> Deref for RawArray<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` initialised (zero-valid) elements live in the block for as long as the handle;
        // they are made only of atomics, so no process writes them non-atomically meanwhile.
        unsafe { std::slice::from_raw_parts(self.data.ptr(), self.data.len()) }
    }
}

handle_impls!(Array, locked);
handle_impls!(RawArray);
