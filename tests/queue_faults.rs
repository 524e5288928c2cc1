//! Faults really done to queue users: producers SIGKILLed in the middle of puts (small and streamed),
//! consumers SIGKILLed while blocked or in the middle of a streamed message. Some messages carry a
//! bulk byte string (a `Bytes` of 64 KiB or more, written straight into the ring in records of its
//! own), so kills land in the middle of those too.

use multiproc::{Bytes, Connection, ErrorKind, Pipe, Queue, worker};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(30);

#[derive(Serialize, Deserialize)]
struct Msg {
    producer: u32,
    seq: u64,
    payload: Vec<u8>,
    blob: Bytes,
    check: u64,
}

fn checksum(producer: u32, seq: u64, payload: &[u8], blob: &[u8]) -> u64 {
    payload.iter().chain(blob.iter()).fold(
        u64::from(producer) << 40 ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        |h, &b| h.rotate_left(5) ^ u64::from(b),
    )
}

fn message(producer: u32, seq: u64) -> Msg {
    // Alternately small and larger than the 16 KiB ring (streamed).
    let len = if seq % 2 == 0 {
        40
    } else {
        20_000 + seq as usize
    };
    let payload: Vec<u8> = (0..len).map(|i| (i as u64 ^ seq) as u8).collect();
    // Every third message also carries a bulk byte string, streamed apart from the rest.
    let blob = if seq % 3 == 1 {
        Bytes(
            (0..(64 << 10) + seq as usize)
                .map(|i| ((i as u64 * 7) ^ seq) as u8)
                .collect(),
        )
    } else {
        Bytes::new()
    };
    let check = checksum(producer, seq, &payload, &blob);
    Msg {
        producer,
        seq,
        payload,
        blob,
        check,
    }
}

#[worker]
fn produce(q: Queue<Msg>, producer: u32, count: u64, acks: Option<Connection<u64>>) {
    for seq in 0..count {
        q.put(message(producer, seq)).unwrap();
        if let Some(acks) = &acks {
            acks.send(&seq).unwrap();
        }
    }
}

/// Cheap xorshift: the tests need variety, not quality.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[multiproc::test]
fn producers_killed_mid_put_leave_no_torn_message_and_lose_no_completed_put() {
    let kills: u32 = 300;
    // Bounded (far above what is ever queued), so a put returns only once its message is in the
    // ring: an unbounded queue's put may leave it in the producer's buffer, lost with the process
    // (as in Python).
    let q = Queue::<Msg>::builder()
        .ring_bytes(16 << 10)
        .maxsize(1 << 20)
        .build()
        .unwrap();
    let consumer = {
        let q = q.clone();
        std::thread::spawn(move || {
            let mut seen: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
            loop {
                match q.get_timeout(LONG) {
                    Ok(m) => {
                        assert_eq!(
                            m.check,
                            checksum(m.producer, m.seq, &m.payload, &m.blob),
                            "torn message"
                        );
                        seen.entry(m.producer).or_default().push(m.seq);
                    }
                    Err(e) if e.kind() == &ErrorKind::Disconnected => return seen,
                    Err(e) => panic!("consumer: {e}"),
                }
            }
        })
    };
    let steady = produce::spawn(q.clone(), 0, 500, None).unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64 ^ u64::from(std::process::id());
    let mut acked: BTreeMap<u32, Option<u64>> = BTreeMap::new();
    let started = Instant::now();
    for victim in 1..=kills {
        let (acks_in, acks_out) = Pipe::<u64>::simplex().unwrap();
        let mut p = produce::spawn(q.clone(), victim, u64::MAX, Some(acks_out)).unwrap();
        // Kill after 1..=3 completed puts: the child is inside its next put by then (a victim killed
        // before it attached would keep its slot reservation alive for `TICKET_TTL`).
        let wanted = 1 + next_random(&mut rng) % 3;
        let mut last = None;
        for _ in 0..wanted {
            last = Some(acks_in.recv_timeout(LONG).unwrap());
        }
        p.kill().unwrap();
        assert!(p.join().is_err());
        while let Ok(seq) = acks_in.recv_timeout(Duration::ZERO) {
            last = Some(seq);
        }
        acked.insert(victim, last);
    }
    eprintln!("{kills} kills in {:?}", started.elapsed());
    steady.join().unwrap();
    drop(q);
    let seen = consumer.join().unwrap();
    assert_eq!(
        seen[&0],
        (0..500).collect::<Vec<_>>(),
        "the steady producer"
    );
    for (victim, last) in acked {
        let got = seen.get(&victim).cloned().unwrap_or_default();
        let n = got.len() as u64;
        assert_eq!(
            got,
            (0..n).collect::<Vec<_>>(),
            "producer {victim}: gap or duplicate"
        );
        let completed = last.map_or(0, |s| s + 1);
        assert!(
            n == completed || n == completed + 1,
            "producer {victim}: {completed} puts completed, {n} received"
        );
    }
}

