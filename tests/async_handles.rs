//! Async handles (feature `async`) under both tokio flavours: hundreds of children awaited on one
//! thread, a killed child, queue traffic, cancellation that loses nothing, pool results, a pipe, an
//! event, a full bounded queue and a joinable queue's join, all across real processes.
#![cfg(feature = "async")]

use multiproc::{ErrorKind, Event, JoinableQueue, Pool, Queue, worker};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

fn both_flavours(f: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(f());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
        .block_on(f());
}

#[worker]
fn square(x: u64) -> u64 {
    x * x
}

#[worker]
fn sleep_forever() {
    std::thread::sleep(Duration::from_secs(600));
}

#[multiproc::test]
fn hundreds_of_children_are_awaited_on_one_thread() {
    both_flavours(|| {
        Box::pin(async {
            let children: Vec<_> = (0..150u64).map(|i| square::spawn(i).unwrap()).collect();
            let joins = children.into_iter().map(|p| p.join_async());
            let results = tokio::time::timeout(LONG, futures_join_all(joins))
                .await
                .unwrap();
            for (i, r) in results.into_iter().enumerate() {
                assert_eq!(r.unwrap(), (i * i) as u64);
            }
        })
    });
}

/// `join_all` without a futures dependency: spawn each on the runtime (they are `Send + 'static`).
async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[multiproc::test]
fn a_killed_child_is_worker_died_at_once() {
    both_flavours(|| {
        Box::pin(async {
            let mut p = sleep_forever::spawn().unwrap();
            let pid = p.pid();
            p.kill().unwrap();
            let err = tokio::time::timeout(Duration::from_secs(10), p.join_async())
                .await
                .expect("join_async must not hang on a killed child")
                .unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::WorkerDied { pid: p, .. } if *p == pid as i32),
                "{err}"
            );
        })
    });
}

#[worker]
fn produce_later(q: Queue<u32>, delay_ms: u64, items: Vec<u32>) {
    std::thread::sleep(Duration::from_millis(delay_ms));
    for i in items {
        q.put(i).unwrap();
    }
}

#[multiproc::test]
fn a_cancelled_get_loses_nothing_and_the_next_get_receives() {
    both_flavours(|| {
        Box::pin(async {
            let q = Queue::<u32>::new().unwrap();
            // Another handle could put, so an empty queue waits; nothing comes within 50 ms and the
            // get is cancelled by the timeout. (With no other handle it would be Disconnected.)
            let producer_end = q.clone();
            let early = tokio::time::timeout(Duration::from_millis(50), q.get_async()).await;
            assert!(early.is_err(), "nothing was put yet");
            let p = produce_later::spawn(producer_end, 100, vec![1, 2, 3]).unwrap();
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(
                    tokio::time::timeout(LONG, q.get_async())
                        .await
                        .unwrap()
                        .unwrap(),
                );
            }
            assert_eq!(got, [1, 2, 3]);
            p.join_async().await.unwrap();
            // Every other handle gone and the queue empty: Disconnected, not a hang.
            let err = tokio::time::timeout(Duration::from_secs(10), q.get_async())
                .await
                .unwrap()
                .unwrap_err();
            assert!(err.is_disconnected(), "{err}");
        })
    });
}

#[multiproc::test]
fn pool_results_are_awaited() {
    let pool = Pool::new(2).unwrap();
    let pool = std::sync::Arc::new(pool);
    both_flavours(|| {
        let pool = pool.clone();
        Box::pin(async move {
            let pending: Vec<_> = (0..50u64)
                .map(|i| pool.apply_async(square, (i,)).unwrap())
                .collect();
            for (i, r) in pending.into_iter().enumerate() {
                assert_eq!(
                    tokio::time::timeout(LONG, r).await.unwrap().unwrap(),
                    (i * i) as u64
                );
            }
        })
    });
}

#[worker]
fn echo_twice(conn: multiproc::Connection<String>) {
    let s = conn.recv().unwrap();
    std::thread::sleep(Duration::from_millis(30));
    conn.send(&format!("{s}{s}")).unwrap();
}

#[worker]
fn set_later(e: Event, delay_ms: u64) {
    std::thread::sleep(Duration::from_millis(delay_ms));
    e.set();
}

