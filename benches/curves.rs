//! How cost grows: sweeps of message size, producer/consumer counts, task counts, process counts and
//! manager clients, each curve drawn beside a reference measured in the same run, as SVG charts in
//! `docs/img/` (read in `docs/performance.md`).
//!
//! `cargo bench --bench curves [-- --quick] [--only size,mpmc,pool,spawn,manager] [--out DIR]`
//!
//! `--quick` is a smoke run (few points, little work each: seconds); the full sweep takes a few
//! minutes on 2 cores. Every point is also printed as `chart | series | x | y`.

use multiproc::manager::DictProxy;
use multiproc::{Bytes, Connection, Manager, Pipe, Pool, Process, Queue, StartMethod, worker};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Options and timing

struct Options {
    quick: bool,
    only: Option<Vec<String>>,
    out: PathBuf,
}

impl Options {
    fn from_args() -> Options {
        let mut o = Options {
            quick: false,
            only: None,
            out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/img"),
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => o.quick = true,
                "--only" => {
                    o.only = args
                        .next()
                        .map(|s| s.split(',').map(str::to_string).collect())
                }
                "--out" => {
                    if let Some(d) = args.next() {
                        o.out = PathBuf::from(d)
                    }
                }
                _ => {} // cargo bench passes --bench
            }
        }
        o
    }

    fn wants(&self, sweep: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|l| l.iter().any(|w| w == sweep))
    }

    /// Repetitions of a point (its median is drawn): fewer for the long points, one when quick.
    fn reps(&self, long: bool) -> usize {
        match (self.quick, long) {
            (true, _) => 1,
            (false, true) => 3,
            (false, false) => 5,
        }
    }
}

/// Median of `n` runs of `f`.
fn median(n: usize, mut f: impl FnMut() -> f64) -> f64 {
    middle((0..n.max(1)).map(|_| f()).collect())
}

fn middle(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Medians of `n` runs of `a` and of `b`, taken in turns (a, b, a, b, ...), so that a change in the
/// host's speed, or what one left running (rayon's threads spin a while before they sleep), falls on
/// both alike.
fn medians_in_turns(
    n: usize,
    mut a: impl FnMut() -> f64,
    mut b: impl FnMut() -> f64,
) -> (f64, f64) {
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    for _ in 0..n.max(1) {
        va.push(a());
        vb.push(b());
    }
    (middle(va), middle(vb))
}

fn secs(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// The child's half of a synchronised start: say ready, wait for go.
fn gate(conn: &Connection<()>) {
    conn.send(&()).expect("ready");
    conn.recv().expect("go");
}

/// The parent's half: wait until every child is ready, then release them all; returns t0.
fn open_gates(gates: &[Connection<()>]) -> Instant {
    for g in gates {
        g.recv().expect("ready");
    }
    let t0 = Instant::now();
    for g in gates {
        g.send(&()).expect("go");
    }
    t0
}

// ---------------------------------------------------------------------------------------------
// Charts

/// One line: ours are solid with dots, references dashed.
struct Series {
    name: String,
    reference: bool,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

struct Chart {
    file: &'static str,
    title: &'static str,
    x_desc: &'static str,
    y_desc: &'static str,
    x_fmt: fn(f64) -> String,
    /// The x axis's label base: 2 for sizes and small counts, 10 for task counts.
    x_base: f64,
    series: Vec<Series>,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x55, 0x55, 0x55),
];

impl Chart {
    fn new(
        file: &'static str,
        title: &'static str,
        x_desc: &'static str,
        y_desc: &'static str,
        x_fmt: fn(f64) -> String,
        x_base: f64,
    ) -> Chart {
        Chart {
            file,
            title,
            x_desc,
            y_desc,
            x_fmt,
            x_base,
            series: Vec::new(),
        }
    }

    /// Adds a point (and prints it); `series` is created on first use.
    fn point(&mut self, series: &str, reference: bool, color: usize, x: f64, y: f64) {
        println!("{} | {series} | {x} | {y:.4e}", self.file);
        match self.series.iter_mut().find(|s| s.name == series) {
            Some(s) => s.points.push((x, y)),
            None => self.series.push(Series {
                name: series.to_string(),
                reference,
                color: COLORS[color % COLORS.len()],
                points: vec![(x, y)],
            }),
        }
    }

    /// Draws the chart, log-log, into `dir/file`.
    fn draw(&self, dir: &Path) -> Result<(), Box<dyn Error>> {
        let pts = || self.series.iter().flat_map(|s| s.points.iter().copied());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (x, y) in pts().filter(|p| p.0 > 0.0 && p.1 > 0.0) {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if x0 > x1 {
            return Err("no points to draw".into());
        }
        std::fs::create_dir_all(dir)?;
        let path = dir.join(self.file);
        let root = SVGBackend::new(&path, (860, 540)).into_drawing_area();
        root.fill(&WHITE)?;
        let x_fmt = self.x_fmt;
        // Room below the curves for the legend: a share of the height that grows with its lines.
        // The y range is widened to whole decades so that each has its labels.
        let share = 0.03 + 0.055 * self.series.len() as f64;
        let y1 = 10f64.powf((y1 * 1.2).log10().ceil());
        let span = (y1 / y0).ln();
        let y0 = 10f64.powf((y0 / (span * share / (1.0 - share)).exp()).log10().floor());
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, ("sans-serif", 26))
            .margin(14)
            .x_label_area_size(52)
            .y_label_area_size(80)
            .build_cartesian_2d(
                (x0 / 1.3..x1 * 1.3).log_scale().base(self.x_base),
                (y0..y1).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .axis_desc_style(("sans-serif", 18))
            .label_style(("sans-serif", 16))
            .x_label_formatter(&|x| x_fmt(*x))
            .y_label_formatter(&|y| si(*y))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for s in &self.series {
            let color = s.color;
            if s.reference {
                chart
                    .draw_series(DashedLineSeries::new(
                        s.points.clone(),
                        7,
                        5,
                        color.stroke_width(2),
                    ))?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| {
                        DashedPathElement::new(
                            vec![(x, y), (x + 22, y)],
                            5,
                            3,
                            color.stroke_width(2),
                        )
                    });
            } else {
                chart
                    .draw_series(LineSeries::new(s.points.clone(), color.stroke_width(2)))?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2))
                    });
                chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 17))
            .draw()?;
        root.present()?;
        eprintln!("wrote {}", path.display());
        Ok(())
    }
}

