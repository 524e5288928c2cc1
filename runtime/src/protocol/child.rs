//! The child protocol: what a parent and a child it started (or a pool and its worker) exchange about
//! one task, whatever started the child.
//!
//! - [`READY`]: the first frame a started child sends, once it has reached the runtime.
//! - A task frame ([`encode_task`], [`decode_task`]): the registry name of the entry point, then its
//!   encoded arguments, with their descriptors.
//! - A report ([`encode_report_into`], [`decode_report`]): a [`Report`], followed on success by the
//!   encoded result. Success is a fixed byte string checked without the codec (pool replies carry one
//!   per item).
//! - A chunk's outcomes ([`encode_outcomes`]): one `Vec<Outcome<R>>`, an [`Outcome`] per item.
//!
//! A failure travels as a [`Failure`]: its [`ErrorKind`] (see [`Kind`] for the encoding) and message,
//! so that a child's `NotAWorker` is a `NotAWorker` in the parent too.

use crate::codec::{self, Encoded};
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::channel::Channel;
use crate::method::StartMethod;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;

/// First frame a child sends: it reached the runtime.
pub(crate) const READY: &[u8] = b"multiproc-ready";

/// What a child reports after running its task.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Report {
    /// The result follows in the same frame, after this tag.
    Ok,
    /// A panic as older builds reported it: the message only (still decoded).
    Panicked(String),
    Failed(Failure),
    /// A panic with where it happened (and the child's backtrace, when `RUST_BACKTRACE` asks for one).
    PanickedAt(Panic),
}

/// A worker's panic on its way to the parent: the payload's message, the location the panic hook saw
/// (`file:line:col`), and the child's backtrace when `RUST_BACKTRACE` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Panic {
    pub(crate) message: String,
    pub(crate) location: Option<String>,
    pub(crate) backtrace: Option<String>,
}

impl Panic {
    /// The panic whose payload `catch_unwind` returned, with what the hook recorded on this thread.
    pub(crate) fn caught(payload: &(dyn std::any::Any + Send)) -> Panic {
        let (location, backtrace) = LAST_PANIC
            .with(|l| l.borrow_mut().take())
            .unwrap_or_default();
        Panic {
            message: panic_message(payload),
            location,
            backtrace,
        }
    }

    fn into_error(self) -> Error {
        let at = self
            .location
            .as_ref()
            .map_or(String::new(), |l| format!(" at {l}"));
        let trace = self
            .backtrace
            .as_ref()
            .map_or(String::new(), |b| format!("\n\nchild backtrace:\n{b}"));
        let text = format!("worker panicked{at}: {}{trace}", self.message);
        Error::new(
            ErrorKind::WorkerPanicked {
                message: self.message,
                location: self.location,
                backtrace: self.backtrace,
            },
            text,
        )
    }
}

/// What the panic hook saw of this thread's latest panic: `(location, backtrace)`.
type Seen = (Option<String>, Option<String>);

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<Seen>> = const { std::cell::RefCell::new(None) };
}

/// In a started child: a panic hook that records each panic's location (and a backtrace when
/// `RUST_BACKTRACE` is set) for the report, then runs the hook that was there (which prints it).
pub(crate) fn record_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
        let trace = std::backtrace::Backtrace::capture();
        let backtrace = (trace.status() == std::backtrace::BacktraceStatus::Captured)
            .then(|| trace.to_string());
        LAST_PANIC.with(|l| *l.borrow_mut() = Some((location, backtrace)));
        previous(info);
    }));
}

impl Report {
    /// The report of a task that failed with `error`.
    pub(crate) fn failed(error: &Error) -> Report {
        Report::Failed(Failure::of(error))
    }
}

/// One item's outcome in a pool chunk: its value, or why it has none. Encoded like [`Report`] with
/// the value inside, so a chunk's outcomes are one `Vec<Outcome<R>>`, encoded and decoded at once.
///
/// The reasons are boxed (serde encodes a `Box<T>` as the `T`, so the wire is unchanged): an outcome
/// is then two words beside a small `R`, and a chunk of a hundred thousand tiny results moves a
/// sixth of the memory it would with the reasons inline (`Panic` alone is nine words).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome<R> {
    Ok(R),
    Panicked(Box<str>),
    Failed(Box<Failure>),
    PanickedAt(Box<Panic>),
}

