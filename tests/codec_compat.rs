//! The codec's own decoder against bincode 2 (standard config, serde): it reads every encoding bincode
//! writes and gets the same value, refuses crafted length claims with a Codec error instead of
//! allocating them, and agrees with bincode on random frames.

use multiproc::ErrorKind;
use multiproc::codec::{self, de};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

fn bin<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(v, bincode::config::standard()).unwrap()
}

/// bincode's encoding, decoded by ours, equals the value; and bincode decodes it the same way.
#[track_caller]
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: T) {
    let bytes = bin(&v);
    assert_eq!(codec::encode(&v).unwrap().bytes, bytes, "encoding changed");
    let ours: T = codec::decode(&bytes, Vec::new()).unwrap();
    assert_eq!(ours, v);
    let (theirs, used): (T, usize) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    assert_eq!(theirs, v);
    assert_eq!(used, bytes.len());
}

#[track_caller]
fn refused<T: DeserializeOwned + Debug>(bytes: &[u8]) -> String {
    match codec::decode::<T>(bytes, Vec::new()) {
        Ok(v) => panic!("{bytes:x?} decoded as {v:?}"),
        Err(e) => {
            assert_eq!(e.kind(), &ErrorKind::Codec, "{e}");
            e.to_string()
        }
    }
}

/// A byte buffer that goes through serde's bytes path (what serde_bytes::ByteBuf does).
#[derive(Debug, PartialEq, Clone)]
struct ByteBuf(Vec<u8>);

