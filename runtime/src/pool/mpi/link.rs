//! Rank 0's side: the [`Session`] (the MPI thread, the agents that said hello, where each message goes)
//! and the pool's [`Transport`] over it. A pool worker is a *link*: a number rank 0 gives it, the agent
//! rank that runs it as a local child process, and an inbox of what that agent said about it. The
//! scheduler and supervisor see an ordinary [`WorkerLink`]: frames in order, `Disconnected` when the
//! worker is gone, `kill` and `reap` that the agent carries out on its node.

use super::service::Service;
use super::wire;
use crate::error::{Error, ErrorKind, Result};
use crate::poison::{lock, wait, wait_timeout};
use crate::pool::transport::{OnFrame, Transport, WorkerLink};
use crate::protocol::child::Failure;
use std::collections::{HashMap, VecDeque};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long rank 0 waits for every agent's hello, and for an agent to start a worker.
const AGENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `reap` waits for the agent's answer beyond the grace period it asked for.
const REAP_SLACK: Duration = Duration::from_secs(10);

/// One agent rank, as its hello described it.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    pub(crate) rank: i32,
    pub(crate) slots: u32,
    pub(crate) host: String,
}

/// What an agent said about one link.
#[derive(Default)]
struct InboxState {
    frames: VecDeque<Vec<u8>>,
    started: Option<std::result::Result<u32, Failure>>,
    gone: bool,
    ended: Option<Option<Failure>>,
    woken: bool,
}

#[derive(Default)]
struct Inbox {
    st: Mutex<InboxState>,
    cv: Condvar,
}

/// Where the MPI thread puts what arrives; shared by the session and the thread's callback.
#[derive(Default)]
struct Router {
    links: Mutex<HashMap<u32, Arc<Inbox>>>,
    agents: Mutex<Vec<Agent>>,
    agents_cv: Condvar,
}

impl Router {
    fn deliver(&self, from: i32, message: Vec<u8>) {
        let Ok((kind, link, payload)) = wire::parse(&message) else {
            log::warn!("multiproc: dropped a malformed MPI message from rank {from}");
            return;
        };
        if kind == wire::HELLO {
            let slots = wire::read_u32(payload).unwrap_or(1).max(1);
            let host = String::from_utf8_lossy(payload.get(4..).unwrap_or_default()).into_owned();
            lock(&self.agents).push(Agent {
                rank: from,
                slots,
                host,
            });
            self.agents_cv.notify_all();
            return;
        }
        // A link rank 0 has dropped: what its agent still says about it is moot.
        let Some(inbox) = lock(&self.links).get(&link).cloned() else {
            return;
        };
        let mut st = lock(&inbox.st);
        match kind {
            wire::FRAME => st.frames.push_back(payload.to_vec()),
            wire::FRAMES => {
                let parsed = wire::each_frame(payload, |f| st.frames.push_back(f.to_vec()));
                if parsed.is_err() {
                    log::warn!(
                        "multiproc: dropped the end of a malformed FRAMES message from rank {from}"
                    );
                }
            }
            wire::STARTED => {
                st.started = Some(wire::read_u32(payload).map_err(|e| Failure::of(&e)));
            }
            wire::START_FAILED => {
                st.started = Some(Err(
                    wire::decode::<Failure>(payload).unwrap_or_else(|e| Failure::of(&e))
                ));
            }
            wire::GONE => st.gone = true,
            wire::ENDED => {
                st.ended = Some(
                    wire::decode::<Option<Failure>>(payload)
                        .unwrap_or_else(|e| Some(Failure::of(&e))),
                );
            }
            _ => {
                log::warn!(
                    "multiproc: dropped an MPI message of unknown kind {kind} from rank {from}"
                );
                return;
            }
        }
        drop(st);
        inbox.cv.notify_all();
    }
}

/// Rank 0's MPI session: started by `#[multiproc::main]` when the program runs under an MPI launcher
/// with more than one rank, ended (every agent told to leave, MPI finalized) when `main` returns.
pub(crate) struct Session {
    service: Arc<Service>,
    router: Arc<Router>,
    next_link: AtomicU32,
    finished: AtomicBool,
}

