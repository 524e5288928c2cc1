//! Bulk byte strings through a queue: a `Bytes` of 64 KiB or more goes from the value straight into
//! the ring, in records of its own, and comes out into a buffer of its own. Messages that mix them
//! with small fields, several of them, sizes at the threshold, tiny rings, bounded and unbounded
//! queues, a put that times out half way, an unbounded put with nobody reading, and hand-made
//! bulk records that do not add up.

use multiproc::{Bytes, ErrorKind, Queue, worker};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(30);
/// `codec::BULK_MIN`: byte strings from this length on travel as bulk.
const BULK_MIN: usize = 64 << 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Mixed {
    name: String,
    head: Bytes,
    parts: Vec<Bytes>,
    tail: Option<Bytes>,
    n: u64,
    /// A plain `Vec<u8>` is bulk too (the codec sees it whole), wherever it sits.
    plain: Vec<u8>,
    plain_opt: Option<Vec<u8>>,
    wrapped: Wrapped,
    text: String,
    odd: Odd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Wrapped(Vec<u8>);

/// Written as a `Vec<u8>`, read back as a `VecDeque<u8>` (another visitor than serde's `Vec` one):
/// a bulk sequence must reach any reader, element by element.
#[derive(Debug, Clone, PartialEq)]
struct Odd(Vec<u8>);

impl Serialize for Odd {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(1)?;
        t.serialize_element(&self.0)?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for Odd {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Odd, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Odd;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a tuple of one byte sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Odd, A::Error> {
                let d: std::collections::VecDeque<u8> = seq
                    .next_element()?
                    .ok_or_else(|| serde::de::Error::invalid_length(0, &self))?;
                Ok(Odd(d.into()))
            }
        }
        d.deserialize_tuple(1, V)
    }
}

fn blob(len: usize, seed: u64) -> Bytes {
    Bytes((0..len).map(|i| ((i as u64 * 131) ^ seed) as u8).collect())
}

fn mixed(seed: u64) -> Mixed {
    let sizes = [0, 1, BULK_MIN - 1, BULK_MIN, BULK_MIN + 1, (1 << 20) + 3];
    Mixed {
        name: format!("message {seed}"),
        head: blob(sizes[seed as usize % sizes.len()], seed),
        parts: sizes.iter().map(|&s| blob(s, seed ^ s as u64)).collect(),
        tail: (seed % 2 == 0).then(|| blob(3 << 20, seed + 1)),
        n: seed,
        plain: blob(sizes[(seed as usize + 3) % sizes.len()], seed + 2).0,
        plain_opt: (seed % 3 != 0).then(|| blob(sizes[(seed as usize + 4) % sizes.len()], 9).0),
        wrapped: Wrapped(blob(BULK_MIN * (seed as usize % 3), seed + 5).0),
        text: "é".repeat((seed as usize % 3) * BULK_MIN / 2 + 1),
        odd: Odd(blob(sizes[(seed as usize + 5) % sizes.len()], seed + 6).0),
    }
}

#[worker]
fn echo(input: Queue<Option<Mixed>>, output: Queue<Mixed>) {
    while let Some(m) = input.get().unwrap() {
        output.put(m).unwrap();
    }
}

/// Every message goes to another process and back through two queues of the given shape, intact
/// and in order.
fn round_trip(ring: usize, maxsize: usize) {
    let input = Queue::<Option<Mixed>>::builder()
        .ring_bytes(ring)
        .maxsize(maxsize)
        .build()
        .unwrap();
    let output = Queue::<Mixed>::builder()
        .ring_bytes(ring)
        .maxsize(maxsize)
        .build()
        .unwrap();
    let child = echo::spawn(input.clone(), output.clone()).unwrap();
    let sent: Vec<Mixed> = (0..8).map(mixed).collect();
    let feeder = {
        let (input, sent) = (input.clone(), sent.clone());
        std::thread::spawn(move || {
            for m in sent {
                input.put_timeout(Some(m), LONG).unwrap();
            }
            input.put_timeout(None, LONG).unwrap();
        })
    };
    for want in &sent {
        assert_eq!(&output.get_timeout(LONG).unwrap(), want, "ring {ring}");
    }
    feeder.join().unwrap();
    child.join().unwrap();
}

#[multiproc::test]
fn mixed_messages_round_trip_through_default_rings() {
    round_trip(1 << 20, 0);
}

#[multiproc::test]
fn mixed_messages_round_trip_through_tiny_bounded_rings() {
    round_trip(4096, 2);
}