impl<R> Outcome<R> {
    /// The caller's view of it.
    pub(crate) fn into_result(self) -> Result<R> {
        match self {
            Outcome::Ok(v) => Ok(v),
            Outcome::Panicked(m) => Err(failure(Report::Panicked(m.into()))),
            Outcome::Failed(f) => Err(failure(Report::Failed(*f))),
            Outcome::PanickedAt(p) => Err(p.into_error()),
        }
    }
}

/// An error of the child's, on its way to the parent: its kind and its message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Failure {
    kind: Kind,
    message: String,
}

impl Failure {
    /// The failure that stands for `error`.
    pub(crate) fn of(error: &Error) -> Failure {
        Failure {
            kind: Kind::from(error.kind()),
            // Only text crosses the process boundary: the whole chain goes, causes included.
            message: format!("{error:#}"),
        }
    }

    /// The error this failure stands for, with the kind and message it had where it happened.
    #[cfg(feature = "mpi")]
    pub(crate) fn into_error(self) -> Error {
        Error::new(self.kind.into(), self.message)
    }
}

/// [`ErrorKind`] on the wire. The codec writes the variant's index, one byte: the order here is the
/// encoding, so new kinds go at the end and none is ever reordered or removed. The conversions both
/// ways are exhaustive matches, so a new `ErrorKind` does not compile until it has its number here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Kind {
    WorkerPanicked {
        message: String,
    },
    WorkerDied {
        pid: i32,
        signal: Option<String>,
        code: Option<i32>,
    },
    Timeout,
    Disconnected,
    Codec,
    MessageTooLarge {
        size: u64,
        limit: u64,
    },
    NotAWorker {
        name: String,
    },
    NotBootstrapped,
    InvalidHandle,
    InvalidInput,
    Full,
    Empty,
    Closed,
    NotFound,
    OwnerDied,
    BrokenBarrier,
    Remote {
        message: String,
    },
    Authentication,
    BufferTooShort {
        size: u64,
    },
    Io,
    ShutDown,
    /// `WorkerPanicked` with its location and backtrace (the first variant has the message only).
    WorkerPanickedAt {
        message: String,
        location: Option<String>,
        backtrace: Option<String>,
    },
}

impl From<&ErrorKind> for Kind {
    fn from(kind: &ErrorKind) -> Kind {
        match kind.clone() {
            ErrorKind::WorkerPanicked {
                message,
                location,
                backtrace,
            } => Kind::WorkerPanickedAt {
                message,
                location,
                backtrace,
            },
            ErrorKind::WorkerDied { pid, signal, code } => Kind::WorkerDied { pid, signal, code },
            ErrorKind::Timeout => Kind::Timeout,
            ErrorKind::Disconnected => Kind::Disconnected,
            ErrorKind::Codec => Kind::Codec,
            ErrorKind::MessageTooLarge { size, limit } => Kind::MessageTooLarge {
                size: size as u64,
                limit: limit as u64,
            },
            ErrorKind::NotAWorker { name } => Kind::NotAWorker { name },
            ErrorKind::NotBootstrapped => Kind::NotBootstrapped,
            ErrorKind::InvalidHandle => Kind::InvalidHandle,
            ErrorKind::InvalidInput => Kind::InvalidInput,
            ErrorKind::Full => Kind::Full,
            ErrorKind::Empty => Kind::Empty,
            ErrorKind::Closed => Kind::Closed,
            ErrorKind::NotFound => Kind::NotFound,
            ErrorKind::OwnerDied => Kind::OwnerDied,
            ErrorKind::BrokenBarrier => Kind::BrokenBarrier,
            ErrorKind::Remote { message } => Kind::Remote { message },
            ErrorKind::Authentication => Kind::Authentication,
            ErrorKind::BufferTooShort { size } => Kind::BufferTooShort { size: size as u64 },
            ErrorKind::Io => Kind::Io,
            ErrorKind::ShutDown => Kind::ShutDown,
        }
    }
}

