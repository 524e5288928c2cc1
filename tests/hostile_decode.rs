//! Hostile bytes through every decoder that reads a peer's frames: a pipe, a queue and a pool reply.
//! Crafted length claims (2^32-1 ... 2^64-1) are Codec errors, never allocations or aborts, and the
//! channel stays usable: the next good message arrives. Then seeded random frames, at least 100,000
//! per decoder (`MULTIPROC_FUZZ_FRAMES=n` for more), sent by real processes: each receive is exactly
//! what decoding that frame in place gives, and nothing panics.

use multiproc::{Connection, ErrorKind, Pipe, Pool, Queue, worker};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Payload {
    name: String,
    data: Vec<u64>,
    tags: BTreeMap<u8, String>,
    flag: Option<char>,
    score: i32,
}

fn good(i: u64) -> Payload {
    Payload {
        name: format!("good {i}"),
        data: vec![i, 1 << 40, 7],
        tags: BTreeMap::from([(1, "one".to_string()), (200, "ü".to_string())]),
        flag: Some('✓'),
        score: -(i as i32),
    }
}

/// Sent as raw bytes (a tuple of u8 has no length prefix in bincode), read back as a [`Payload`]: how a
/// test makes a peer put arbitrary bytes in a queue message or a pool reply.
#[derive(Debug, PartialEq)]
enum Evil {
    Raw(Vec<u8>),
    Got(Payload),
}

impl Serialize for Evil {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        match self {
            Evil::Raw(bytes) => {
                let mut t = s.serialize_tuple(bytes.len())?;
                for b in bytes {
                    t.serialize_element(b)?;
                }
                t.end()
            }
            Evil::Got(p) => p.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Evil {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Payload::deserialize(d).map(Evil::Got)
    }
}

fn bin<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    multiproc::codec::encode(v).unwrap().bytes
}

const CLAIMS: [u64; 4] = [(1 << 32) - 1, 1 << 32, 1 << 60, u64::MAX];

/// Frames that claim huge lengths in each field of a [`Payload`].
fn crafted() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for claim in CLAIMS {
        let c = bin(&claim);
        let tail = b"not nearly that much".to_vec();
        let cat = |parts: &[&[u8]]| -> Vec<u8> { parts.concat() };
        out.push(cat(&[&c, &tail])); // name
        out.push(cat(&[&bin("n"), &c, &tail])); // data: Vec<u64>
        out.push(cat(&[&bin("n"), &[0], &c, &tail])); // tags: a map
        out.push(cat(&[&bin("n"), &[0], &[1, 5], &c, &tail])); // a tag's String inside the map
    }
    // The nine bytes.
    out.push(vec![0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10]);
    out
}

#[track_caller]
fn assert_codec<T: std::fmt::Debug>(r: multiproc::Result<T>) {
    match r {
        Ok(v) => panic!("a crafted frame decoded as {v:?}"),
        Err(e) => assert_eq!(e.kind(), &ErrorKind::Codec, "{e}"),
    }
}

#[worker]
fn send_crafted(conn: Connection<Payload>) {
    for frame in crafted() {
        conn.send_bytes(&frame).unwrap();
    }
    conn.send(&good(1)).unwrap();
}

/// Receives crafted frames and counts the Codec errors; the good message that follows must arrive.
#[worker]
fn recv_crafted(conn: Connection<Payload>) -> usize {
    let mut refused = 0;
    for _ in crafted() {
        match conn.recv() {
            Err(e) if e.kind() == &ErrorKind::Codec => refused += 1,
            other => panic!("expected a Codec error, got {other:?}"),
        }
    }
    assert_eq!(conn.recv().unwrap(), good(2));
    refused
}

#[multiproc::test]
fn crafted_claims_through_a_pipe() {
    // In this process, as in the issue.
    let (a, b) = Pipe::<String>::new().unwrap();
    a.send_bytes(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10]).unwrap();
    let mut max = vec![0xfd];
    max.extend(u64::MAX.to_le_bytes());
    a.send_bytes(&max).unwrap();
    a.send(&"after".to_string()).unwrap();
    assert_codec(b.recv());
    assert_codec(b.recv());
    assert_eq!(b.recv().unwrap(), "after");

    // From a child.
    let (here, there) = Pipe::<Payload>::new().unwrap();
    let p = send_crafted::spawn(there).unwrap();
    for _ in crafted() {
        assert_codec(here.recv());
    }
    assert_eq!(here.recv().unwrap(), good(1));
    p.join().unwrap();

    // To a child.
    let (here, there) = Pipe::<Payload>::new().unwrap();
    let p = recv_crafted::spawn(there).unwrap();
    for frame in crafted() {
        here.send_bytes(&frame).unwrap();
    }
    here.send(&good(2)).unwrap();
    assert_eq!(p.join().unwrap(), crafted().len());
}

