//! The comparison harness's common parts: options, timing helpers, the Python baseline and the table.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// Which way is better for a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// One workload's figures: ours and the peers', all measured in this run.
pub struct Row {
    pub workload: &'static str,
    pub unit: &'static str,
    pub better: Better,
    pub ours: f64,
    /// (peer name, figure in the same unit) — procspawn, ipc-channel, crossbeam, rayon, a raw mutex, ...
    pub peers: Vec<(&'static str, f64)>,
    /// Latency rows only: the percentiles of the individual round trips, ours and each peer's (in the
    /// order of `peers`). Built by [`Row::latency`].
    pub pct: Option<Pcts>,
}

/// The 50th and 99th percentiles of one run's individually timed iterations, in the row's unit.
#[derive(Clone, Copy, Debug)]
pub struct Pct {
    pub p50: f64,
    pub p99: f64,
}

/// A latency row's percentiles: ours, then one per peer.
pub struct Pcts {
    pub ours: Pct,
    pub peers: Vec<Pct>,
}

/// One latency figure: the workload's value (the mean: timed seconds / iterations, the Python
/// script's definition) and the percentiles of the individually timed iterations.
#[derive(Clone, Copy, Debug)]
pub struct Lat {
    pub mean: f64,
    pub pct: Pct,
}

impl Row {
    /// A lower-is-better latency row whose figures all carry percentiles.
    pub fn latency(
        workload: &'static str,
        unit: &'static str,
        ours: Lat,
        peers: Vec<(&'static str, Lat)>,
    ) -> Row {
        Row {
            workload,
            unit,
            better: Better::Lower,
            ours: ours.mean,
            pct: Some(Pcts {
                ours: ours.pct,
                peers: peers.iter().map(|(_, l)| l.pct).collect(),
            }),
            peers: peers.into_iter().map(|(n, l)| (n, l.mean)).collect(),
        }
    }
}

/// Command-line options: `--only a,b`, `--no-python`, `--trials N`, `--json PATH`.
pub struct Options {
    pub only: Option<Vec<String>>,
    pub python: bool,
    pub trials: usize,
    pub json: Option<PathBuf>,
}

impl Options {
    pub fn from_args() -> Options {
        let mut o = Options {
            only: None,
            python: true,
            trials: 3,
            json: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--only" => {
                    o.only = args
                        .next()
                        .map(|s| s.split(',').map(str::to_string).collect())
                }
                "--no-python" => o.python = false,
                "--trials" => {
                    o.trials = args.next().and_then(|s| s.parse().ok()).unwrap_or(3).max(1)
                }
                "--json" => o.json = args.next().map(PathBuf::from),
                _ => {} // cargo bench passes --bench
            }
        }
        o
    }

    /// True if `workload` was asked for.
    pub fn wants(&self, workload: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|l| l.iter().any(|w| w == workload))
    }
}

/// Median of `trials` runs of `f`.
pub fn median(trials: usize, mut f: impl FnMut() -> f64) -> f64 {
    f64::median_of((0..trials).map(|_| f()).collect())
}

/// The medians of several figures measured in turns: trial 1 of each, then trial 2 of each, and so
/// on. This VM's host changes speed over seconds to minutes (two modes, up to 2× apart), so measuring
/// all of ours and then all of a peer's can set a fast mode against a slow one; in turns, a change
/// hits every figure of the row alike and the row's ratios stay comparable.
pub fn medians<T: Figure>(trials: usize, fs: &mut [&mut dyn FnMut() -> T]) -> Vec<T> {
    let mut runs: Vec<Vec<T>> = fs.iter().map(|_| Vec::with_capacity(trials)).collect();
    for _ in 0..trials {
        for (f, run) in fs.iter_mut().zip(&mut runs) {
            run.push(f());
        }
    }
    runs.into_iter().map(T::median_of).collect()
}