impl From<Kind> for ErrorKind {
    fn from(kind: Kind) -> ErrorKind {
        match kind {
            Kind::WorkerPanicked { message, .. } => ErrorKind::WorkerPanicked {
                message,
                location: None,
                backtrace: None,
            },
            Kind::WorkerPanickedAt {
                message,
                location,
                backtrace,
            } => ErrorKind::WorkerPanicked {
                message,
                location,
                backtrace,
            },
            Kind::WorkerDied { pid, signal, code } => ErrorKind::WorkerDied { pid, signal, code },
            Kind::Timeout => ErrorKind::Timeout,
            Kind::Disconnected => ErrorKind::Disconnected,
            Kind::Codec => ErrorKind::Codec,
            Kind::MessageTooLarge { size, limit } => ErrorKind::MessageTooLarge {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            },
            Kind::NotAWorker { name } => ErrorKind::NotAWorker { name },
            Kind::NotBootstrapped => ErrorKind::NotBootstrapped,
            Kind::InvalidHandle => ErrorKind::InvalidHandle,
            Kind::InvalidInput => ErrorKind::InvalidInput,
            Kind::Full => ErrorKind::Full,
            Kind::Empty => ErrorKind::Empty,
            Kind::Closed => ErrorKind::Closed,
            Kind::NotFound => ErrorKind::NotFound,
            Kind::OwnerDied => ErrorKind::OwnerDied,
            Kind::BrokenBarrier => ErrorKind::BrokenBarrier,
            Kind::Remote { message } => ErrorKind::Remote { message },
            Kind::Authentication => ErrorKind::Authentication,
            Kind::BufferTooShort { size } => ErrorKind::BufferTooShort {
                size: size as usize,
            },
            Kind::Io => ErrorKind::Io,
            Kind::ShutDown => ErrorKind::ShutDown,
        }
    }
}

/// The error a child's failure report stands for (`WorkerPanicked` for a panic; a failure keeps the
/// kind it had in the child).
pub(crate) fn failure(report: Report) -> Error {
    match report {
        Report::Ok => Error::codec("worker reported success without a value"),
        Report::Panicked(message) => Panic {
            message,
            location: None,
            backtrace: None,
        }
        .into_error(),
        Report::PanickedAt(panic) => panic.into_error(),
        Report::Failed(Failure { kind, message }) => {
            Error::new(kind.into(), format!("worker failed: {message}"))
        }
    }
}

/// The message of a caught panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "worker panicked with a non-string payload".to_string()
    }
}

/// Who a started child is, as its parent tells it in the child's task frame: Python's
/// `current_process()` and `parent_process()` in the child, and the start method it inherits (as Python's
/// spawn preparation data carries it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Origin {
    /// The child's own `Process` name.
    pub(crate) name: String,
    /// Whether the parent started it as a daemon.
    pub(crate) daemon: bool,
    /// The parent's start method ([`StartMethod`]'s number; an unknown one is ignored).
    pub(crate) start_method: u8,
    /// The parent program's pid (not the fork server's) and its `current_process()` name.
    pub(crate) parent_pid: u32,
    pub(crate) parent_name: String,
}

impl Origin {
    /// The start method it names, if this build knows it.
    pub(crate) fn start_method(&self) -> Option<StartMethod> {
        StartMethod::from_u8(self.start_method)
    }
}

/// Encodes a task frame: the entry's name, then the arguments. For a task run inside an existing
/// process (a pool's or manager's initializer, the fork server's loop): no [`Origin`].
pub(crate) fn encode_task<A: Serialize + ?Sized>(entry_name: &str, args: &A) -> Result<Encoded> {
    encode_child_task(entry_name, None, args)
}

