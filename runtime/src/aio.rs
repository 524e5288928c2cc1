//! Async waiting without a thread per wait (feature `async`): every pending `*_async` call of this
//! process is watched by one helper thread, the *waker*, which wakes the task when its handle may
//! be ready; the task then retries the call without blocking. Runtime-agnostic: the futures use
//! only `std::task::Waker`, so they run on tokio (current-thread and multi-thread, both tested),
//! async-std, smol or a hand-written executor.
//!
//! How the waker watches:
//! - **Descriptors** (a connection's socket, a child's pidfd and socket) go into one `poll(2)` over
//!   all of them: readiness wakes the task at once.
//! - **Shared-memory words** (a queue's ring, an event) are futex-based and have no descriptor: the
//!   waker checks them between polls, every 50 µs at first, backing off to 1 ms while nothing
//!   changes. A check is a few atomic loads. With no async call pending, the waker sleeps.
//! - A new wait rings the waker's bell (a socket pair), so it is watched from the moment it starts.
//!
//! Cancellation: a future that is dropped before it completes has taken nothing (it only ever
//! takes a message in `poll`, at once, after the waker said ready), so the next call gets it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// What a wait is ready on.
pub(crate) enum Ready {
    /// A descriptor becomes readable (shared with the waker's poll, which holds it open for the
    /// round even if the wait is dropped meanwhile).
    Fd(Arc<OwnedFd>),
    /// A check of shared state turns true.
    Check(Box<dyn Fn() -> bool + Send + Sync>),
}

struct Entry {
    id: u64,
    ready: Ready,
    waker: Waker,
}

struct Waiter {
    entries: Mutex<Vec<Entry>>,
    next_id: std::sync::atomic::AtomicU64,
    bell: UnixStream,
}

static WAITER: OnceLock<Option<Arc<Waiter>>> = OnceLock::new();

const FIRST_SLICE: Duration = Duration::from_micros(50);
const LONGEST_SLICE: Duration = Duration::from_millis(1);

fn waiter() -> Option<&'static Arc<Waiter>> {
    WAITER
        .get_or_init(|| {
            let (bell, listen) = UnixStream::pair().ok()?;
            listen.set_nonblocking(true).ok()?;
            bell.set_nonblocking(true).ok()?;
            let w = Arc::new(Waiter {
                entries: Mutex::new(Vec::new()),
                next_id: std::sync::atomic::AtomicU64::new(1),
                bell,
            });
            let run = Arc::clone(&w);
            std::thread::Builder::new()
                .name("multiproc-async-waker".into())
                .spawn(move || run.serve(listen))
                .ok()?;
            Some(w)
        })
        .as_ref()
}

impl Waiter {
    fn add(&self, ready: Ready, waker: Waker) -> u64 {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::poison::lock(&self.entries).push(Entry { id, ready, waker });
        self.ring();
        id
    }

    fn remove(&self, id: u64) {
        crate::poison::lock(&self.entries).retain(|e| e.id != id);
    }

    fn ring(&self) {
        use std::io::Write;
        // A full bell already rings; any other failure leaves the wait to the next round.
        let _ = (&self.bell).write(&[1]);
    }

    fn serve(&self, listen: UnixStream) {
        let mut slice = FIRST_SLICE;
        loop {
            // Wake the checks that hold; note the descriptors to poll.
            let (watched, checks) = {
                let mut entries = crate::poison::lock(&self.entries);
                let before = entries.len();
                entries.retain(|e| match &e.ready {
                    Ready::Check(check) if check() => {
                        e.waker.wake_by_ref();
                        false
                    }
                    _ => true,
                });
                if entries.len() != before {
                    slice = FIRST_SLICE;
                }
                let watched: Vec<(u64, Arc<OwnedFd>)> = entries
                    .iter()
                    .filter_map(|e| match &e.ready {
                        Ready::Fd(fd) => Some((e.id, Arc::clone(fd))),
                        Ready::Check(_) => None,
                    })
                    .collect();
                let checks = entries.iter().any(|e| matches!(e.ready, Ready::Check(_)));
                (watched, checks)
            };
            let mut pfds: Vec<crate::sys::net::PollFd> = Vec::with_capacity(watched.len() + 1);
            pfds.push(crate::sys::net::readable(listen.as_fd()));
            pfds.extend(
                watched
                    .iter()
                    .map(|(_, f)| crate::sys::net::readable(f.as_fd())),
            );
            // Nothing shared-memory to check: sleep until a descriptor or the bell.
            let timeout = if checks {
                slice.as_micros().div_ceil(1000).max(1) as i32
            } else {
                -1
            };
            let _ = crate::sys::net::poll(&mut pfds, timeout);
            if pfds[0].revents != 0 {
                drain(&listen);
                slice = FIRST_SLICE;
            } else {
                slice = (slice * 2).min(LONGEST_SLICE);
            }
            let fired: Vec<u64> = pfds[1..]
                .iter()
                .zip(&watched)
                .filter(|(p, _)| p.revents != 0)
                .map(|(_, (id, _))| *id)
                .collect();
            if !fired.is_empty() {
                crate::poison::lock(&self.entries).retain(|e| {
                    let hit = fired.contains(&e.id);
                    if hit {
                        e.waker.wake_by_ref();
                    }
                    !hit
                });
            }
        }
    }
}

fn drain(s: &UnixStream) {
    use std::io::Read;
    let mut buf = [0u8; 64];
    while matches!((&*s).read(&mut buf), Ok(n) if n > 0) {}
}

/// A future that completes once `ready` may hold (the caller then retries without blocking).
pub(crate) struct Readiness {
    ready: Option<Ready>,
    /// The waker's entry for this wait, once registered.
    registered: Option<u64>,
}

impl Drop for Readiness {
    /// A cancelled wait leaves nothing behind in the waker.
    fn drop(&mut self) {
        if let (Some(id), Some(w)) = (self.registered, WAITER.get().and_then(Option::as_ref)) {
            w.remove(id);
        }
    }
}

/// Waits until a check of shared state turns true.
pub(crate) fn check(f: impl Fn() -> bool + Send + Sync + 'static) -> Readiness {
    Readiness {
        ready: Some(Ready::Check(Box::new(f))),
        registered: None,
    }
}

/// Waits until `fd` is readable (a duplicate is watched, so the caller's descriptor may close).
pub(crate) fn readable(fd: BorrowedFd<'_>) -> std::io::Result<Readiness> {
    Ok(Readiness {
        ready: Some(Ready::Fd(Arc::new(fd.try_clone_to_owned()?))),
        registered: None,
    })
}

impl std::future::Future for Readiness {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.registered.is_some() {
            // Woken (or polled again by the executor): let the caller retry.
            return Poll::Ready(());
        }
        let Some(ready) = self.ready.take() else {
            return Poll::Ready(());
        };
        if let Ready::Check(check) = &ready
            && check()
        {
            return Poll::Ready(());
        }
        match waiter() {
            Some(w) => {
                self.registered = Some(w.add(ready, cx.waker().clone()));
                Poll::Pending
            }
            // No helper thread could start: retry at once (a busy wait beats a hang).
            None => {
                cx.waker().wake_by_ref();
                Poll::Ready(())
            }
        }
    }
}