impl Session {
    pub(crate) fn start() -> Result<Session> {
        let router = Arc::new(Router::default());
        let r = router.clone();
        let service = Service::start(Box::new(move |from, message| r.deliver(from, message)))?;
        Ok(Session {
            service,
            router,
            next_link: AtomicU32::new(1),
            finished: AtomicBool::new(false),
        })
    }

    /// `main` has ended: MPI is finalized.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }

    /// The world's size: rank 0 and the agents.
    pub(crate) fn size(&self) -> usize {
        self.service.size() as usize
    }

    /// Every agent, once each has said hello (in rank order).
    pub(crate) fn agents(&self) -> Result<Vec<Agent>> {
        let want = self.size() - 1;
        let deadline = Instant::now() + AGENT_TIMEOUT;
        let mut agents = lock(&self.router.agents);
        while agents.len() < want {
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "only {} of the {want} MPI agent ranks said hello within {AGENT_TIMEOUT:?}: \
                         were they started from the same binary, with #[multiproc::main]?",
                        agents.len()
                    ),
                ));
            }
            agents = wait_timeout(&self.router.agents_cv, agents, deadline - now);
        }
        let mut all = agents.clone();
        all.sort_by_key(|a| a.rank);
        Ok(all)
    }

    /// Forgets link `id` here and on its agent `rank`, which kills and reaps what is left of it.
    fn forget(&self, rank: i32, id: u32) {
        lock(&self.router.links).remove(&id);
        self.service.send(rank, wire::bare(wire::DROP, id));
    }

    /// Tells every agent to leave, waits for the messages to go, and finalizes MPI.
    pub(crate) fn finish(&self) {
        if self.finished.swap(true, Ordering::SeqCst) {
            return;
        }
        for rank in 1..self.service.size() {
            self.service.send(rank, wire::bare(wire::EXIT, 0));
        }
        self.service.shutdown();
    }
}

/// The pool's workers on agent ranks: worker `i` runs on `placement[i % len]`.
pub(crate) struct MpiTransport {
    session: Arc<Session>,
    placement: Vec<i32>,
    start_method: Option<crate::method::StartMethod>,
}

impl MpiTransport {
    /// Workers spread over `agents` one slot at a time, round the ranks (the first slot of every
    /// agent, then the second, ...), so a pool smaller than the world still uses every node.
    pub(crate) fn new(
        session: Arc<Session>,
        agents: &[Agent],
        start_method: Option<crate::method::StartMethod>,
    ) -> MpiTransport {
        for a in agents {
            log::debug!(
                "multiproc: MPI agent rank {} on host {} offers {} workers",
                a.rank,
                a.host,
                a.slots
            );
        }
        let most = agents.iter().map(|a| a.slots).max().unwrap_or(1);
        let placement = (0..most)
            .flat_map(|slot| {
                agents
                    .iter()
                    .filter(move |a| a.slots > slot)
                    .map(|a| a.rank)
            })
            .collect();
        MpiTransport {
            session,
            placement,
            start_method,
        }
    }
}

impl Transport for MpiTransport {
    fn start(&self, index: usize, has_init: bool) -> Result<Arc<dyn WorkerLink>> {
        let rank = self.placement[index % self.placement.len()];
        let session = &self.session;
        let id = session.next_link.fetch_add(1, Ordering::Relaxed);
        let inbox = Arc::new(Inbox::default());
        lock(&session.router.links).insert(id, inbox.clone());
        session.service.send(
            rank,
            wire::with(
                wire::START,
                id,
                &[u8::from(has_init), wire::method_code(self.start_method)],
            ),
        );
        let deadline = Instant::now() + AGENT_TIMEOUT;
        let mut st = lock(&inbox.st);
        let started = loop {
            if let Some(s) = st.started.take() {
                break s;
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(Failure::of(&Error::timeout(
                    &format!("starting a pool worker on MPI rank {rank}"),
                    AGENT_TIMEOUT,
                )));
            }
            st = wait_timeout(&inbox.cv, st, deadline - now);
        };
        drop(st);
        match started {
            Ok(pid) => Ok(Arc::new(MpiLink {
                session: session.clone(),
                rank,
                link: id,
                pid,
                inbox,
            })),
            Err(f) => {
                // Forgotten here and there: an agent that starts it late kills it.
                session.forget(rank, id);
                Err(wire::failure_error(f))
            }
        }
    }