impl Serialize for ByteBuf {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Shape {
    Empty,
    Circle(f64),
    Pair(u8, i64),
    Rect { w: u32, h: u32, label: String },
    Nested(Box<Shape>),
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Unit;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Newtype(u64);

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Inner {
    name: String,
    tags: Vec<String>,
    data: Vec<u8>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Mixed {
    a: u8,
    b: i16,
    c: u32,
    d: i64,
    e: u128,
    f: i128,
    g: f32,
    h: bool,
    i: char,
    j: Option<String>,
    k: Vec<u32>,
    l: Shape,
    m: BTreeMap<u16, String>,
    n: (u8, String, Unit),
    o: Newtype,
    p: Inner,
}

fn mixed(seed: u64) -> Mixed {
    Mixed {
        a: seed as u8,
        b: -(seed as i16),
        c: (seed as u32).wrapping_mul(2654435761),
        d: -(seed as i64) * 1_000_003,
        e: (seed as u128) << 70,
        f: -((seed as i128) << 90),
        g: seed as f32 / 3.0,
        h: seed % 2 == 0,
        i: char::from_u32(0x1F600 + (seed as u32 % 50)).unwrap(),
        j: (seed % 3 != 0).then(|| format!("opt{seed}")),
        k: (0..seed as u32 % 20).map(|x| x * 1000).collect(),
        l: Shape::Rect {
            w: 3,
            h: 4,
            label: "r".into(),
        },
        m: (0..3).map(|x| (x * 300, format!("v{x}"))).collect(),
        n: (7, "tuple".into(), Unit),
        o: Newtype(u64::MAX - seed),
        p: Inner {
            name: "inner".into(),
            tags: vec!["a".into(), "ü".into()],
            data: vec![1, 2, 3],
        },
    }
}

#[test]
fn integers_at_varint_boundaries() {
    for v in [0u16, 1, 250, 251, 252, 255, 256, u16::MAX] {
        round_trip(v);
    }
    for v in [0u32, 250, 251, 65535, 65536, u32::MAX] {
        round_trip(v);
    }
    for v in [
        0u64,
        250,
        251,
        65535,
        65536,
        1 << 32,
        (1 << 32) - 1,
        u64::MAX,
    ] {
        round_trip(v);
    }
    for v in [0u128, 250, 251, 1 << 64, (1 << 64) - 1, u128::MAX] {
        round_trip(v);
    }
    for v in [0u8, 250, 251, 255] {
        round_trip(v);
    }
    for v in [0i8, -1, i8::MIN, i8::MAX] {
        round_trip(v);
    }
    for v in [0i16, -1, 125, -126, 126, i16::MIN, i16::MAX] {
        round_trip(v);
    }
    for v in [
        0i32,
        -1,
        125,
        -126,
        126,
        32767,
        -32768,
        32768,
        i32::MIN,
        i32::MAX,
    ] {
        round_trip(v);
    }
    for v in [
        0i64,
        -126,
        126,
        i32::MIN as i64,
        i32::MAX as i64 + 1,
        i64::MIN,
        i64::MAX,
    ] {
        round_trip(v);
    }
    for v in [0i128, -1, i64::MIN as i128 - 1, i128::MIN, i128::MAX] {
        round_trip(v);
    }
    round_trip(usize::MAX);
    round_trip(isize::MIN);
}

#[test]
fn scalars_and_strings() {
    round_trip(true);
    round_trip(false);
    for c in [
        'a',
        '\0',
        'é',
        '€',
        '😀',
        char::MAX,
        '\u{7f}',
        '\u{80}',
        '\u{7ff}',
        '\u{800}',
    ] {
        round_trip(c);
    }
    round_trip(1.5f32);
    round_trip(f32::MIN_POSITIVE);
    round_trip(-0.0f64);
    round_trip(f64::INFINITY);
    let nan: f64 = codec::decode(&bin(&f64::NAN), Vec::new()).unwrap();
    assert!(nan.is_nan());
    round_trip(String::new());
    round_trip("x".repeat(251));
    round_trip("ünïcödé 😀".to_string());
    round_trip(vec![0u8; 70000]);
    round_trip(ByteBuf(vec![]));
    round_trip(ByteBuf((0..=255).collect()));
    // multiproc's public byte buffer goes the same way: one length, then the bytes.
    round_trip(multiproc::Bytes((0..=255).collect()));
    assert_eq!(
        codec::encode(&multiproc::Bytes(vec![9; 300]))
            .unwrap()
            .bytes,
        bin(&ByteBuf(vec![9; 300]))
    );
    round_trip(());
    round_trip(Unit);
    round_trip(Newtype(251));
}

#[test]
fn containers_and_enums() {
    round_trip(Some(3u8));
    round_trip(None::<String>);
    round_trip(Some(Some(None::<u32>)));
    round_trip(vec![Shape::Empty, Shape::Circle(2.5), Shape::Pair(1, -2)]);
    round_trip(Shape::Nested(Box::new(Shape::Nested(Box::new(
        Shape::Empty,
    )))));
    round_trip((1u8, -2i32, "three".to_string(), 4.0f64, 'v'));
    round_trip(vec![(); 1000]);
    round_trip(vec![vec![1u64, 2], vec![], vec![u64::MAX]]);
    let hm: HashMap<String, Vec<i32>> = (0..50).map(|i| (format!("k{i}"), vec![i; 3])).collect();
    round_trip(hm);
    round_trip(BTreeMap::<u64, ()>::new());
    for seed in 0..40 {
        round_trip(mixed(seed));
    }
    round_trip(Result::<u8, String>::Err("e".into()));
    round_trip([1u16, 2, 3, 4]);
}

/// A struct holding plain-data sequences in every place serde hands one over whole or not.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Buffers {
    bytes: Vec<u8>,
    signed: Vec<i8>,
    floats: Vec<f32>,
    doubles: Vec<f64>,
    boxed: Box<[u8]>,
    maybe: Option<Vec<u8>>,
    many: Vec<Vec<u8>>,
    wide: Vec<u16>,
    fixed: [u8; 5],
    deque: std::collections::VecDeque<u8>,
}

/// `Vec<u8>`, `[u8]`, `Vec<f64>`, ... are copied whole by the codec (not element by element): the
/// bytes are still bincode's, every length and value (NaN payloads, -0.0, every byte) comes back,
/// and a slice encodes as its `Vec` does.
#[test]
fn plain_data_sequences_are_bincodes_bytes() {
    for n in [0usize, 1, 250, 251, 300, 65_536, 100_000] {
        let bytes: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
        round_trip(bytes.clone());
        round_trip(bytes.iter().map(|&b| b as i8).collect::<Vec<i8>>());
        round_trip(bytes.clone().into_boxed_slice());
        round_trip(Some(bytes.clone()));
        round_trip(vec![bytes.clone(), vec![], bytes.clone()]);
        assert_eq!(codec::encode(&bytes[..]).unwrap().bytes, bin(&bytes[..]));
        assert_eq!(
            codec::encode(&bytes).unwrap().bytes,
            bin(&ByteBuf(bytes.clone()))
        );
        let floats: Vec<f32> = (0..n).map(|i| i as f32 * -0.5).collect();
        round_trip(floats);
        let doubles: Vec<f64> = (0..n).map(|i| (i as f64).sqrt() - 3.0).collect();
        round_trip(doubles);
    }
    for special in [f64::NAN, -0.0, f64::INFINITY, f64::MIN_POSITIVE / 2.0] {
        let bytes = bin(&vec![special; 3]);
        assert_eq!(codec::encode(&vec![special; 3]).unwrap().bytes, bytes);
        let back: Vec<f64> = codec::decode(&bytes, Vec::new()).unwrap();
        assert!(
            back.iter().all(|v| v.to_bits() == special.to_bits()),
            "{special}"
        );
    }
    for seed in 0..8u8 {
        let b: Vec<u8> = (0..(seed as usize * 97)).map(|i| i as u8 ^ seed).collect();
        round_trip(Buffers {
            bytes: b.clone(),
            signed: b.iter().map(|&x| x as i8).collect(),
            floats: b.iter().map(|&x| x as f32 / 3.0).collect(),
            doubles: b.iter().map(|&x| -(x as f64)).collect(),
            boxed: b.clone().into(),
            maybe: (seed % 2 == 0).then(|| b.clone()),
            many: vec![b.clone(); seed as usize],
            wide: b.iter().map(|&x| x as u16 * 257).collect(),
            fixed: [seed; 5],
            deque: b.iter().copied().collect(),
        });
    }
    // Integer vectors are written as varints in one loop: the same bytes, at every width boundary.
    let edges: Vec<u64> = vec![
        0,
        1,
        250,
        251,
        252,
        255,
        256,
        65_535,
        65_536,
        u32::MAX as u64,
        u32::MAX as u64 + 1,
        u64::MAX,
    ];
    let signed: Vec<i64> = edges
        .iter()
        .flat_map(|&u| [u as i64, (u as i64).wrapping_neg(), !(u as i64)])
        .collect();
    round_trip(edges.clone());
    round_trip(edges.iter().map(|&u| u as u32).collect::<Vec<u32>>());
    round_trip(edges.iter().map(|&u| u as u16).collect::<Vec<u16>>());
    round_trip(edges.iter().map(|&u| u as usize).collect::<Vec<usize>>());
    round_trip(signed.clone());
    round_trip(signed.iter().map(|&i| i as i32).collect::<Vec<i32>>());
    round_trip(signed.iter().map(|&i| i as i16).collect::<Vec<i16>>());
    round_trip(signed.iter().map(|&i| i as isize).collect::<Vec<isize>>());
    round_trip(vec![edges.clone(), vec![], edges.clone()]);
    let long: Vec<u64> = (0..100_000u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 64))
        .collect();
    round_trip(long.clone());
    assert_eq!(codec::encode(&long[..]).unwrap().bytes, bin(&long[..]));
    // Claims are still bounded by the frame: a Vec<f64> of 2^61 elements, or one element too many.
    let mut frame = len_prefix(1 << 61);
    frame.extend_from_slice(&[0; 16]);
    let msg = refused::<Vec<f64>>(&frame);
    assert!(msg.contains("claims"), "{msg}");
    let mut short = len_prefix(3);
    short.extend_from_slice(&[0; 16]);
    refused::<Vec<f64>>(&short);
    refused::<Vec<f32>>(&short[..12]);
    refused::<Vec<u8>>(&short[..3]);
}

/// A varint u64 length in bincode's standard encoding.
fn len_prefix(n: u64) -> Vec<u8> {
    bin(&n)
}

const CLAIMS: [u64; 4] = [1 << 32, (1 << 32) - 1, 1 << 60, u64::MAX];

#[test]
fn crafted_length_claims_are_refused() {
    // The issue's nine bytes: a String claiming 2^60 bytes.
    let msg = refused::<String>(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10]);
    assert!(msg.contains("claims"), "{msg}");
    for claim in CLAIMS {
        let mut frame = len_prefix(claim);
        frame.extend_from_slice(b"some bytes");
        refused::<String>(&frame);
        refused::<ByteBuf>(&frame);
        refused::<Vec<u8>>(&frame);
        refused::<Vec<u64>>(&frame);
        refused::<Vec<String>>(&frame);
        refused::<Vec<()>>(&frame);
        refused::<Vec<Unit>>(&frame);
        refused::<HashMap<u8, u8>>(&frame);
        refused::<BTreeMap<(), ()>>(&frame);
        // Inside a struct: the tags of an Inner claim too much.
        let mut inner = bin(&"name");
        inner.extend_from_slice(&frame);
        refused::<Inner>(&inner);
        // ... and deeper: a Vec of Inner whose second claims too much.
        let mut outer = vec![2];
        outer.extend(bin(&Inner {
            name: "ok".into(),
            tags: vec![],
            data: vec![],
        }));
        outer.extend(bin(&"x"));
        outer.extend(bin(&vec!["t"]));
        outer.extend(&frame);
        refused::<Vec<Inner>>(&outer);
        // A string claim inside an enum variant and inside an option.
        let mut rect = vec![3, 1, 2];
        rect.extend(&frame);
        refused::<Shape>(&rect);
        let mut opt = vec![1];
        opt.extend(&frame);
        refused::<Option<String>>(&opt);
    }
}