#[multiproc::test]
fn pipes_and_events_are_awaited() {
    both_flavours(|| {
        Box::pin(async {
            let (ours, theirs) = multiproc::Pipe::<String>::new().unwrap();
            let p = echo_twice::spawn(theirs).unwrap();
            ours.send_async("ab").await.unwrap();
            let back = tokio::time::timeout(LONG, ours.recv_async())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(back, "abab");
            p.join_async().await.unwrap();

            let e = Event::new().unwrap();
            let p = set_later::spawn(e.clone(), 50).unwrap();
            tokio::time::timeout(LONG, e.wait_async()).await.unwrap();
            assert!(e.is_set());
            p.join_async().await.unwrap();
        })
    });
}

#[worker]
fn take_slowly(q: Queue<u32>, n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(5));
            q.get().unwrap()
        })
        .collect()
}

#[worker]
fn finish_tasks(q: JoinableQueue<u32>, n: usize) {
    for _ in 0..n {
        q.get().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        q.task_done().unwrap();
    }
}

#[multiproc::test]
fn a_full_bounded_queue_and_a_join_are_awaited() {
    both_flavours(|| {
        Box::pin(async {
            let q = Queue::<u32>::bounded(2).unwrap();
            let p = take_slowly::spawn(q.clone(), 10).unwrap();
            for i in 0..10 {
                tokio::time::timeout(LONG, q.put_async(i))
                    .await
                    .unwrap()
                    .unwrap();
            }
            assert_eq!(p.join_async().await.unwrap(), (0..10).collect::<Vec<_>>());

            let j = JoinableQueue::<u32>::new().unwrap();
            for i in 0..5 {
                j.put(i).unwrap();
            }
            let p = finish_tasks::spawn(j.clone(), 5).unwrap();
            tokio::time::timeout(LONG, j.join_async())
                .await
                .unwrap()
                .unwrap();
            p.join_async().await.unwrap();
        })
    });
}

#[multiproc::test]
fn imap_results_are_a_stream() {
    use futures_core::Stream;
    use std::future::poll_fn;
    use std::pin::Pin;
    let pool = std::sync::Arc::new(Pool::new(2).unwrap());
    both_flavours(|| {
        let pool = pool.clone();
        Box::pin(async move {
            let mut ordered = pool.imap(square, 0..200u64).chunksize(7);
            let mut got = Vec::new();
            while let Some(r) = poll_fn(|cx| Pin::new(&mut ordered).poll_next(cx)).await {
                got.push(r.unwrap());
            }
            assert_eq!(got, (0..200u64).map(|i| i * i).collect::<Vec<_>>());
            let mut unordered = pool.imap_unordered(square, 0..50u64);
            let mut n = 0;
            while let Some(r) = poll_fn(|cx| Pin::new(&mut unordered).poll_next(cx)).await {
                r.unwrap();
                n += 1;
            }
            assert_eq!(n, 50);
        })
    });
}

#[worker]
fn put_to_proxy_later(q: multiproc::manager::QueueProxy<String>, delay_ms: u64) {
    std::thread::sleep(Duration::from_millis(delay_ms));
    q.put("from a worker").unwrap();
}

#[multiproc::test]
fn manager_proxies_are_awaited() {
    let mgr = multiproc::Manager::start().unwrap();
    let list = mgr.list::<u64>().unwrap();
    let dict = mgr.dict::<String, u64>().unwrap();
    let queue = mgr.queue::<String>().unwrap();
    both_flavours(|| {
        let (list, dict, queue) = (list.clone(), dict.clone(), queue.clone());
        Box::pin(async move {
            let before = list.len_async().await.unwrap();
            // Many calls in flight from one thread: each has its own connection for its round trip.
            let tasks: Vec<_> = (0..50u64)
                .map(|i| {
                    let list = list.clone();
                    tokio::spawn(async move { list.append_async(&i).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
            assert_eq!(list.len_async().await.unwrap(), before + 50);
            assert!(list.get_async(before).await.unwrap().is_some());
            dict.insert_async("k", &7).await.unwrap();
            assert_eq!(dict.get_async("k").await.unwrap(), Some(7));

            // A proxy queue's get waits on the server while this thread goes on ticking.
            let p = put_to_proxy_later::spawn(queue.clone(), 150).unwrap();
            let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
            let counter = ticks.clone();
            let ticker = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
            let got = tokio::time::timeout(LONG, queue.get_async())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(got, "from a worker");
            assert!(
                ticks.load(std::sync::atomic::Ordering::Relaxed) >= 5,
                "the thread was blocked"
            );
            ticker.abort();
            p.join_async().await.unwrap();
            queue.put_async("again").await.unwrap();
            assert_eq!(queue.get_async().await.unwrap(), "again");
        })
    });
    mgr.shutdown().unwrap();
}
