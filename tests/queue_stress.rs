//! Stress: 4 producer and 4 consumer processes on one queue, every message checksummed; nothing is
//! lost, torn or duplicated: 1M messages.

use multiproc::{Queue, worker};

const PRODUCERS: u64 = 4;
const CONSUMERS: usize = 4;
const TOTAL: u64 = 1_000_000;
const PER_PRODUCER: u64 = TOTAL / PRODUCERS;

fn check(id: u64) -> u64 {
    id.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ 0x5bd1_e995
}

#[worker]
fn stress_producer(q: Queue<Option<(u64, u64)>>, producer: u64) {
    for seq in 0..PER_PRODUCER {
        let id = producer * PER_PRODUCER + seq;
        q.put(Some((id, check(id)))).unwrap();
    }
}

/// Returns a bitmap of the ids received (a duplicate fails here, in the consumer).
#[worker]
fn stress_consumer(q: Queue<Option<(u64, u64)>>) -> Vec<u64> {
    let mut seen = vec![0u64; TOTAL.div_ceil(64) as usize];
    while let Some((id, sum)) = q.get().unwrap() {
        assert_eq!(sum, check(id), "torn message {id}");
        let (word, bit) = ((id / 64) as usize, id % 64);
        assert_eq!(seen[word] & (1 << bit), 0, "message {id} received twice");
        seen[word] |= 1 << bit;
    }
    seen
}

#[multiproc::test]
fn four_by_four_nothing_lost_nothing_duplicated() {
    let q = Queue::<Option<(u64, u64)>>::new().unwrap();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| stress_consumer::spawn(q.clone()).unwrap())
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| stress_producer::spawn(q.clone(), p).unwrap())
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    for _ in 0..CONSUMERS {
        q.put(None).unwrap();
    }
    let mut all = vec![0u64; TOTAL.div_ceil(64) as usize];
    let mut per_consumer = Vec::new();
    for c in consumers {
        let seen = c.join().unwrap();
        let mut count = 0;
        for (a, s) in all.iter_mut().zip(&seen) {
            assert_eq!(*a & s, 0, "a message reached two consumers");
            *a |= s;
            count += s.count_ones();
        }
        per_consumer.push(count);
    }
    let received: u64 = all.iter().map(|w| u64::from(w.count_ones())).sum();
    assert_eq!(received, TOTAL, "per consumer: {per_consumer:?}");
}