#[worker]
fn put_crafted(q: Queue<Evil>) {
    for frame in crafted() {
        q.put(Evil::Raw(frame)).unwrap();
    }
    q.put(Evil::Got(good(3))).unwrap();
}

#[multiproc::test]
fn crafted_claims_through_a_queue() {
    let q = Queue::<Evil>::new().unwrap();
    let p = put_crafted::spawn(q.clone()).unwrap();
    for _ in crafted() {
        assert_codec(q.get_timeout(Duration::from_secs(30)));
    }
    assert_eq!(
        q.get_timeout(Duration::from_secs(30)).unwrap(),
        Evil::Got(good(3))
    );
    p.join().unwrap();
    // Still usable both ways.
    q.put(Evil::Got(good(4))).unwrap();
    assert_eq!(q.get().unwrap(), Evil::Got(good(4)));
}

/// Replies with crafted frame `i`, or a good payload past the crafted ones.
#[worker]
fn crafted_reply(i: u64) -> Evil {
    match crafted().into_iter().nth(i as usize) {
        Some(frame) => Evil::Raw(frame),
        None => Evil::Got(good(i)),
    }
}

#[worker]
fn plus_one(x: u64) -> u64 {
    x + 1
}

#[multiproc::test]
fn crafted_claims_in_pool_replies() {
    let n = crafted().len() as u64;
    let pool = Pool::new(2).unwrap();
    let results: Vec<_> = pool.imap(crafted_reply, 0..n + 10).collect();
    for (i, r) in results.into_iter().enumerate() {
        if (i as u64) < n {
            assert_codec(r);
        } else {
            assert_eq!(r.unwrap(), Evil::Got(good(i as u64)));
        }
    }
    // Chunks with bad replies fail as wholes; the pool keeps serving.
    let chunked = pool.map_chunked(crafted_reply, 0..n + 10, 4);
    assert_codec(chunked);
    assert_eq!(
        pool.map(plus_one, 0..100u64).unwrap(),
        (1..=100).collect::<Vec<_>>()
    );
}

// --- Random frames ---------------------------------------------------------------------------