/// 1.5k, 2.0M, 0.25, 0.001, ...
fn si(v: f64) -> String {
    if v > 0.0 && v < 1.0 {
        let digits = (-v.log10().floor()) as usize + 1;
        let s = format!("{v:.digits$}");
        return s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    let (d, s) = match v.abs() {
        a if a >= 1e9 => (1e9, "G"),
        a if a >= 1e6 => (1e6, "M"),
        a if a >= 1e3 => (1e3, "k"),
        _ => (1.0, ""),
    };
    let x = v / d;
    if x >= 10.0 || x == x.round() {
        format!("{x:.0}{s}")
    } else {
        format!("{x:.1}{s}")
    }
}

fn bytes_label(v: f64) -> String {
    let v = v.round() as usize;
    match v {
        _ if v >= MIB && v % MIB == 0 => format!("{}MiB", v / MIB),
        _ if v >= KIB && v % KIB == 0 => format!("{}KiB", v / KIB),
        _ if v >= MIB => format!("{:.1}MiB", v as f64 / MIB as f64),
        _ if v >= KIB => format!("{:.1}KiB", v as f64 / KIB as f64),
        _ => format!("{v}B"),
    }
}

fn count_label(v: f64) -> String {
    si(v)
}

// ---------------------------------------------------------------------------------------------
// Throughput against message size: Pipe, Queue<Bytes>, crossbeam threads, memcpy

#[worker]
fn pipe_sender(conn: Connection<()>, size: usize, n: usize) {
    let buf = vec![0xabu8; size];
    conn.recv_bytes().expect("go");
    for _ in 0..n {
        conn.send_bytes(&buf).expect("send");
    }
}

#[worker]
fn queue_sender(q: Queue<Option<Bytes>>, go: Connection<()>, size: usize, n: usize) {
    let blob = Bytes(vec![0xab; size]);
    gate(&go);
    for _ in 0..n {
        q.put(Some(blob.clone())).expect("put");
    }
    q.put(None).expect("put");
}

fn pipe_gbs(size: usize, n: usize) -> f64 {
    let (a, b) = Pipe::<()>::new().expect("pipe");
    let p = pipe_sender::spawn(b, size, n).expect("spawn");
    a.send_bytes(b"go").expect("go");
    let t = Instant::now();
    for _ in 0..n {
        assert_eq!(a.recv_bytes().expect("recv").len(), size);
    }
    let dt = t.elapsed().as_secs_f64();
    p.join().expect("join");
    (n * size) as f64 / dt / 1e9
}

/// As `pipe_gbs`, each message read into one buffer reused (no allocation, no fresh pages).
fn pipe_into_gbs(size: usize, n: usize) -> f64 {
    let (a, b) = Pipe::<()>::new().expect("pipe");
    let p = pipe_sender::spawn(b, size, n).expect("spawn");
    let mut buf = vec![0u8; size];
    a.send_bytes(b"go").expect("go");
    let t = Instant::now();
    for _ in 0..n {
        assert_eq!(a.recv_bytes_into(&mut buf).expect("recv"), size);
    }
    let dt = t.elapsed().as_secs_f64();
    p.join().expect("join");
    (n * size) as f64 / dt / 1e9
}

fn queue_gbs(size: usize, n: usize) -> f64 {
    let q = Queue::<Option<Bytes>>::new().expect("queue");
    let (here, there) = Pipe::<()>::new().expect("pipe");
    let p = queue_sender::spawn(q.clone(), there, size, n).expect("spawn");
    let t0 = open_gates(&[here]);
    let mut count = 0;
    while let Some(b) = q.get().expect("get") {
        assert_eq!(b.len(), size);
        count += 1;
    }
    let dt = t0.elapsed().as_secs_f64();
    p.join().expect("join");
    assert_eq!(count, n);
    (n * size) as f64 / dt / 1e9
}

/// The same messages (a fresh `Vec` each, as a queue's receiver gets) between two threads, over an
/// unbounded channel (a `Queue`'s producer buffers without bound too).
fn crossbeam_gbs(size: usize, n: usize) -> f64 {
    let (tx, rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    let blob = vec![0xabu8; size];
    let dt = secs(|| {
        let producer = std::thread::spawn(move || {
            for _ in 0..n {
                tx.send(blob.clone()).expect("send");
            }
        });
        for _ in 0..n {
            assert_eq!(rx.recv().expect("recv").len(), size);
        }
        producer.join().expect("producer");
    });
    (n * size) as f64 / dt / 1e9
}

/// One thread copying a buffer of `size` bytes into another `n` times: the physical ceiling.
fn memcpy_gbs(size: usize, n: usize) -> f64 {
    let src = vec![0xabu8; size];
    let mut dst = vec![0u8; size];
    dst.copy_from_slice(&src); // fault the pages in first
    let dt = secs(|| {
        for _ in 0..n {
            dst.copy_from_slice(std::hint::black_box(&src));
            std::hint::black_box(&mut dst);
        }
    });
    (n * size) as f64 / dt / 1e9
}

fn sweep_size(opts: &Options) -> Chart {
    let mut c = Chart::new(
        "throughput_vs_size.svg",
        "Throughput against message size (one producer, one consumer)",
        "message size",
        "GB/s",
        bytes_label,
        2.0,
    );
    let mut sizes: Vec<usize> = (0..)
        .map(|k| 8usize << (2 * k))
        .take_while(|&s| s <= 64 * MIB)
        .collect();
    sizes.push(64 * MIB);
    if opts.quick {
        sizes = vec![8, 8 * KIB, 2 * MIB];
    }
    // Bytes moved per point: the small sizes are capped by message count instead.
    let (total, max_msgs) = if opts.quick {
        (8 * MIB, 2_000)
    } else {
        (256 * MIB, 50_000)
    };
    for size in sizes {
        eprintln!("size sweep: {}", bytes_label(size as f64));
        let n = (total / size).clamp(4, max_msgs);
        let long = size >= 4 * MIB;
        let r = opts.reps(long);
        let x = size as f64;
        c.point(
            "Pipe send_bytes/recv_bytes (processes)",
            false,
            0,
            x,
            median(r, || pipe_gbs(size, n)),
        );
        c.point(
            "Pipe recv_bytes_into one reused buffer (processes)",
            false,
            4,
            x,
            median(r, || pipe_into_gbs(size, n)),
        );
        c.point(
            "Queue<Bytes> (processes)",
            false,
            1,
            x,
            median(r, || queue_gbs(size, n)),
        );
        c.point(
            "crossbeam channel (threads)",
            true,
            2,
            x,
            median(r, || crossbeam_gbs(size, n)),
        );
        let copies = (4 * total / size).clamp(4, 4_000_000);
        c.point(
            "memcpy (one thread)",
            true,
            5,
            x,
            median(r, || memcpy_gbs(size, copies)),
        );
    }
    c
}

// ---------------------------------------------------------------------------------------------
// Queue with P producers and C consumers

#[worker]
fn mpmc_producer(q: Queue<Option<u64>>, go: Connection<()>, n: u64) {
    gate(&go);
    for i in 0..n {
        q.put(Some(i)).expect("put");
    }
}

#[worker]
fn mpmc_consumer(q: Queue<Option<u64>>, results: Queue<u64>, go: Connection<()>) {
    gate(&go);
    let mut count = 0;
    while let Some(_x) = q.get().expect("get") {
        count += 1;
    }
    results.put(count).expect("report");
}

/// Messages per second through one queue, `total` u64 messages from `p` producer processes to `c`
/// consumer processes, from the synchronised start to the last consumer's report.
fn queue_mpmc(p: usize, c: usize, total: u64) -> f64 {
    let per = total / p as u64;
    let q = Queue::<Option<u64>>::new().expect("queue");
    let results = Queue::<u64>::new().expect("queue");
    let mut gates = Vec::new();
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    for _ in 0..p {
        let (here, there) = Pipe::<()>::new().expect("pipe");
        producers.push(mpmc_producer::spawn(q.clone(), there, per).expect("spawn"));
        gates.push(here);
    }
    for _ in 0..c {
        let (here, there) = Pipe::<()>::new().expect("pipe");
        consumers.push(mpmc_consumer::spawn(q.clone(), results.clone(), there).expect("spawn"));
        gates.push(here);
    }
    let t0 = open_gates(&gates);
    for pr in producers {
        pr.join().expect("join");
    }
    for _ in 0..c {
        q.put(None).expect("end");
    }
    let got: u64 = (0..c).map(|_| results.get().expect("report")).sum();
    let dt = t0.elapsed().as_secs_f64();
    for co in consumers {
        co.join().expect("join");
    }
    assert_eq!(got, per * p as u64);
    got as f64 / dt
}

fn crossbeam_mpmc(p: usize, c: usize, total: u64) -> f64 {
    let per = total / p as u64;
    let (tx, rx) = crossbeam_channel::unbounded::<Option<u64>>();
    let mut got = 0;
    let dt = secs(|| {
        let producers: Vec<_> = (0..p)
            .map(|_| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..per {
                        tx.send(Some(i)).expect("send");
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..c)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while let Some(_x) = rx.recv().expect("recv") {
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for pr in producers {
            pr.join().expect("producer");
        }
        for _ in 0..c {
            tx.send(None).expect("end");
        }
        got = consumers
            .into_iter()
            .map(|h| h.join().expect("consumer"))
            .sum();
    });
    assert_eq!(got, per * p as u64);
    got as f64 / dt
}

fn sweep_mpmc(opts: &Options) -> Chart {
    let mut c = Chart::new(
        "queue_producers_consumers.svg",
        "Queue of u64 messages: k producers and/or k consumers",
        "k (processes for Queue, threads for crossbeam)",
        "messages/s (total)",
        count_label,
        2.0,
    );
    let ks: Vec<usize> = if opts.quick {
        vec![1, 2, 4]
    } else {
        (1..=8).collect()
    };
    let total = if opts.quick { 20_000 } else { 400_000 };
    let r = opts.reps(false);
    for k in ks {
        eprintln!("mpmc sweep: k = {k}");
        let x = k as f64;
        for (i, (name, p, cc)) in [
            ("k producers, 1 consumer", k, 1),
            ("1 producer, k consumers", 1, k),
            ("k producers, k consumers", k, k),
        ]
        .into_iter()
        .enumerate()
        {
            c.point(
                &format!("Queue: {name}"),
                false,
                i,
                x,
                median(r, || queue_mpmc(p, cc, total)),
            );
            c.point(
                &format!("crossbeam: {name}"),
                true,
                i,
                x,
                median(r, || crossbeam_mpmc(p, cc, total)),
            );
        }
    }
    c
}

// ---------------------------------------------------------------------------------------------
// Pool map against rayon

#[worker]
fn twice_plus_one(x: u64) -> u64 {
    x * 2 + 1
}

fn sweep_pool(opts: &Options) -> Chart {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut c = Chart::new(
        "pool_map_tasks.svg",
        "Pool::map of x*2+1 against rayon par_iter (same number of workers)",
        "tasks in one map",
        "tasks/s",
        count_label,
        10.0,
    );
    let pool = Pool::new(workers).expect("pool");
    assert_eq!(
        pool.map(twice_plus_one, 0..100u64).expect("warm-up")[99],
        199
    );
    let threads = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .expect("rayon");
    let top = if opts.quick { 5 } else { 7 };
    let mut ns = Vec::new();
    for e in 2..=top {
        ns.push(10u64.pow(e));
        if e < top {
            ns.push(3 * 10u64.pow(e));
        }
    }
    let ours_name = format!("Pool::map, {workers} processes");
    let rayon_name = format!("rayon par_iter, {workers} threads");
    for n in ns {
        eprintln!("pool sweep: {n} tasks");
        // Seven of each (in turns) wherever the sweep is not a smoke run: this host's speed moves
        // between maps, and a map of 10^7 tasks takes well under a second.
        let r = if opts.quick { opts.reps(false) } else { 7 };
        let x = n as f64;
        let ours = || {
            let mut out = Vec::new();
            let t = secs(|| out = pool.map(twice_plus_one, 0..n).expect("map"));
            assert!(out.len() == n as usize && out[n as usize - 1] == 2 * n - 1);
            n as f64 / t
        };
        let ray = || {
            use rayon::prelude::*;
            let mut out: Vec<u64> = Vec::new();
            let t = secs(|| {
                out = threads.install(|| {
                    (0..n)
                        .into_par_iter()
                        .map(|x| std::hint::black_box(x) * 2 + 1)
                        .collect()
                })
            });
            assert!(out.len() == n as usize && out[n as usize - 1] == 2 * n - 1);
            n as f64 / t
        };
        let (ours, ray) = medians_in_turns(r, ours, ray);
        c.point(&ours_name, false, 0, x, ours);
        c.point(&rayon_name, true, 2, x, ray);
    }
    c
}

// ---------------------------------------------------------------------------------------------
// Spawning k processes at once

#[worker]
fn noop() {}

/// The argument that makes this binary exit at once: the `Command` reference's child.
const EXIT_AT_ONCE: &str = "--curves-exit-at-once";

fn spawn_all_ms(k: usize, method: StartMethod) -> f64 {
    secs(|| {
        let ps: Vec<Process<()>> = (0..k)
            .map(|_| {
                Process::builder()
                    .start_method(method)
                    .spawn(noop, ())
                    .expect("spawn")
            })
            .collect();
        for p in ps {
            p.join().expect("join");
        }
    }) * 1e3
}

fn command_all_ms(k: usize) -> f64 {
    let exe = std::env::current_exe().expect("current_exe");
    secs(|| {
        let cs: Vec<_> = (0..k)
            .map(|_| {
                std::process::Command::new(&exe)
                    .arg(EXIT_AT_ONCE)
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for mut c in cs {
            assert!(c.wait().expect("wait").success());
        }
    }) * 1e3
}

fn sweep_spawn(opts: &Options) -> Chart {
    let mut c = Chart::new(
        "spawn_processes.svg",
        "Start k processes at once, then join them all",
        "k processes",
        "ms for all k",
        count_label,
        2.0,
    );
    let ks: Vec<usize> = if opts.quick {
        vec![1, 4, 16]
    } else {
        vec![1, 2, 4, 8, 16, 32, 64]
    };
    // Warm-up: the fork server starts at its first use.
    spawn_all_ms(1, StartMethod::ForkServer);
    spawn_all_ms(1, StartMethod::Spawn);
    command_all_ms(1);
    let r = if opts.quick { 1 } else { 5 };
    for k in ks {
        eprintln!("spawn sweep: k = {k}");
        let x = k as f64;
        c.point(
            "StartMethod::ForkServer (the default)",
            false,
            0,
            x,
            median(r, || spawn_all_ms(k, StartMethod::ForkServer)),
        );
        c.point(
            "StartMethod::Spawn",
            false,
            1,
            x,
            median(r, || spawn_all_ms(k, StartMethod::Spawn)),
        );
        c.point(
            "std::process::Command of the same binary (exits at once)",
            true,
            5,
            x,
            median(r, || command_all_ms(k)),
        );
    }
    c
}

// ---------------------------------------------------------------------------------------------
// Manager dict from k client processes

#[worker]
fn dict_client(d: DictProxy<u64, u64>, go: Connection<()>, base: u64, n: u64) -> u64 {
    gate(&go);
    let mut bad = 0;
    for i in base..base + n {
        d.insert(&i, &i).expect("insert");
        if d.get(&i).expect("get") != Some(i) {
            bad += 1;
        }
    }
    bad
}

#[worker]
fn echo(conn: Connection<()>) {
    while let Ok(m) = conn.recv_bytes() {
        if m.is_empty() {
            break;
        }
        conn.send_bytes(&m).expect("echo");
    }
}

/// `n` 8-byte round trips to an echo process of its own.
#[worker]
fn echo_client(peer: Connection<()>, go: Connection<()>, n: u64) {
    gate(&go);
    for _ in 0..n {
        peer.send_bytes(b"01234567").expect("send");
        assert_eq!(peer.recv_bytes().expect("recv").len(), 8);
    }
    peer.send_bytes(b"").expect("stop");
}

/// Total dict operations per second (an insert and a get per key) from `k` client processes.
fn dict_ops(mgr: &Manager, k: u64, n: u64) -> f64 {
    let d = mgr.dict::<u64, u64>().expect("dict");
    let mut gates = Vec::new();
    let mut procs = Vec::new();
    for c in 0..k {
        let (here, there) = Pipe::<()>::new().expect("pipe");
        procs.push(dict_client::spawn(d.clone(), there, c * n, n).expect("spawn"));
        gates.push(here);
    }
    let t0 = open_gates(&gates);
    let bad: u64 = procs.into_iter().map(|p| p.join().expect("client")).sum();
    let t = t0.elapsed().as_secs_f64();
    assert_eq!(bad, 0, "bad gets");
    assert_eq!(d.len().expect("len"), (k * n) as usize);
    2.0 * (k * n) as f64 / t
}

/// Total round trips per second of `k` client processes, each with an echo process of its own.
fn echo_round_trips(k: u64, n: u64) -> f64 {
    let mut gates = Vec::new();
    let mut procs = Vec::new();
    for _ in 0..k {
        let (a, b) = Pipe::<()>::new().expect("pipe");
        let e = echo::spawn(b).expect("spawn");
        let (here, there) = Pipe::<()>::new().expect("pipe");
        procs.push((echo_client::spawn(a, there, n).expect("spawn"), e));
        gates.push(here);
    }
    let t0 = open_gates(&gates);
    let (clients, echoes): (Vec<_>, Vec<_>) = procs.into_iter().unzip();
    for client in clients {
        client.join().expect("client");
    }
    let t = t0.elapsed().as_secs_f64();
    for e in echoes {
        e.join().expect("echo");
    }
    (k * n) as f64 / t
}

fn sweep_manager(opts: &Options) -> Chart {
    let mut c = Chart::new(
        "manager_clients.svg",
        "Manager dict insert+get from k client processes (total)",
        "k client processes",
        "operations/s (total)",
        count_label,
        2.0,
    );
    let mgr = Manager::start().expect("manager");
    let ks: Vec<u64> = if opts.quick {
        vec![1, 2, 4]
    } else {
        (1..=8).collect()
    };
    let n = if opts.quick { 500 } else { 10_000 };
    let r = opts.reps(false);
    dict_ops(&mgr, 1, 100); // warm-up
    for k in ks {
        eprintln!("manager sweep: k = {k}");
        let x = k as f64;
        c.point(
            "DictProxy insert/get",
            false,
            0,
            x,
            median(r, || dict_ops(&mgr, k, n)),
        );
        c.point(
            "Pipe echo round trips: k clients, each with its own echo process",
            true,
            5,
            x,
            median(r, || echo_round_trips(k, 2 * n)),
        );
    }
    c
}

// ---------------------------------------------------------------------------------------------

/// One sweep: measures its points and returns its chart.
type Sweep = fn(&Options) -> Chart;

#[multiproc::main]
fn main() {
    if std::env::args().any(|a| a == EXIT_AT_ONCE) {
        return;
    }
    let opts = Options::from_args();
    let t = Instant::now();
    let sweeps: [(&str, Sweep); 5] = [
        ("size", sweep_size),
        ("mpmc", sweep_mpmc),
        ("pool", sweep_pool),
        ("spawn", sweep_spawn),
        ("manager", sweep_manager),
    ];
    let mut failed = false;
    for (name, sweep) in sweeps {
        if !opts.wants(name) {
            continue;
        }
        let chart = sweep(&opts);
        if let Err(e) = chart.draw(&opts.out) {
            eprintln!("could not draw {}: {e}", chart.file);
            failed = true;
        }
    }
    eprintln!("curves done in {:.0} s", t.elapsed().as_secs_f64());
    if failed {
        std::process::exit(1);
    }
}