#[multiproc::test]
fn a_put_that_times_out_half_way_loses_nothing_else() {
    let q = Queue::<Bytes>::builder()
        .ring_bytes(64 << 10)
        .maxsize(4)
        .build()
        .unwrap();
    let reading = q.clone(); // a handle that could get, so the put waits rather than disconnects
    q.put(blob(100, 1)).unwrap();
    // 1 MiB through a 64 KiB ring with nobody reading yet: the stream starts and times out.
    let big = blob(1 << 20, 2);
    let started = Instant::now();
    let err = q
        .put_timeout(big.clone(), Duration::from_millis(200))
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.into_inner(), big, "the value comes back whole");
    // A reader takes the whole message, drops the partial one, and the queue goes on.
    let reader = std::thread::spawn(move || {
        (0..2)
            .map(|_| reading.get_timeout(LONG).unwrap())
            .collect::<Vec<_>>()
    });
    q.put_timeout(blob(BULK_MIN + 5, 4), LONG).unwrap();
    let got = reader.join().unwrap();
    assert_eq!(got, [blob(100, 1), blob(BULK_MIN + 5, 4)]);
}

#[multiproc::test]
fn an_unbounded_put_with_nobody_reading_buffers_bulk_messages() {
    let q = Queue::<Bytes>::builder()
        .ring_bytes(64 << 10)
        .build()
        .unwrap();
    // More than the ring holds, with nobody reading: every put returns at once-ish and the
    // feeder keeps what does not fit, in order.
    let sent: Vec<Bytes> = (0..6).map(|i| blob(BULK_MIN * (i + 1), i as u64)).collect();
    let started = Instant::now();
    for b in &sent {
        q.put(b.clone()).unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    let reader = {
        let q = q.clone();
        std::thread::spawn(move || {
            (0..6)
                .map(|_| q.get_timeout(LONG).unwrap())
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(reader.join().unwrap(), sent);
}

#[worker]
fn put_wrong(q: Queue<Bytes>) {
    q.put(blob(BULK_MIN * 2, 9)).unwrap();
    q.put(blob(10, 10)).unwrap();
}

#[multiproc::test]
fn a_bulk_message_of_another_type_is_a_codec_error_and_the_queue_goes_on() {
    let q = Queue::<Bytes>::new().unwrap();
    let p = put_wrong::spawn(q.clone()).unwrap();
    p.join().unwrap();
    // The same bytes read as something else: (u8, u8) finds a bulk part it has no use for.
    let as_other: Queue<(u8, u8)> = retyped(&q);
    let err = as_other.get_timeout(LONG).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Codec, "{err}");
    assert_eq!(q.get_timeout(LONG).unwrap(), blob(10, 10));
}

/// Another typed handle on the same queue (how a mistyped peer looks).
fn retyped<A, B>(q: &Queue<A>) -> Queue<B>
where
    A: Serialize + serde::de::DeserializeOwned,
    B: Serialize + serde::de::DeserializeOwned,
{
    let enc = multiproc::codec::encode(q).unwrap();
    multiproc::codec::decode(&enc.bytes, enc.fds).unwrap()
}

#[multiproc::test]
fn an_unbounded_put_into_a_full_ring_buffers_its_bulk_message_whole() {
    let q = Queue::<Bytes>::builder()
        .ring_bytes(256 << 10)
        .build()
        .unwrap();
    let other = q.clone();
    let reading = q.clone(); // a possible reader: a stream would wait for it
    // Another handle fills most of the ring (nobody reads yet).
    other.put(blob(200 << 10, 1)).unwrap();
    // No room for this one: it is not streamed (a stream would wait for the reader) but goes to
    // this handle's buffer, whole, and the feeder writes it once the reader makes room.
    q.put(blob(100 << 10, 2)).unwrap();
    assert_eq!(q.buffered(), 1);
    let reader = std::thread::spawn(move || {
        (0..2)
            .map(|_| reading.get_timeout(LONG).unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(
        reader.join().unwrap(),
        [blob(200 << 10, 1), blob(100 << 10, 2)]
    );
}

#[worker]
fn send_kept(q: Queue<Vec<u8>>, len: usize, times: usize) -> Vec<u8> {
    let frame: Vec<u8> = blob(len, 77).0;
    for _ in 0..times {
        q.put_ref(&frame).unwrap();
    }
    frame // still ours after every put
}

/// `put_ref` borrows: the producer sends the same plain `Vec<u8>` (bulk, and not) again and again
/// and keeps it; every copy arrives whole in the other process.
#[multiproc::test]
fn put_ref_sends_a_kept_value_each_time() {
    for (len, ring) in [
        (10, 1 << 20),
        ((1 << 20) + 3, 1 << 20),
        (BULK_MIN * 3, 4096),
    ] {
        let q = Queue::<Vec<u8>>::builder()
            .ring_bytes(ring)
            .build()
            .unwrap();
        let child = send_kept::spawn(q.clone(), len, 5).unwrap();
        let want = blob(len, 77).0;
        for i in 0..5 {
            assert_eq!(
                q.get_timeout(LONG).unwrap(),
                want,
                "copy {i} of {len} bytes"
            );
        }
        assert_eq!(child.join().unwrap(), want);
    }
}