/// A figure that trials are summed up by: its median.
pub trait Figure: Sized {
    /// The median of one figure's trials (at least one).
    fn median_of(trials: Vec<Self>) -> Self;
}

impl Figure for f64 {
    fn median_of(mut v: Vec<f64>) -> f64 {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    }
}

/// Each of mean, p50 and p99 is the median of the trials' own.
impl Figure for Lat {
    fn median_of(runs: Vec<Lat>) -> Lat {
        let med = |g: &dyn Fn(&Lat) -> f64| f64::median_of(runs.iter().map(g).collect());
        Lat {
            mean: med(&|l| l.mean),
            pct: Pct {
                p50: med(&|l| l.pct.p50),
                p99: med(&|l| l.pct.p99),
            },
        }
    }
}

/// Times `iters` calls of `round`, each on its own, and the whole loop; figures are seconds × `scale`
/// (1e6 for µs). Reading the clock twice per call costs ~50 ns, far below the round trips timed so.
pub fn rounds(iters: usize, scale: f64, mut round: impl FnMut()) -> Lat {
    let mut each = Vec::with_capacity(iters);
    let t0 = Instant::now();
    for _ in 0..iters {
        let t = Instant::now();
        round();
        each.push(t.elapsed().as_secs_f64());
    }
    lat_of(each, t0.elapsed().as_secs_f64(), scale)
}

/// The figures of `each.len()` iterations timed one by one (seconds) that took `total` seconds in all.
pub fn lat_of(mut each: Vec<f64>, total: f64, scale: f64) -> Lat {
    each.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |q: f64| each[((each.len() - 1) as f64 * q).round() as usize] * scale;
    Lat {
        mean: total * scale / each.len() as f64,
        pct: Pct {
            p50: at(0.50),
            p99: at(0.99),
        },
    }
}

/// Median of `trials` runs of `f`, each figure (mean, p50, p99) taken on its own.
pub fn median_lat(trials: usize, mut f: impl FnMut() -> Lat) -> Lat {
    Lat::median_of((0..trials).map(|_| f()).collect())
}

/// Seconds `f` took.
pub fn secs(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// Runs `../shared/bench/python_mp_bench.py --json` for the given workloads (or `$MULTIPROC_PY_BENCH`).
pub fn python(opts: &Options, names: &[&str]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if !opts.python || names.is_empty() {
        return out;
    }
    let script = std::env::var_os("MULTIPROC_PY_BENCH")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/python_mp_bench.py")
        });
    if !script.exists() {
        eprintln!(
            "python baseline not found at {} (set MULTIPROC_PY_BENCH)",
            script.display()
        );
        return out;
    }
    // Workloads of our own (no Python definition) are left out: the script refuses unknown names.
    let known = std::process::Command::new("python3")
        .arg(&script)
        .arg("--list")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let names: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| {
            known
                .lines()
                .any(|l| l.split_whitespace().next() == Some(*n))
        })
        .collect();
    if names.is_empty() {
        return out;
    }
    let json = std::env::temp_dir().join(format!("multiproc-py-{}.json", std::process::id()));
    eprintln!(
        "running the Python baseline ({} workloads) ...",
        names.len()
    );
    let status = std::process::Command::new("python3")
        .arg(&script)
        .arg("--json")
        .arg(&json)
        .arg("--only")
        .arg(names.join(","))
        .arg("--repeat")
        .arg(opts.trials.to_string())
        .stdout(std::process::Stdio::null())
        .status();
    if let Err(e) = status {
        eprintln!("python3 failed to run: {e}");
        return out;
    }
    if let Ok(text) = std::fs::read_to_string(&json) {
        for (name, value) in parse_py_json(&text) {
            out.insert(name, value);
        }
    }
    let _ = std::fs::remove_file(&json);
    out
}

