//! Async handles on tokio (feature `async`): a few hundred children awaited at once on one thread,
//! pool results awaited, queue traffic from workers, a pipe, and a timeout that cancels a `get`
//! without losing the message.
//!
//! ```text
//! cargo run --features async --example async_tour
//! ```

use multiproc::{Pool, Queue, worker};
use std::time::{Duration, Instant};

#[worker]
fn square(x: u64) -> u64 {
    x * x
}

#[worker]
fn produce(q: Queue<String>, n: u32, delay_ms: u64) {
    std::thread::sleep(Duration::from_millis(delay_ms));
    for i in 0..n {
        q.put(format!("message {i}")).unwrap();
    }
}

#[worker]
fn shout(conn: multiproc::Connection<String>) {
    let s = conn.recv().unwrap();
    conn.send(&s.to_uppercase()).unwrap();
}

#[multiproc::main]
fn main() -> multiproc::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        // 300 children, one thread awaiting all of them.
        let t = Instant::now();
        let children: Vec<_> = (0..300u64).map(square::spawn).collect::<Result<_, _>>()?;
        let mut sum = 0;
        let tasks: Vec<_> = children
            .into_iter()
            .map(|p| tokio::spawn(p.join_async()))
            .collect();
        for t in tasks {
            sum += t.await.expect("task")?;
        }
        println!(
            "300 children awaited on one thread: sum of squares {sum} in {:?}",
            t.elapsed()
        );

        // Pool results, awaited instead of a blocking get.
        let pool = Pool::new(2)?;
        let r = pool.apply_async(square, (12,))?;
        println!("pool.apply_async(square, (12,)) awaited: {}", r.await?);

        // A get cancelled by a timeout takes nothing: the message goes to the next get.
        let q = Queue::<String>::new()?;
        let producer = produce::spawn(q.clone(), 3, 200)?;
        match tokio::time::timeout(Duration::from_millis(20), q.get_async()).await {
            Err(_) => println!("get_async timed out after 20 ms (cancelled; nothing lost)"),
            Ok(m) => println!("got early: {m:?}"),
        }
        for _ in 0..3 {
            println!("get_async: {}", q.get_async().await?);
        }
        producer.join_async().await?;

        // A pipe.
        let (ours, theirs) = multiproc::Pipe::<String>::new()?;
        let p = shout::spawn(theirs)?;
        ours.send_async("hello from async").await?;
        println!("recv_async: {}", ours.recv_async().await?);
        p.join_async().await?;
        Ok(())
    })
}
