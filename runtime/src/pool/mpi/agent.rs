//! Every rank but 0: the node agent. It says hello (its node's CPU count and host name), then runs the
//! pool workers rank 0 asks for as local child processes of this binary, exactly as a local pool does
//! (`LocalProcesses`), and relays their frames. A worker that dies or is killed is seen here by its
//! closed channel and reported to rank 0, whose pool fails that task (`WorkerDied`) and starts a
//! replacement: one dead worker never takes the MPI job down. It leaves when rank 0 says the program
//! is over.

use super::service::Service;
use super::wire;
use crate::error::{Error, Result};
use crate::pool::transport::{LocalProcesses, Transport, WorkerLink};
use crate::protocol::child::{Failure, Report};
use crate::protocol::pool as pool_wire;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// Serves until rank 0 says `EXIT` (or the MPI thread ends), then finalizes MPI.
pub(crate) fn serve() -> Result<()> {
    let (tx, rx) = mpsc::channel::<(i32, Vec<u8>)>();
    let service = Service::start(Box::new(move |from, message| {
        let _ = tx.send((from, message));
    }))?;
    let mut hello = (crate::pool::cpu_count() as u32).to_le_bytes().to_vec();
    hello.extend_from_slice(crate::sys::identity::hostname().as_bytes());
    service.send(0, wire::with(wire::HELLO, 0, &hello));
    let mut links: HashMap<u32, Arc<dyn WorkerLink>> = HashMap::new();
    while let Ok((from, message)) = rx.recv() {
        if from != 0 {
            log::warn!(
                "multiproc: MPI agent ignored a message from rank {from} (only rank 0 sends work)"
            );
            continue;
        }
        let Ok((kind, id, payload)) = wire::parse(&message) else {
            log::warn!("multiproc: MPI agent dropped a malformed message");
            continue;
        };
        match kind {
            wire::START => start(&service, &mut links, id, payload),
            wire::FRAME => {
                if let Some(link) = links.get(&id) {
                    // A worker that is gone is reported by its reader thread.
                    let _ = link.send(payload, &[]);
                }
            }
            wire::FRAMES => {
                if let Some(link) = links.get(&id) {
                    let mut frames = Vec::new();
                    if wire::each_frame(payload, |f| frames.push(f)).is_ok() {
                        let _ = link.send_many(&mut frames.into_iter());
                    } else {
                        log::warn!("multiproc: MPI agent dropped a malformed FRAMES message");
                    }
                }
            }
            wire::KILL => {
                if let Some(link) = links.get(&id) {
                    link.kill();
                }
            }
            wire::REAP => {
                let grace = Duration::from_millis(wire::read_u64(payload).unwrap_or(0));
                let ended = match links.get(&id) {
                    Some(link) => {
                        let (link, service) = (link.clone(), service.clone());
                        // Off this thread: the other links keep being served meanwhile.
                        std::thread::Builder::new()
                            .name("multiproc-mpi-reap".into())
                            .spawn(move || {
                                let why = link.reap(grace).map(|e| Failure::of(&e));
                                service.send(0, wire::encoded(wire::ENDED, id, &why));
                            })
                            .is_ok()
                    }
                    None => false,
                };
                if !ended {
                    service.send(0, wire::encoded(wire::ENDED, id, &None::<Failure>));
                }
            }
            wire::DROP => {
                if let Some(link) = links.remove(&id) {
                    link.kill();
                }
            }
            wire::EXIT => break,
            other => log::warn!("multiproc: MPI agent dropped a message of unknown kind {other}"),
        }
    }
    for link in links.values() {
        link.kill();
    }
    // Dropping the links reaps the killed workers.
    drop(links);
    service.shutdown();
    Ok(())
}

/// Starts link `id`'s worker and a thread that relays what it sends.
fn start(
    service: &Arc<Service>,
    links: &mut HashMap<u32, Arc<dyn WorkerLink>>,
    id: u32,
    payload: &[u8],
) {
    let has_init = payload.first() == Some(&1);
    let transport = LocalProcesses {
        start_method: wire::method_of(payload.get(1).copied().unwrap_or(0)),
    };
    let link = match transport.start(id as usize, has_init) {
        Ok(link) => link,
        Err(e) => {
            service.send(0, wire::encoded(wire::START_FAILED, id, &Failure::of(&e)));
            return;
        }
    };
    // Queued before anything the reader relays: rank 0 learns the pid first.
    service.send(0, wire::with(wire::STARTED, id, &link.id().to_le_bytes()));
    let (reader, svc) = (link.clone(), service.clone());
    let spawned = std::thread::Builder::new()
        .name(format!("multiproc-mpi-link-{id}"))
        .spawn(move || relay(&svc, &*reader, id));
    if spawned.is_err() {
        link.kill();
        service.send(0, wire::bare(wire::GONE, id));
        return;
    }
    links.insert(id, link);
}

/// Sends every frame of the worker to rank 0 until its channel closes, then says it is gone. What the
/// worker has sent by the time one frame is read goes in the same MPI message.
fn relay(service: &Service, link: &dyn WorkerLink, id: u32) {
    /// A batch is sent once it holds this many bytes, whatever else is ready.
    const BATCH_BYTES: usize = 256 * 1024;
    let mut first = true;
    let mut batch = wire::frames(id);
    let mut deadline = None;
    loop {
        let received = link.recv(deadline, &mut |frame, fds| {
            if fds.is_empty() || first {
                wire::push_frame(&mut batch, frame);
            } else {
                // A result that holds a descriptor cannot leave this node: its chunk fails, with
                // a reason, and the worker goes on.
                let mut out = Vec::new();
                let mut out_fds = Vec::new();
                let why = super::descriptors_refused("a result");
                pool_wire::failed_reply(Report::failed(&why), &mut out, &mut out_fds);
                wire::push_frame(&mut batch, &out);
            }
            first = false;
            Ok::<(), Error>(())
        });
        match received {
            Ok(()) if batch.len() < BATCH_BYTES => {
                // Anything else already there joins this batch: a receive that would wait ends
                // at once.
                deadline = Some(std::time::Instant::now());
            }
            Ok(()) => {
                service.send(0, std::mem::replace(&mut batch, wire::frames(id)));
                deadline = None;
            }
            Err(e) if e.is_timeout() => {
                service.send(0, std::mem::replace(&mut batch, wire::frames(id)));
                deadline = None;
            }
            Err(_) => break,
        }
    }
    if batch.len() > 5 {
        service.send(0, batch);
    }
    service.send(0, wire::bare(wire::GONE, id));
}