fn fuzz_frames() -> u64 {
    std::env::var("MULTIPROC_FUZZ_FRAMES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

/// Frame `i` of the run seeded with `seed`: random bytes biased to varint markers, or a mutated
/// good payload. Independent per index, so a pool worker can make any one of them.
fn random_frame(seed: u64, i: u64) -> Vec<u8> {
    let mut s = seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    if next() % 2 == 0 {
        let len = next() % 40;
        (0..len)
            .map(|_| match next() % 6 {
                0 => 251 + (next() % 5) as u8,
                1 => 0,
                2 => 1,
                _ => next() as u8,
            })
            .collect()
    } else {
        let mut f = bin(&good(i));
        for _ in 0..1 + next() % 3 {
            if f.is_empty() {
                break;
            }
            let at = (next() % f.len() as u64) as usize;
            match next() % 4 {
                0 => f[at] = next() as u8,
                1 => f.truncate(at),
                2 => f.insert(at, 251 + (next() % 5) as u8),
                _ => f[at] ^= 1 << (next() % 8),
            }
        }
        f
    }
}

/// What decoding frame `i` in place gives: the receiver must see exactly this.
fn expected<T: DeserializeOwned>(frame: &[u8]) -> Option<T> {
    match multiproc::codec::decode::<T>(frame, Vec::new()) {
        Ok(v) => Some(v),
        Err(e) => {
            assert_eq!(e.kind(), &ErrorKind::Codec);
            None
        }
    }
}

/// Tallies receives against expectations; returns (decoded, refused).
#[track_caller]
fn check(i: u64, got: multiproc::Result<Payload>, want: Option<Payload>, tally: &mut (u64, u64)) {
    match (got, want) {
        (Ok(g), Some(w)) => {
            assert_eq!(g, w, "frame {i}");
            tally.0 += 1;
        }
        (Err(e), None) => {
            assert_eq!(e.kind(), &ErrorKind::Codec, "frame {i}: {e}");
            tally.1 += 1;
        }
        (g, w) => panic!("frame {i}: received {g:?}, decoding in place gives {w:?}"),
    }
}

#[worker]
fn spray_pipe(conn: Connection<Payload>, seed: u64, n: u64) {
    for i in 0..n {
        conn.send_bytes(&random_frame(seed, i)).unwrap();
    }
    conn.send(&good(u64::MAX)).unwrap();
}

#[worker]
fn spray_queue(q: Queue<Evil>, seed: u64, n: u64) {
    for i in 0..n {
        q.put(Evil::Raw(random_frame(seed, i))).unwrap();
    }
    q.put(Evil::Got(good(u64::MAX))).unwrap();
}

#[worker]
fn random_reply(job: (u64, u64)) -> Evil {
    let (seed, i) = job;
    Evil::Raw(random_frame(seed, i))
}

#[multiproc::test]
fn random_frames_through_a_pipe() {
    let (n, seed) = (fuzz_frames(), 0x9e37_0001);
    let started = Instant::now();
    let (here, there) = Pipe::<Payload>::new().unwrap();
    let p = spray_pipe::spawn(there, seed, n).unwrap();
    let mut tally = (0, 0);
    for i in 0..n {
        check(i, here.recv(), expected(&random_frame(seed, i)), &mut tally);
    }
    assert_eq!(here.recv().unwrap(), good(u64::MAX));
    p.join().unwrap();
    eprintln!(
        "pipe: {n} frames, {} decoded, {} refused, {:?}",
        tally.0,
        tally.1,
        started.elapsed()
    );
    assert!(
        tally.0 > 0 && tally.1 > 0,
        "{tally:?}: the frames must exercise both paths"
    );
}

#[multiproc::test]
fn random_frames_through_a_queue() {
    let (n, seed) = (fuzz_frames(), 0x9e37_0002);
    let started = Instant::now();
    let q = Queue::<Evil>::bounded(1024).unwrap();
    let p = spray_queue::spawn(q.clone(), seed, n).unwrap();
    let mut tally = (0, 0);
    for i in 0..n {
        let got = q.get_timeout(Duration::from_secs(30)).map(|e| match e {
            Evil::Got(p) => p,
            Evil::Raw(_) => unreachable!("Evil decodes as Got"),
        });
        check(i, got, expected(&random_frame(seed, i)), &mut tally);
    }
    assert_eq!(q.get().unwrap(), Evil::Got(good(u64::MAX)));
    p.join().unwrap();
    eprintln!(
        "queue: {n} frames, {} decoded, {} refused, {:?}",
        tally.0,
        tally.1,
        started.elapsed()
    );
    assert!(tally.0 > 0 && tally.1 > 0, "{tally:?}");
}

#[multiproc::test]
fn random_frames_in_pool_replies() {
    let (n, seed) = (fuzz_frames(), 0x9e37_0003);
    let started = Instant::now();
    let pool = Pool::new(2).unwrap();
    let mut tally = (0, 0);
    // Chunks of one item: every reply frame holds one random outcome.
    let results = pool
        .imap(random_reply, (0..n).map(|i| (seed, i)))
        .chunksize(1);
    for (i, r) in results.enumerate() {
        let i = i as u64;
        let got = r.map(|e| match e {
            Evil::Got(p) => p,
            Evil::Raw(_) => unreachable!("Evil decodes as Got"),
        });
        check(i, got, expected(&random_frame(seed, i)), &mut tally);
    }
    assert_eq!(tally.0 + tally.1, n);
    assert_eq!(
        pool.map(plus_one, 0..10u64).unwrap(),
        (1..=10).collect::<Vec<_>>()
    );
    eprintln!(
        "pool: {n} replies, {} decoded, {} refused, {:?}",
        tally.0,
        tally.1,
        started.elapsed()
    );
    assert!(tally.0 > 0 && tally.1 > 0, "{tally:?}");
}