/// Encodes a task frame: the entry's name, the [`Origin`] of the child that runs it (if it is a started
/// child's one task), then the arguments.
pub(crate) fn encode_child_task<A: Serialize + ?Sized>(
    entry_name: &str,
    origin: Option<&Origin>,
    args: &A,
) -> Result<Encoded> {
    let mut task = codec::encode(entry_name)?;
    codec::encode_into(&origin, &mut task.bytes, &mut task.fds)?;
    codec::encode_into(args, &mut task.bytes, &mut task.fds)?;
    Ok(task)
}

/// Splits a task frame into the entry's name, its [`Origin`] (if any) and the encoded arguments.
pub(crate) fn decode_task(bytes: &[u8]) -> Result<(String, Option<Origin>, &[u8])> {
    let (name, used): (String, usize) = codec::decode_prefix(bytes, Vec::new())?;
    let (origin, more): (Option<Origin>, usize) = codec::decode_prefix(&bytes[used..], Vec::new())?;
    Ok((name, origin, &bytes[used + more..]))
}

/// Sends a task's outcome as one frame: the report, then the result bytes, with the result's
/// descriptors. [`decode_report`] reads it.
pub(crate) fn send_report(chan: &Channel, outcome: (Report, Option<Encoded>)) -> Result<()> {
    let mut bytes = Vec::new();
    let mut fds = Vec::new();
    encode_report_into(outcome, &mut bytes, &mut fds)?;
    let borrowed: Vec<_> = fds.iter().map(std::os::fd::AsFd::as_fd).collect();
    chan.send_raw(&bytes, &borrowed)
}

/// Appends a task's outcome (the report, then the result bytes) to `bytes` and its descriptors to
/// `fds`: the format [`decode_report`] reads, in a frame of its own or inside a pool's result chunk.
pub(crate) fn encode_report_into(
    (report, payload): (Report, Option<Encoded>),
    bytes: &mut Vec<u8>,
    fds: &mut Vec<OwnedFd>,
) -> Result<()> {
    match report {
        Report::Ok if !ok_tag().is_empty() => bytes.extend_from_slice(ok_tag()),
        other => codec::encode_into(&other, bytes, fds)?,
    }
    if let Some(enc) = payload {
        bytes.extend_from_slice(&enc.bytes);
        fds.extend(enc.fds);
    }
    Ok(())
}

/// The encoding of [`Report::Ok`], computed once: the common case of every report, written and
/// recognised without going through the codec (pool tasks send one per item).
fn ok_tag() -> &'static [u8] {
    static TAG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        codec::encode(&Report::Ok)
            .map(|e| e.bytes)
            .unwrap_or_default()
    })
}

/// Decodes a child's final frame into the worker's result.
pub(crate) fn decode_report<R: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<R> {
    let ok = ok_tag();
    if !ok.is_empty() && bytes.starts_with(ok) {
        return codec::decode(&bytes[ok.len()..], fds);
    }
    let (report, used): (Report, usize) = codec::decode_prefix(bytes, Vec::new())?;
    match report {
        Report::Ok => codec::decode(&bytes[used..], fds),
        other => Err(failure(other)),
    }
}

/// Writes a chunk's outcomes one item at a time, encoded exactly as the `Vec<Outcome<R>>` of them
/// would be, without collecting them (a tiny result then costs its own encoding and
/// nothing more: no vector of results, no page faults for it). See [`encode_outcomes_with`].
pub(crate) struct OutcomeWriter<'s, 'a>(&'s mut codec::SeqEncoder<'a>);

impl OutcomeWriter<'_, '_> {
    /// The item returned `value`. A value that does not encode fails only this item.
    #[inline]
    pub(crate) fn ok<R: Serialize>(&mut self, value: &R) {
        /// `Outcome::Ok(v)`, borrowed: serde derives the same newtype variant for the enum.
        struct OkRef<'v, R>(&'v R);
        impl<R: Serialize> Serialize for OkRef<'_, R> {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_newtype_variant("Outcome", 0, "Ok", self.0)
            }
        }
        if let Err(e) = self.0.element(&OkRef(value)) {
            self.other(Outcome::<()>::Failed(Box::new(Failure::of(&e))));
        }
    }

    /// The item panicked.
    pub(crate) fn panicked(&mut self, panic: Panic) {
        self.other(Outcome::<()>::PanickedAt(Box::new(panic)));
    }

    /// An outcome without a value (encoded the same whatever the value type).
    #[cold]
    fn other(&mut self, outcome: Outcome<()>) {
        // Text only: it encodes (were it not to, the sequence comes up short and the chunk fails).
        let _ = self.0.element(&outcome);
    }
}