#[test]
fn zero_sized_claims_are_bounded_by_the_budget() {
    // A million units claimed by a 5-byte frame: within the budget (frame + 2^20), so it decodes.
    let ok: Vec<()> = codec::decode(&len_prefix(1_000_000), Vec::new()).unwrap();
    assert_eq!(ok.len(), 1_000_000);
    // Beyond the budget: refused at once.
    refused::<Vec<()>>(&len_prefix(de::EXTRA_ELEMENTS + 10));
    // The budget is per decode, not per sequence: two sequences of 2^19 + 2^19 + 10 units in total.
    let mut two = len_prefix(1 << 19);
    two.extend(len_prefix((1 << 19) + 20));
    refused::<(Vec<()>, Vec<()>)>(&two);
    let mut fine = len_prefix(1 << 19);
    fine.extend(len_prefix(1 << 18));
    let (a, b): (Vec<()>, Vec<()>) = codec::decode(&fine, Vec::new()).unwrap();
    assert_eq!((a.len(), b.len()), (1 << 19, 1 << 18));
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Chain(Option<Box<Chain>>);

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    // Run on a small stack (test threads get 2 MiB; use 1 MiB) to prove the limit keeps frames shallow.
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            // 100 levels of Chain = 200 levels of newtype + option: fine.
            let mut ok = vec![1u8; 100];
            ok.push(0);
            let chain: Chain = codec::decode(&ok, Vec::new()).unwrap();
            let mut depth = 0;
            let mut c = &chain;
            while let Some(next) = &c.0 {
                depth += 1;
                c = next;
            }
            assert_eq!(depth, 100);
            // A million levels: refused.
            let mut deep = vec![1u8; 1_000_000];
            deep.push(0);
            let msg = refused::<Chain>(&deep);
            assert!(msg.contains("nests deeper"), "{msg}");
            // Nested sequences: Vec<Vec<...>> as Shape::Nested chains.
            let mut nested = vec![4u8; 100_000];
            nested.push(0);
            refused::<Shape>(&nested);
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn malformed_input_is_a_codec_error() {
    refused::<bool>(&[2]);
    refused::<Option<u8>>(&[2, 0]);
    refused::<String>(&[2, 0xff, 0xfe]);
    refused::<char>(&[0xff]);
    refused::<char>(&[0x80]);
    refused::<char>(&[0xed, 0xa0, 0x80]); // a surrogate
    refused::<char>(&[0xe2, 0x82]); // truncated
    refused::<u16>(&[252, 0, 0, 0, 0]); // u32 marker for a u16
    refused::<u32>(&[253, 0, 0, 0, 0, 0, 0, 0, 0]);
    refused::<u64>(&[254; 17]);
    refused::<u128>(&[255]);
    refused::<u64>(&[251, 1]); // truncated
    refused::<f64>(&[0; 7]);
    refused::<Shape>(&[9]); // no such variant
    refused::<Shape>(&[252, 0, 0, 0, 1]);
    refused::<u8>(&[]);
    refused::<Unit>(&[0]); // trailing byte
    let msg = refused::<u32>(&[1, 2]);
    assert!(msg.contains("trailing"), "{msg}");
    // decode_prefix leaves the rest to the caller, as before.
    let (v, used): (u32, usize) = codec::decode_prefix(&[1, 2], Vec::new()).unwrap();
    assert_eq!((v, used), (1, 1));
}

/// Truncations of every valid encoding are errors, never panics.
#[test]
fn every_truncation_is_refused() {
    for seed in 0..10 {
        let bytes = bin(&mixed(seed));
        for cut in 0..bytes.len() {
            refused::<Mixed>(&bytes[..cut]);
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A random frame: random bytes biased towards varint markers and small values, or a valid
    /// encoding with a few bytes changed, cut or inserted.
    fn frame(&mut self, valid: &[u8]) -> Vec<u8> {
        if self.below(2) == 0 {
            let len = self.below(48) as usize;
            (0..len)
                .map(|_| match self.below(6) {
                    0 => 251 + self.below(5) as u8,
                    1 => 0,
                    2 => 1,
                    _ => self.next() as u8,
                })
                .collect()
        } else {
            let mut f = valid.to_vec();
            for _ in 0..1 + self.below(3) {
                if f.is_empty() {
                    break;
                }
                let i = self.below(f.len() as u64) as usize;
                match self.below(4) {
                    0 => f[i] = self.next() as u8,
                    1 => f.truncate(i),
                    2 => f.insert(i, 251 + self.below(5) as u8),
                    _ => f[i] ^= 1 << self.below(8),
                }
            }
            f
        }
    }
}

/// Both decoders agree on every frame: both refuse, or both accept with the same value and length.
/// bincode runs with a byte limit, so its allocations stay small; the types have no zero-sized
/// sequence elements, on which bincode would loop for as long as the claim.
fn differential<T: Serialize + DeserializeOwned + Debug>(valid: &[u8], rng: &mut Rng, n: usize) {
    let limited = bincode::config::standard().with_limit::<{ 1 << 20 }>();
    for _ in 0..n {
        let frame = rng.frame(valid);
        let ours = codec::decode_prefix::<T>(&frame, Vec::new());
        let theirs = bincode::serde::decode_from_slice::<T, _>(&frame, limited);
        match (ours, theirs) {
            (Ok((a, ua)), Ok((b, ub))) => {
                assert_eq!(bin(&a), bin(&b), "values differ for {frame:x?}");
                assert_eq!(ua, ub, "lengths differ for {frame:x?}");
            }
            (Err(e), Err(_)) => assert_eq!(e.kind(), &ErrorKind::Codec),
            (a, b) => panic!("disagree on {frame:x?}: ours {a:?}, bincode {b:?}"),
        }
    }
}

#[test]
fn random_frames_agree_with_bincode() {
    let mut rng = Rng(0x5eed_c0de_1234_5678);
    let frames = std::env::var("MULTIPROC_FUZZ_FRAMES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000usize);
    for seed in 0..5 {
        differential::<Mixed>(&bin(&mixed(seed)), &mut rng, frames / 5);
    }
    differential::<String>(&bin(&"hello"), &mut rng, frames);
    differential::<Vec<u64>>(&bin(&vec![1u64, 300, 70000, 1 << 40]), &mut rng, frames);
    differential::<(i16, i32, i64, i128, u128)>(
        &bin(&(-300i16, 5i32, -1i64, 7i128, 9u128)),
        &mut rng,
        frames,
    );
    differential::<(char, bool, Option<u32>, f32)>(
        &bin(&('é', true, Some(3u32), 1.0f32)),
        &mut rng,
        frames,
    );
    differential::<Vec<Shape>>(
        &bin(&vec![
            Shape::Nested(Box::new(Shape::Circle(1.0))),
            Shape::Pair(1, 2),
        ]),
        &mut rng,
        frames,
    );
    differential::<BTreeMap<u32, ByteBuf>>(
        &bin(&BTreeMap::from([(1u32, ByteBuf(vec![1, 2]))])),
        &mut rng,
        frames,
    );
}

/// Decode speed against bincode's decoder, release build:
/// `cargo test --release --test codec_compat -- --ignored --nocapture decode_speed`.
#[test]
#[ignore = "a timing report, not a check: run it by hand in a release build (see above)"]
fn decode_speed() {
    use std::hint::black_box;
    use std::time::Instant;
    fn bench<T: Serialize + DeserializeOwned>(name: &str, v: &T, n: usize) {
        let bytes = bin(v);
        let t = Instant::now();
        for _ in 0..n {
            let (x, _): (T, usize) =
                bincode::serde::decode_from_slice(black_box(&bytes), bincode::config::standard())
                    .unwrap();
            black_box(x);
        }
        let theirs = t.elapsed();
        let t = Instant::now();
        for _ in 0..n {
            let x: T = codec::decode(black_box(&bytes), Vec::new()).unwrap();
            black_box(x);
        }
        let ours = t.elapsed();
        let t = Instant::now();
        for _ in 0..n {
            let x = T::deserialize(&mut de::Decoder::new(black_box(&bytes))).unwrap();
            black_box(x);
        }
        let raw = t.elapsed();
        let ns = |d: std::time::Duration| d.as_nanos() as f64 / n as f64;
        println!(
            "{name:<28} {n} decodes of {} bytes: bincode {:>7.1} ns, our decoder {:>7.1} ns ({:.2}x), \
             codec::decode {:>7.1} ns",
            bytes.len(),
            ns(theirs),
            ns(raw),
            theirs.as_secs_f64() / raw.as_secs_f64(),
            ns(ours),
        );
    }
    let n = 1_000_000;
    bench(
        "Vec<u64> (100, mixed sizes)",
        &(0..100u64).map(|i| i * i * i * 977).collect::<Vec<_>>(),
        n,
    );
    bench("String (64 bytes)", &"x".repeat(64), n);
    bench("Mixed struct", &mixed(7), n);
    bench("u64", &123_456u64, n);
    bench("Vec<u8> (4 KiB)", &vec![7u8; 4096], n / 10);
}

/// Encode speed against bincode's encoder, release build:
/// `cargo test --release --test codec_compat -- --ignored --nocapture encode_speed`.
#[test]
#[ignore = "a timing report, not a check: run it by hand in a release build (see above)"]
fn encode_speed() {
    use std::hint::black_box;
    use std::time::Instant;
    fn bench<T: Serialize>(name: &str, v: &T, n: usize) {
        let mut out = Vec::new();
        let t = Instant::now();
        for _ in 0..n {
            out.clear();
            bincode::serde::encode_into_std_write(
                black_box(v),
                &mut out,
                bincode::config::standard(),
            )
            .unwrap();
            black_box(&out);
        }
        let theirs = t.elapsed();
        let mut fds = Vec::new();
        let t = Instant::now();
        for _ in 0..n {
            out.clear();
            codec::encode_into(black_box(v), &mut out, &mut fds).unwrap();
            black_box(&out);
        }
        let ours = t.elapsed();
        let ns = |d: std::time::Duration| d.as_nanos() as f64 / n as f64;
        println!(
            "{name:<28} {n} encodes of {} bytes: bincode {:>8.1} ns, codec::encode_into {:>8.1} ns ({:.2}x)",
            out.len(),
            ns(theirs),
            ns(ours),
            theirs.as_secs_f64() / ours.as_secs_f64(),
        );
    }
    let n = 1_000_000;
    bench(
        "Vec<u64> (100, mixed sizes)",
        &(0..100u64).map(|i| i * i * i * 977).collect::<Vec<_>>(),
        n,
    );
    bench("String (64 bytes)", &"x".repeat(64), n);
    bench("Mixed struct", &mixed(7), n);
    bench("u64", &123_456u64, n);
    bench("Vec<u8> (4 KiB)", &vec![7u8; 4096], n / 10);
    bench("Vec<u8> (1 MiB)", &vec![7u8; 1 << 20], 200);
}
