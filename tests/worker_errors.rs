//! `Result<T, WorkerError>`: a worker's error travels back to the parent with its message, its kind
//! and its chain of causes, through `join()` and through a pool, across real processes.

use multiproc::{ErrorKind, Pool, WorkerError, worker};
use std::error::Error as _;
use std::fmt;

/// An error with a cause, as libraries build them.
#[derive(Debug)]
struct ConfigError {
    path: String,
    cause: std::io::Error,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot load config {}", self.path)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

fn load(path: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|cause| ConfigError {
        path: path.to_string(),
        cause,
    })
}

#[worker]
fn read_config(path: String) -> Result<usize, WorkerError> {
    // `?` turns the library error into a WorkerError, keeping its source chain.
    let text = load(&path)?;
    Ok(text.len())
}

#[worker]
fn parse(s: String) -> Result<u32, WorkerError> {
    let n: u32 = s.parse()?;
    if n == 13 {
        return Err(WorkerError::msg("13 is unlucky").context(format!("parsing {s:?}")));
    }
    Ok(n * 2)
}

#[multiproc::test]
fn an_error_with_causes_comes_back_through_join() {
    let p = read_config::spawn("/no/such/dir/multiproc.toml".into()).unwrap();
    let child = p.pid();
    let err = p.join().unwrap().unwrap_err();
    assert_ne!(child, std::process::id());
    assert_eq!(
        err.message(),
        "cannot load config /no/such/dir/multiproc.toml"
    );
    assert!(err.kind().ends_with("ConfigError"), "{}", err.kind());
    let causes: Vec<&str> = err.causes().collect();
    assert_eq!(causes, ["No such file or directory (os error 2)"]);
    assert_eq!(
        format!("{err:#}"),
        "cannot load config /no/such/dir/multiproc.toml: No such file or directory (os error 2)"
    );
    // The std view keeps the chain.
    let std = err.clone().into_std();
    assert_eq!(
        std.source().unwrap().to_string(),
        "No such file or directory (os error 2)"
    );
    // And `?` into multiproc::Error gives a Remote error whose source is the cause.
    let ours: multiproc::Error = err.into();
    assert!(matches!(ours.kind(), ErrorKind::Remote { .. }), "{ours:?}");
    assert!(ours.source().is_some());
}

#[multiproc::test]
fn success_and_io_kinds_come_back_too() {
    let file = std::env::temp_dir().join(format!("multiproc-worker-errors-{}", std::process::id()));
    std::fs::write(&file, "abc").unwrap();
    let n = read_config::spawn(file.to_string_lossy().into_owned())
        .unwrap()
        .join()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(n.unwrap(), 3);
    // A parse error's kind is its type name; its message is the library's.
    let err = parse::spawn("x".into())
        .unwrap()
        .join()
        .unwrap()
        .unwrap_err();
    assert!(err.kind().ends_with("ParseIntError"), "{}", err.kind());
    assert_eq!(err.message(), "invalid digit found in string");
}

#[multiproc::test]
fn errors_in_a_pool_fail_only_their_item() {
    let pool = Pool::new(2).unwrap();
    let items: Vec<String> = ["1", "13", "x", "4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = pool.map(parse, items).unwrap();
    assert_eq!(out[0], Ok(2));
    assert_eq!(out[3], Ok(8));
    let unlucky = out[1].as_ref().unwrap_err();
    assert_eq!(
        unlucky.chain().collect::<Vec<_>>(),
        ["parsing \"13\"", "13 is unlucky"]
    );
    assert_eq!(unlucky.kind(), "WorkerError");
    assert!(
        out[2]
            .as_ref()
            .unwrap_err()
            .kind()
            .ends_with("ParseIntError")
    );
    pool.close();
    pool.join().unwrap();
}
