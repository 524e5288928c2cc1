//! The Pool on MPI ranks (feature `mpi`), across real `mpirun` jobs. A test with its own `main`
//! (harness = false): run by cargo, it launches itself under `mpirun`, where rank 0 runs the checks
//! and the other ranks serve as node agents:
//! - one host, `mpirun -np 3`: results, starmap, apply_async with callbacks, imap order, large
//!   messages past MPI's eager limit with several in flight, a panic, refused descriptors in
//!   arguments and in results, a worker killed by SIGKILL (`WorkerDied`, the job goes on), a task past
//!   `task_timeout`;
//! - two simulated hosts (each Open MPI daemon in its own UTS namespace with its own host name, TCP
//!   between them): the same checks, and tasks reach both hosts;
//! - unknown workers: rank 0 is this binary, the agents another program (examples/mpi_pool), which
//!   lacks these workers: the tasks fail with `NotAWorker`;
//! - a node agent rank killed mid-map: Open MPI aborts the whole job within seconds (no hang), mpirun
//!   names the rank and the signal, and no process of the job is left behind.
//!
//! Without `mpirun` on the machine it says so and passes, unless `MULTIPROC_REQUIRE_MPI=1` (CI sets it,
//! after installing Open MPI).

use multiproc::manager::DictProxy;
use multiproc::{Backend, Bytes, ErrorKind, Manager, Pool, Queue, worker};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[worker]
fn square(x: u64) -> u64 {
    x * x
}

#[worker]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[worker]
fn panics_at_3(x: u64) -> u64 {
    assert!(x != 3, "three is not allowed");
    x
}