    fn carries_fds(&self) -> bool {
        false
    }

    fn prefetch(&self) -> usize {
        // A round trip through two MPI hops and the agent is several times a local one.
        128
    }

    fn latency(&self) -> Duration {
        // Two MPI hops and the agent's relay, on a loaded node.
        Duration::from_millis(1)
    }
}

/// One worker on an agent rank.
struct MpiLink {
    session: Arc<Session>,
    rank: i32,
    /// The link's number (not its worker's pid: that is `pid`, what [`WorkerLink::id`] returns).
    link: u32,
    pid: u32,
    inbox: Arc<Inbox>,
}

impl WorkerLink for MpiLink {
    fn id(&self) -> u32 {
        self.pid
    }

    fn send(&self, frame: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        if !fds.is_empty() {
            return Err(super::descriptors_refused("a task"));
        }
        self.session
            .service
            .send(self.rank, wire::with(wire::FRAME, self.link, frame));
        Ok(())
    }

    fn send_many(&self, frames: &mut dyn Iterator<Item = &[u8]>) -> Result<()> {
        // One MPI message for the lot.
        let mut message = wire::frames(self.link);
        for frame in frames {
            wire::push_frame(&mut message, frame);
        }
        self.session.service.send(self.rank, message);
        Ok(())
    }

    fn recv(&self, deadline: Option<Instant>, f: &mut OnFrame<'_>) -> Result<()> {
        let mut st = lock(&self.inbox.st);
        loop {
            if let Some(frame) = st.frames.pop_front() {
                drop(st);
                return f(&frame, Vec::new());
            }
            if st.gone {
                return Err(Error::disconnected(format!(
                    "pool worker pid {} on MPI rank {} is gone",
                    self.pid, self.rank
                )));
            }
            st = match deadline {
                None => wait(&self.inbox.cv, st),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(Error::new(
                            ErrorKind::Timeout,
                            "no reply from the pool worker before the deadline",
                        ));
                    }
                    wait_timeout(&self.inbox.cv, st, d - now)
                }
            };
        }
    }

    fn wait(&self) -> Result<bool> {
        let mut st = lock(&self.inbox.st);
        loop {
            if !st.frames.is_empty() || st.gone {
                return Ok(true);
            }
            if st.woken {
                st.woken = false;
                return Ok(false);
            }
            st = wait(&self.inbox.cv, st);
        }
    }

    fn wake(&self) {
        lock(&self.inbox.st).woken = true;
        self.inbox.cv.notify_all();
    }

    fn kill(&self) {
        self.session
            .service
            .send(self.rank, wire::bare(wire::KILL, self.link));
    }

    fn reap(&self, grace: Duration) -> Option<Error> {
        let ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        self.session.service.send(
            self.rank,
            wire::with(wire::REAP, self.link, &ms.to_le_bytes()),
        );
        let deadline = Instant::now() + grace + REAP_SLACK;
        let mut st = lock(&self.inbox.st);
        loop {
            if let Some(ended) = st.ended.take() {
                return ended.map(wire::failure_error);
            }
            let now = Instant::now();
            if now >= deadline {
                return Some(Error::timeout(
                    &format!("the MPI agent on rank {} reaping a pool worker", self.rank),
                    grace + REAP_SLACK,
                ));
            }
            st = wait_timeout(&self.inbox.cv, st, deadline - now);
        }
    }
}

impl Drop for MpiLink {
    fn drop(&mut self) {
        // Whatever is left of the worker is killed and reaped by its agent.
        self.session.forget(self.rank, self.link);
    }
}