#[worker]
fn blocked_consumer(q: Queue<u64>, ready: Connection<()>) -> u64 {
    ready.send(&()).unwrap();
    q.get().unwrap()
}

#[worker]
fn sum_n(q: Queue<u64>, n: u64) -> u64 {
    (0..n).map(|_| q.get_timeout(LONG).unwrap()).sum()
}

/// Waits until `pid` sleeps (state `S`), i.e. it is blocked in the call we want to interrupt.
fn wait_until_sleeping(pid: u32) {
    let deadline = Instant::now() + LONG;
    while Instant::now() < deadline {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        if state == Some("S") {
            return;
        }
        std::thread::yield_now();
    }
    panic!("process {pid} never blocked");
}

#[multiproc::test]
fn consumer_killed_while_blocked_does_not_affect_producers() {
    let q = Queue::<u64>::builder().ring_bytes(4096).build().unwrap();
    let (ready_in, ready_out) = Pipe::<()>::simplex().unwrap();
    let mut c1 = blocked_consumer::spawn(q.clone(), ready_out).unwrap();
    ready_in.recv_timeout(LONG).unwrap();
    wait_until_sleeping(c1.pid());
    c1.kill().unwrap();
    assert!(c1.join().is_err());
    let c2 = sum_n::spawn(q.clone(), 2000).unwrap();
    for i in 0..2000 {
        q.put_timeout(i, LONG).unwrap(); // 2000 messages do not fit the 4 KiB ring at once
    }
    assert_eq!(c2.join().unwrap(), 1999 * 2000 / 2);
}

#[worker]
fn ack_blobs(q: Queue<Msg>, acks: Connection<u64>) {
    loop {
        let m = q.get().unwrap();
        assert_eq!(m.check, checksum(m.producer, m.seq, &m.payload, &m.blob));
        acks.send(&m.seq).unwrap();
    }
}

#[multiproc::test]
fn consumer_killed_mid_message_drops_only_that_message() {
    const N: u64 = 12;
    let q = Queue::<Msg>::builder().ring_bytes(4096).build().unwrap();
    let producer = {
        let q = q.clone();
        std::thread::spawn(move || {
            for seq in 0..N {
                // 2 MiB, alternately as a plain Vec and as a bulk byte string.
                let bytes: Vec<u8> = (0..(2 << 20)).map(|i| (i ^ seq) as u8).collect();
                let (payload, blob) = if seq % 2 == 0 {
                    (bytes, Bytes::new())
                } else {
                    (Vec::new(), Bytes(bytes))
                };
                let check = checksum(7, seq, &payload, &blob);
                q.put_timeout(
                    Msg {
                        producer: 7,
                        seq,
                        payload,
                        blob,
                        check,
                    },
                    LONG,
                )
                .unwrap();
            }
        })
    };
    let (acks_in, acks_out) = Pipe::<u64>::simplex().unwrap();
    let mut c1 = ack_blobs::spawn(q.clone(), acks_out).unwrap();
    let mut got = vec![acks_in.recv_timeout(LONG).unwrap()];
    got.push(acks_in.recv_timeout(LONG).unwrap());
    c1.kill().unwrap(); // most likely in the middle of streaming a 2 MiB message through 4 KiB
    assert!(c1.join().is_err());
    while let Ok(seq) = acks_in.recv_timeout(Duration::ZERO) {
        got.push(seq);
    }
    let mut mine = Vec::new();
    while (got.len() + mine.len()) < N as usize - 1 || mine.last() != Some(&(N - 1)) {
        let m = q.get_timeout(LONG).unwrap();
        assert_eq!(
            m.check,
            checksum(m.producer, m.seq, &m.payload, &m.blob),
            "torn message"
        );
        mine.push(m.seq);
    }
    producer.join().unwrap();
    got.extend(&mine);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "order: {got:?}");
    assert!(
        got.len() >= N as usize - 1,
        "more than one message lost: {got:?}"
    );
}