#[worker]
fn killed_at_1(x: u64) -> u64 {
    if x == 1 {
        // SAFETY: kill(2) on this process's own pid.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    x
}

#[worker]
fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[worker]
fn host(_x: u64) -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[worker]
fn checksum(b: Bytes) -> u64 {
    b.0.iter().map(|&x| u64::from(x)).sum()
}

#[worker]
fn queue_len(q: Queue<u64>) -> u64 {
    q.len() as u64
}

#[worker]
fn make_queue(_x: u64) -> Queue<u64> {
    Queue::new().expect("queue")
}

#[worker]
fn put_square(d: DictProxy<u64, u64>, x: u64) -> bool {
    d.insert(&x, &(x * x)).is_ok()
}

/// Kills the node agent that runs it (its logical parent; with the fork server its OS parent is the
/// server).
#[worker]
fn kill_my_agent(x: u64) -> u64 {
    if x == 5 {
        let agent = multiproc::parent_process().expect("a parent").pid();
        // SAFETY: kill(2) with a pid and a signal number.
        unsafe { libc::kill(agent as i32, libc::SIGKILL) };
        std::thread::sleep(Duration::from_secs(5));
    }
    x
}

const MODE: &str = "MULTIPROC_MPI_TEST_MODE";

#[multiproc::main]
fn main() {
    match std::env::var(MODE).ok().as_deref() {
        Some("checks") => exit_with(checks(false)),
        Some("two-hosts") => exit_with(checks(true)),
        Some("unknown") => exit_with(unknown_workers()),
        Some("kill-agent") => {
            let pool = Pool::builder().backend(Backend::Mpi).build().expect("pool");
            let r = pool.map_chunked(kill_my_agent, 0..100u64, 1);
            // Open MPI aborts the job when a rank dies: this line is not expected to run.
            println!("rank 0 outlived its agent: {:?}", r.map(|v| v.len()));
        }
        _ => drive(),
    }
}

fn exit_with(outcome: Result<usize, String>) {
    match outcome {
        Ok(n) => println!("mpi checks passed: {n}"),
        Err(e) => {
            println!("mpi check FAILED: {e}");
            std::process::exit(1);
        }
    }
}

macro_rules! check {
    ($n:ident, $cond:expr, $($why:tt)+) => {{
        if !$cond {
            return Err(format!($($why)+));
        }
        $n += 1;
    }};
}

/// Rank 0 under `mpirun`: every check of the Pool API on the MPI backend.
fn checks(two_hosts: bool) -> Result<usize, String> {
    let mut n = 0;
    let e = |e: multiproc::Error| format!("{e:#}");
    let pool = Pool::builder().backend(Backend::Mpi).build().map_err(e)?;
    check!(
        n,
        pool.backend() == Backend::Mpi,
        "backend {:?}",
        pool.backend()
    );
    check!(
        n,
        pool.ranks() == if two_hosts { 4 } else { 3 },
        "ranks {}",
        pool.ranks()
    );
    check!(n, pool.processes() >= 2, "processes {}", pool.processes());

    // Results, in order, by every form.
    let squares = pool.map(square, 0..10_000u64).map_err(e)?;
    check!(
        n,
        squares
            .iter()
            .enumerate()
            .all(|(i, &s)| s == (i * i) as u64),
        "map results"
    );
    let chunked = pool.map_chunked(square, 0..500u64, 1).map_err(e)?;
    check!(n, chunked == squares[..500], "map with chunk 1");
    check!(n, pool.apply(add, (2, 3)).map_err(e)? == 5, "apply");
    let sums = pool.starmap(add, (0..100u64).map(|i| (i, i))).map_err(e)?;
    check!(
        n,
        sums == (0..100u64).map(|i| 2 * i).collect::<Vec<_>>(),
        "starmap"
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let r = pool
        .apply_async_with(square, (12,), move |v| tx.send(*v).unwrap(), |_| {})
        .map_err(e)?;
    check!(n, r.get().map_err(e)? == 144, "apply_async");
    check!(
        n,
        rx.recv_timeout(Duration::from_secs(10)) == Ok(144),
        "callback"
    );
    let ordered: Vec<u64> = pool
        .imap(square, 0..2_000u64)
        .chunksize(7)
        .collect::<multiproc::Result<_>>()
        .map_err(e)?;
    check!(n, ordered == squares[..2_000], "imap order");
    let mut unordered: Vec<u64> = pool
        .imap_unordered(square, 0..2_000u64)
        .collect::<multiproc::Result<_>>()
        .map_err(e)?;
    unordered.sort_unstable();
    check!(n, unordered == squares[..2_000], "imap_unordered");

    // Messages past the eager limit (4 KiB shared memory, 64 KiB TCP), many in flight at once.
    let blobs: Vec<Bytes> = (0..16u8).map(|i| Bytes(vec![i; 1 << 20])).collect();
    let sums = pool.map_chunked(checksum, blobs, 1).map_err(e)?;
    check!(
        n,
        sums.iter().enumerate().all(|(i, &s)| s == (i as u64) << 20),
        "1 MiB messages: {sums:?}"
    );

    // A panic fails its own task, with its message.
    match pool.apply(panics_at_3, (3,)) {
        Err(err) => check!(
            n,
            matches!(err.kind(), ErrorKind::WorkerPanicked { message, .. } if message.contains("three is not allowed")),
            "panic: {err:#}"
        ),
        Ok(v) => return Err(format!("panicking task returned {v}")),
    }

    // Descriptors are refused before sending, naming the type; results that hold one fail.
    let q: Queue<u64> = Queue::new().map_err(e)?;
    match pool.apply(queue_len, (q,)) {
        Err(err) => check!(
            n,
            *err.kind() == ErrorKind::InvalidInput && err.message().contains("Queue"),
            "refused argument: {err:#}"
        ),
        Ok(v) => return Err(format!("a Queue crossed MPI ranks ({v})")),
    }
    match pool.apply(make_queue, (0,)) {
        Err(err) => check!(
            n,
            err.to_string().contains("cannot cross MPI ranks"),
            "refused result: {err:#}"
        ),
        Ok(_) => return Err("a Queue came back across MPI ranks".into()),
    }

    // A worker killed on its node: `WorkerDied`, replaced, and the job goes on.
    match pool.apply(killed_at_1, (1,)) {
        Err(err) => check!(
            n,
            matches!(err.kind(), ErrorKind::WorkerDied { signal: Some(s), .. } if s == "SIGKILL"),
            "killed worker: {err:#}"
        ),
        Ok(v) => return Err(format!("killed worker returned {v}")),
    }
    check!(
        n,
        pool.apply(square, (9,)).map_err(e)? == 81,
        "after a killed worker"
    );

    // A manager served on every interface hands out an address the other hosts reach: its proxies
    // travel as arguments and work there.
    let manager = Manager::serve("0.0.0.0:0", b"multiproc-mpi-test-key").map_err(e)?;
    let d = manager.dict::<u64, u64>().map_err(e)?;
    let put = pool
        .starmap_chunked(put_square, (0..32u64).map(|i| (d.clone(), i)), 1)
        .map_err(e)?;
    check!(n, put.iter().all(|&ok| ok), "proxy inserts: {put:?}");
    let all: Result<Vec<_>, _> = (0..32u64).map(|i| d.get(&i)).collect();
    check!(
        n,
        all.map_err(e)? == (0..32u64).map(|i| Some(i * i)).collect::<Vec<_>>(),
        "the dict after the inserts"
    );
    drop(d);
    drop(manager);

    // The hosts the tasks ran on.
    let hosts: BTreeSet<String> = pool
        .map_chunked(host, 0..64u64, 1)
        .map_err(e)?
        .into_iter()
        .collect();
    check!(
        n,
        hosts.len() == if two_hosts { 2 } else { 1 },
        "tasks ran on hosts {hosts:?}"
    );
    drop(pool);

    // task_timeout kills the worker on its node.
    let pool = Pool::builder()
        .backend(Backend::Auto)
        .processes(2)
        .task_timeout(Duration::from_millis(500))
        .build()
        .map_err(e)?;
    let t0 = Instant::now();
    match pool.apply(sleep_ms, (30_000,)) {
        Err(err) => check!(
            n,
            err.is_timeout() && t0.elapsed() < Duration::from_secs(20),
            "timeout: {err:#} after {:?}",
            t0.elapsed()
        ),
        Ok(v) => return Err(format!("slept {v} ms past the timeout")),
    }
    check!(
        n,
        pool.apply(sleep_ms, (1,)).map_err(e)? == 1,
        "after a timeout"
    );
    Ok(n)
}

/// Rank 0 is this binary, the agents another program without these workers.
fn unknown_workers() -> Result<usize, String> {
    let pool = Pool::builder()
        .backend(Backend::Mpi)
        .build()
        .map_err(|e| format!("{e:#}"))?;
    // (The example has a `square` of the same path, `mpi_pool::square`: `add` it has not.)
    match pool.starmap(add, [(1, 2), (3, 4)]) {
        Err(err) if matches!(err.kind(), ErrorKind::NotAWorker { .. }) => Ok(1),
        other => Err(format!("a worker the agents lack: {other:?}")),
    }
}

/// Run by cargo: launches the jobs and reads what rank 0 printed.
fn drive() {
    let required = std::env::var_os("MULTIPROC_REQUIRE_MPI").is_some_and(|v| v == "1");
    if Command::new("mpirun").arg("--version").output().is_err() {
        assert!(!required, "mpirun not found, and MULTIPROC_REQUIRE_MPI=1");
        println!(
            "mpi_pool: skipped: mpirun not found (scripts/install-deps.sh --mpi installs Open MPI)"
        );
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    // Outside an MPI launch, Backend::Mpi is refused with a reason and Auto is local.
    let Err(err) = Pool::builder().backend(Backend::Mpi).build() else {
        panic!("Backend::Mpi was accepted outside mpirun");
    };
    assert_eq!(*err.kind(), ErrorKind::InvalidInput, "{err:#}");
    assert!(err.message().contains("mpirun"), "{err:#}");
    let local = Pool::builder()
        .backend(Backend::Auto)
        .processes(1)
        .build()
        .expect("Auto pool");
    assert_eq!((local.backend(), local.ranks()), (Backend::Local, 1));
    assert_eq!(local.apply(square, (7,)).expect("apply"), 49);
    drop(local);

    run_job(
        "one host, 3 ranks",
        mpirun(&["-np", "3"]).arg(&exe).env(MODE, "checks"),
    );
    no_process_left(&exe);

    let example = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("examples/mpi_pool"))
        .filter(|p| p.exists());
    match example {
        Some(other) => run_job(
            "unknown workers (agents run examples/mpi_pool)",
            mpirun(&["-np", "1"])
                .arg("-x")
                .arg(MODE)
                .arg(&exe)
                .arg(":")
                .args(["-np", "2"])
                .arg(other)
                .env(MODE, "unknown"),
        ),
        None => {
            assert!(
                !required,
                "examples/mpi_pool is not built next to this test"
            );
            println!("mpi_pool: unknown-worker job skipped: examples/mpi_pool is not built");
        }
    }

    let t0 = Instant::now();
    let out = mpirun(&["-np", "3"])
        .arg(&exe)
        .env(MODE, "kill-agent")
        .output()
        .expect("run mpirun");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && out.status.code() != Some(124)
            && stderr.contains("exited on signal 9"),
        "a killed agent: {}\n{stderr}",
        out.status
    );
    no_process_left(&exe);
    println!(
        "mpi_pool: a killed agent rank aborts the job ({}) in {:.1?}, nothing left behind",
        out.status,
        t0.elapsed()
    );

    match two_host_agent() {
        Some(agent) => {
            run_job(
                "two simulated hosts, 2 ranks each, TCP between them",
                mpirun(&["--host", "127.0.0.2:2,127.0.0.3:2", "-np", "4"])
                    .args(["--mca", "plm_rsh_agent"])
                    .arg(&agent)
                    .args(["--mca", "btl", "self,vader,tcp"])
                    .args(["--mca", "btl_tcp_if_include", "lo"])
                    .args(["--mca", "oob_tcp_if_include", "lo"])
                    .arg(&exe)
                    .env(MODE, "two-hosts"),
            );
            no_process_left(&exe);
            if let Some(dir) = agent.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        None => {
            assert!(
                !required,
                "unshare --uts is not available for the two-host job"
            );
            println!("mpi_pool: two-host job skipped: `unshare --uts` needs root");
        }
    }
}

/// Waits (up to 20 s) until no process but this one runs `exe`: the job's ranks, agents, fork servers
/// and workers have all ended.
fn no_process_left(exe: &Path) {
    let me = std::process::id().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: Vec<String> = std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()) && *pid != me)
            .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe))
            // An exited process not yet reaped by init is not left running.
            .filter(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let mut fields = stat.rsplit_once(") ").map(|(_, rest)| rest.split(' '));
                let state = fields.as_mut().and_then(|f| f.next()).unwrap_or("Z");
                let ppid = fields.as_mut().and_then(|f| f.next()).unwrap_or_default();
                // This process's own children (its fork server) are not the job's.
                state != "Z" && state != "X" && ppid != me
            })
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes of the job left behind: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `mpirun` with what Open MPI needs here: root allowed, more ranks than cores, no binding.
fn mpirun(args: &[&str]) -> Command {
    let mut c = Command::new("timeout");
    c.args(["-k", "10", "180", "mpirun"])
        .args(["--oversubscribe", "--bind-to", "none"])
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
    c
}

fn run_job(what: &str, cmd: &mut Command) {
    let t0 = Instant::now();
    let out = cmd.output().expect("run mpirun");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("mpi checks passed"),
        "{what}: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("mpi checks passed"))
        .unwrap_or_default();
    println!("mpi_pool: {what}: {line} in {:.1?}", t0.elapsed());
}

/// An ssh stand-in for Open MPI's launcher: each "host" runs its daemon here, inside its own UTS
/// namespace named after the host, so Open MPI (and our workers) see two nodes. `None` where
/// `unshare --uts` is not allowed (it needs root).
fn two_host_agent() -> Option<PathBuf> {
    let ok = Command::new("unshare")
        .args(["--uts", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("multiproc-mpi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let agent = dir.join("rsh-agent");
    std::fs::write(
        &agent,
        "#!/bin/sh\n# ssh <host> <command>: the command runs here, on a host named after <host>\n\
         host=$1; shift\n\
         exec unshare --uts sh -c \"hostname node-$(echo \"$host\" | tr -c 'a-zA-Z0-9\\n' '-'); $*\"\n",
    )
    .ok()?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).ok()?;
    Some(agent)
}