/// Appends a chunk of `len` outcomes that `fill` writes one by one through an [`OutcomeWriter`];
/// decoded as the `Vec<Outcome<R>>` of them.
pub(crate) fn encode_outcomes_with(
    len: usize,
    out: &mut Vec<u8>,
    out_fds: &mut Vec<OwnedFd>,
    fill: impl FnOnce(&mut OutcomeWriter<'_, '_>),
) -> Result<()> {
    codec::encode_seq(len, out, out_fds, |seq| fill(&mut OutcomeWriter(seq)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_written_one_by_one_encode_as_the_vec() {
        let outcomes: Vec<Outcome<u64>> = vec![
            Outcome::Ok(1),
            Outcome::Ok(300),
            Outcome::PanickedAt(Box::new(Panic {
                message: "boom".into(),
                location: Some("src/x.rs:1:2".into()),
                backtrace: None,
            })),
            Outcome::Ok(u64::MAX),
        ];
        let (mut a, mut b) = (Vec::new(), Vec::new());
        codec::encode_into(&outcomes, &mut a, &mut Vec::new()).unwrap();
        encode_outcomes_with(4, &mut b, &mut Vec::new(), |w| {
            w.ok(&1u64);
            w.ok(&300u64);
            w.panicked(Panic {
                message: "boom".into(),
                location: Some("src/x.rs:1:2".into()),
                backtrace: None,
            });
            w.ok(&u64::MAX);
        })
        .unwrap();
        assert_eq!(a, b);
        // A short sequence is refused, and appends nothing.
        let mut c = vec![7u8];
        assert!(encode_outcomes_with(2, &mut c, &mut Vec::new(), |w| w.ok(&1u64)).is_err());
        assert_eq!(c, [7]);
    }

    fn every_kind() -> Vec<ErrorKind> {
        vec![
            ErrorKind::WorkerPanicked {
                message: "p".into(),
                location: Some("src/x.rs:12:5".into()),
                backtrace: None,
            },
            ErrorKind::WorkerDied {
                pid: 7,
                signal: Some("SIGKILL".into()),
                code: None,
            },
            ErrorKind::Timeout,
            ErrorKind::Disconnected,
            ErrorKind::Codec,
            ErrorKind::MessageTooLarge { size: 9, limit: 4 },
            ErrorKind::NotAWorker { name: "w".into() },
            ErrorKind::NotBootstrapped,
            ErrorKind::InvalidHandle,
            ErrorKind::InvalidInput,
            ErrorKind::Full,
            ErrorKind::Empty,
            ErrorKind::Closed,
            ErrorKind::NotFound,
            ErrorKind::OwnerDied,
            ErrorKind::BrokenBarrier,
            ErrorKind::Remote {
                message: "r".into(),
            },
            ErrorKind::Authentication,
            ErrorKind::BufferTooShort { size: 9 },
            ErrorKind::Io,
            ErrorKind::ShutDown,
        ]
    }

    #[test]
    fn every_kind_crosses_a_report_intact() {
        for kind in every_kind() {
            let err = Error::new(kind.clone(), "it went wrong");
            let mut bytes = Vec::new();
            encode_report_into((Report::failed(&err), None), &mut bytes, &mut Vec::new()).unwrap();
            let back = decode_report::<()>(&bytes, Vec::new()).unwrap_err();
            assert_eq!(back.kind(), &kind);
            assert_eq!(back.to_string(), "worker failed: it went wrong");
        }
    }

    #[test]
    fn kinds_are_one_byte_in_a_fixed_order() {
        for (i, kind) in every_kind().iter().enumerate() {
            let bytes = codec::encode(&Kind::from(kind)).unwrap().bytes;
            // A panic now travels as the last tag (with its location); the first stays decodable.
            let want = if i == 0 { every_kind().len() } else { i };
            assert_eq!(bytes[0] as usize, want, "{kind:?}");
        }
        let old = codec::encode(&Kind::WorkerPanicked {
            message: "m".into(),
        })
        .unwrap()
        .bytes;
        assert_eq!(old[0], 0);
        let back: Kind = codec::decode(&old, Vec::new()).unwrap();
        assert_eq!(
            ErrorKind::from(back),
            ErrorKind::WorkerPanicked {
                message: "m".into(),
                location: None,
                backtrace: None,
            }
        );
    }

    #[test]
    fn ok_report_carries_the_value() {
        let mut bytes = Vec::new();
        let value = codec::encode(&42u32).unwrap();
        encode_report_into((Report::Ok, Some(value)), &mut bytes, &mut Vec::new()).unwrap();
        assert_eq!(decode_report::<u32>(&bytes, Vec::new()).unwrap(), 42);
    }

    #[test]
    fn task_frame_round_trip() {
        let task = encode_task("some::worker", &(1u8, "two")).unwrap();
        let (name, origin, args) = decode_task(&task.bytes).unwrap();
        assert_eq!(name, "some::worker");
        assert_eq!(origin, None);
        let args: (u8, String) = codec::decode(args, Vec::new()).unwrap();
        assert_eq!(args, (1, "two".to_string()));
    }

    #[test]
    fn child_task_frame_carries_its_origin() {
        let origin = Origin {
            name: "Process-3".into(),
            daemon: true,
            start_method: StartMethod::ForkServer as u8,
            parent_pid: 42,
            parent_name: "MainProcess".into(),
        };
        let task = encode_child_task("w", Some(&origin), &(5u8,)).unwrap();
        let (name, back, args) = decode_task(&task.bytes).unwrap();
        assert_eq!((name.as_str(), back.as_ref()), ("w", Some(&origin)));
        assert_eq!(back.unwrap().start_method(), Some(StartMethod::ForkServer));
        let args: (u8,) = codec::decode(args, Vec::new()).unwrap();
        assert_eq!(args, (5,));
    }

    #[test]
    fn a_panic_reports_its_location_and_backtrace() {
        record_panics();
        let line = line!() + 1;
        let caught = std::panic::catch_unwind(|| panic!("it broke")).unwrap_err();
        let panic = Panic::caught(&*caught);
        assert_eq!(panic.message, "it broke");
        let location = panic.location.clone().unwrap();
        assert!(
            location.starts_with(&format!("runtime/src/protocol/child.rs:{line}:")),
            "{location}"
        );
        let mut bytes = Vec::new();
        encode_report_into(
            (Report::PanickedAt(panic), None),
            &mut bytes,
            &mut Vec::new(),
        )
        .unwrap();
        let err = decode_report::<()>(&bytes, Vec::new()).unwrap_err();
        // (followed by the backtrace when RUST_BACKTRACE is set here)
        assert!(
            err.to_string()
                .starts_with(&format!("worker panicked at {location}: it broke")),
            "{err}"
        );
        let traced = Panic {
            message: "m".into(),
            location: Some("src/x.rs:12:5".into()),
            backtrace: Some("0: frame".into()),
        }
        .into_error();
        assert_eq!(
            traced.to_string(),
            "worker panicked at src/x.rs:12:5: m\n\nchild backtrace:\n0: frame"
        );
        assert!(
            matches!(traced.kind(), ErrorKind::WorkerPanicked { backtrace: Some(b), .. } if b == "0: frame")
        );
        // An older child's report (message only) still reads.
        let mut old = Vec::new();
        encode_report_into(
            (Report::Panicked("m".into()), None),
            &mut old,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(
            decode_report::<()>(&old, Vec::new())
                .unwrap_err()
                .to_string(),
            "worker panicked: m"
        );
    }

    #[test]
    fn panic_payloads() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(
            panic_message(&7u8),
            "worker panicked with a non-string payload"
        );
    }
}