/// Reads `{"name": {"value": x, ...}, ...}` without a JSON dependency.
fn parse_py_json(text: &str) -> Vec<(String, f64)> {
    let mut res = Vec::new();
    let mut rest = text;
    while let Some(q) = rest.find('"') {
        let after = &rest[q + 1..];
        let Some(end) = after.find('"') else { break };
        let key = &after[..end];
        let tail = &after[end + 1..];
        if tail.trim_start().starts_with(':')
            && tail.trim_start()[1..].trim_start().starts_with('{')
        {
            if let Some(v) = tail.find("\"value\"") {
                let num: String = tail[v + 7..]
                    .trim_start_matches([':', ' '])
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || "+-.eE".contains(*c))
                    .collect();
                if let Ok(x) = num.parse() {
                    res.push((key.to_string(), x));
                }
            }
        }
        rest = &after[end + 1..];
    }
    res
}

fn fmt(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// Prints the markdown table the README shows.
pub fn print_table(rows: &[Row], py: &BTreeMap<String, f64>) {
    println!("| workload | unit | multiproc | Python | vs Python | peers (same run) |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        let (pyv, ratio) = match py.get(r.workload) {
            Some(&p) => {
                let ratio = match r.better {
                    Better::Higher => r.ours / p,
                    Better::Lower => p / r.ours,
                };
                (fmt(p), format!("{ratio:.1}× better"))
            }
            None => ("–".into(), "–".into()),
        };
        let with_pct = |v: f64, p: Option<&Pct>| match p {
            Some(p) => format!("{} (p50 {}, p99 {})", fmt(v), fmt(p.p50), fmt(p.p99)),
            None => fmt(v),
        };
        let peers: Vec<String> = r
            .peers
            .iter()
            .enumerate()
            .map(|(i, (n, v))| {
                let p = r.pct.as_ref().and_then(|p| p.peers.get(i));
                format!("{n} {}", with_pct(*v, p))
            })
            .collect();
        println!(
            "| {} | {} ({}) | {} | {} | {} | {} |",
            r.workload,
            r.unit,
            if r.better == Better::Lower {
                "lower is better"
            } else {
                "higher is better"
            },
            with_pct(r.ours, r.pct.as_ref().map(|p| &p.ours)),
            pyv,
            ratio,
            if peers.is_empty() {
                "–".into()
            } else {
                peers.join(", ")
            }
        );
    }
}

/// Writes the rows as JSON for later comparison.
pub fn write_json(path: &std::path::Path, rows: &[Row], py: &BTreeMap<String, f64>) {
    let mut s = String::from("{\n");
    for (i, r) in rows.iter().enumerate() {
        let peers: Vec<String> = r
            .peers
            .iter()
            .map(|(n, v)| format!("\"{n}\": {v}"))
            .collect();
        // Latency rows add "p50" and "p99" beside the values: {"ours": x, "<peer>": y, ...}.
        let pct = match &r.pct {
            Some(p) => {
                let names = std::iter::once("ours").chain(r.peers.iter().map(|(n, _)| *n));
                let figs = std::iter::once(&p.ours).chain(&p.peers);
                let (p50, p99): (Vec<String>, Vec<String>) = names
                    .zip(figs)
                    .map(|(n, f)| (format!("\"{n}\": {}", f.p50), format!("\"{n}\": {}", f.p99)))
                    .unzip();
                format!(
                    ", \"p50\": {{{}}}, \"p99\": {{{}}}",
                    p50.join(", "),
                    p99.join(", ")
                )
            }
            None => String::new(),
        };
        s.push_str(&format!(
            "  \"{}\": {{\"unit\": \"{}\", \"ours\": {}, \"python\": {}, \"peers\": {{{}}}{}}}{}\n",
            r.workload,
            r.unit,
            r.ours,
            py.get(r.workload)
                .map_or("null".to_string(), |v| v.to_string()),
            peers.join(", "),
            pct,
            if i + 1 < rows.len() { "," } else { "" }
        ));
    }
    s.push('}');
    let _ = std::fs::write(path, s);
}
