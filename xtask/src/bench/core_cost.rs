//! Part of the `core` suite (docs/BENCHMARKS.md, core): what the cache costs beside the fastest in-memory caches,
//! and what its scheduler costs in CPU.
//!
//! The hidden-cost table: a `u64 -> u64` cache of 4 096 entries over an instant provider, measured for dpc,
//! quick_cache and moka in the same run: a hit on one thread, hits on two threads against one, and a miss of a
//! fresh key (load, insert, evict one, record the access) over 1 M fresh keys.
//!
//! The CPU table: open-loop requests at 60, 1 000 and 10 000 per second over a provider whose loads sleep 1 ms,
//! with a `Lookahead(8)` predictor; the on-CPU time of the cache's own threads (from
//! `/proc/self/task/*/schedstat`) per request and as a share of one core, with polling on (the default) and off.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use dpc_core::{DataProvider, Lookahead, PrefetchCache};

use super::{Suite, median};
use crate::TaskResult;

const CAPACITY: usize = 4096;
const FRESH: u64 = 1_000_000;

/// Returns the key itself at once.
struct Instant0;

impl DataProvider for Instant0 {
    type Key = u64;
    type Value = u64;
    type Error = Infallible;
    fn load(&self, key: &u64) -> Result<u64, Infallible> {
        Ok(*key)
    }
}

/// Sleeps 1 ms per load: a source whose wait costs no CPU.
struct Sleepy;

impl DataProvider for Sleepy {
    type Key = u64;
    type Value = u64;
    type Error = Infallible;
    fn load(&self, key: &u64) -> Result<u64, Infallible> {
        std::thread::sleep(Duration::from_millis(1));
        Ok(*key)
    }
}

/// The three caches behind one face.
trait Under: Sync {
    fn hit(&self, key: u64) -> u64;
    fn miss(&self, key: u64) -> u64;
}

impl Under for PrefetchCache<Instant0> {
    fn hit(&self, key: u64) -> u64 {
        *self.get(&key).expect("instant provider")
    }
    fn miss(&self, key: u64) -> u64 {
        *self.get(&key).expect("instant provider")
    }
}

impl Under for quick_cache::sync::Cache<u64, u64> {
    fn hit(&self, key: u64) -> u64 {
        self.get(&key).unwrap_or(0)
    }
    fn miss(&self, key: u64) -> u64 {
        self.get_or_insert_with(&key, || Ok::<_, Infallible>(key)).unwrap_or(0)
    }
}

impl Under for moka::sync::Cache<u64, u64> {
    fn hit(&self, key: u64) -> u64 {
        self.get(&key).unwrap_or(0)
    }
    fn miss(&self, key: u64) -> u64 {
        self.get_with(key, || key)
    }
}

struct Costs {
    hit_ns: f64,
    scaling: f64,
    miss_ns: f64,
}

fn measure(cache: &dyn Under) -> Costs {
    // Warm: the working set of the hit measures is resident.
    let hot = 1024u64;
    for k in 0..hot {
        cache.miss(k);
    }
    let hit_ns = super::ns_per_op(Duration::from_secs(1), |iters| {
        for i in 0..iters {
            std::hint::black_box(cache.hit(i % hot));
        }
    });
    let one = super::core::throughput(1, |t, i| {
        std::hint::black_box(cache.hit(t * hot / 2 + i % (hot / 2)));
    });
    let two = super::core::throughput(2, |t, i| {
        std::hint::black_box(cache.hit(t * hot / 2 + i % (hot / 2)));
    });
    // Fresh keys: every call loads, inserts and (once full) evicts one. Best of three passes over distinct keys.
    let mut passes = Vec::new();
    for pass in 0..3u64 {
        let base = 1_000_000_000 * (pass + 1);
        let t = Instant::now();
        for k in base..base + FRESH {
            std::hint::black_box(cache.miss(k));
        }
        passes.push(t.elapsed().as_nanos() as f64 / FRESH as f64);
    }
    let miss_ns = passes.iter().copied().fold(f64::INFINITY, f64::min);
    Costs { hit_ns, scaling: two / one, miss_ns }
}

pub fn run(suite: &mut Suite) -> TaskResult {
    // Interleave the three caches over two rounds, so that one busy spell of the host does not decide a ratio.
    let mut rounds: Vec<[Costs; 3]> = Vec::new();
    for _ in 0..2 {
        let dpc = PrefetchCache::builder(Instant0).max_entries(CAPACITY).build()?;
        let d = measure(&dpc);
        dpc.close();
        let q = measure(&quick_cache::sync::Cache::<u64, u64>::new(CAPACITY));
        let m = measure(&moka::sync::Cache::<u64, u64>::new(CAPACITY as u64));
        rounds.push([d, q, m]);
    }
    let best = |f: &dyn Fn(&Costs) -> f64, i: usize, higher: bool| {
        let xs = rounds.iter().map(|r| f(&r[i]));
        if higher { xs.fold(f64::MIN, f64::max) } else { xs.fold(f64::MAX, f64::min) }
    };
    let names = ["dpc", "quick_cache", "moka"];
    let mut table = String::from(
        "| path | dpc | quick_cache 0.7 | moka 0.12 sync | dpc / quick_cache | target |\n|---|---|---|---|---|---|\n",
    );
    let hit: Vec<f64> = (0..3).map(|i| best(&|c| c.hit_ns, i, false)).collect();
    let scaling: Vec<f64> = (0..3).map(|i| best(&|c| c.scaling, i, true)).collect();
    let miss: Vec<f64> = (0..3).map(|i| best(&|c| c.miss_ns, i, false)).collect();
    for (i, name) in names.iter().enumerate() {
        suite.metric(&format!("cost_hit_ns_{name}"), hit[i], "ns");
        suite.metric(&format!("cost_hit_scaling_2_threads_{name}"), scaling[i], "x");
        suite.metric(&format!("cost_miss_ns_{name}"), miss[i], "ns");
    }
    suite.metric("hit_vs_quick_cache", hit[0] / hit[1], "x");
    suite.metric("miss_vs_quick_cache", miss[0] / miss[1], "x");
    table.push_str(&format!(
        "| hit, 1 thread | {:.0} ns | {:.0} ns | {:.0} ns | {:.2} x | <= 1.5 x |\n",
        hit[0],
        hit[1],
        hit[2],
        hit[0] / hit[1]
    ));
    table.push_str(&format!(
        "| hits, 2 threads / 1 thread | {:.2} x | {:.2} x | {:.2} x | | dpc >= 1.6 x |\n",
        scaling[0], scaling[1], scaling[2]
    ));
    table.push_str(&format!(
        "| miss + insert + evict (`get` of an absent key) | {:.0} ns | {:.0} ns | {:.0} ns | {:.2} x | <= 3 x |\n\n",
        miss[0],
        miss[1],
        miss[2],
        miss[0] / miss[1]
    ));
    suite.markdown("### What the cache costs beside the fastest in-memory caches\n");
    suite.markdown(&table);
    suite.markdown(
        "A `u64 -> u64` cache of 4 096 entries over an instant provider; best of two interleaved rounds. \
         dpc's miss is its `get` of an absent key with the default (`NoPrefetch`) predictor, so the scheduler \
         still records it; quick_cache's is `get_or_insert_with`, moka's `get_with`.\n",
    );
    Ok(())
}

/// On-CPU nanoseconds of this process's threads whose name starts with `dpc-`.
fn dpc_threads_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    let mut total = 0;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("dpc-") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    total
}

struct CpuRun {
    cpu_share: f64,
    cpu_us_per_request: f64,
    mean_get_us: f64,
    achieved_rate: f64,
    idle_share: f64,
}

fn cpu_run(rate: f64, poll: bool) -> Result<CpuRun, Box<dyn std::error::Error>> {
    let mut builder = PrefetchCache::builder(Sleepy).predictor(Lookahead::new(8)).max_entries(512);
    if !poll {
        builder = builder.poll_below(Duration::ZERO);
    }
    let cache = builder.build()?;
    let duration = Duration::from_secs_f64((300.0 / rate).clamp(1.0, 3.0));
    let n = (rate * duration.as_secs_f64()) as u64;
    let cpu0 = dpc_threads_cpu_ns();
    let start = Instant::now();
    let mut in_get = Duration::ZERO;
    for i in 0..n {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let t = Instant::now();
        std::hint::black_box(cache.get(&i)?);
        in_get += t.elapsed();
    }
    let wall = start.elapsed();
    let cpu = dpc_threads_cpu_ns() - cpu0;
    // Then nothing: what an idle cache costs over the next second (after it settles).
    cache.quiesce();
    std::thread::sleep(Duration::from_millis(50));
    let idle0 = dpc_threads_cpu_ns();
    let idle_start = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let idle = dpc_threads_cpu_ns() - idle0;
    let idle_wall = idle_start.elapsed();
    cache.close();
    Ok(CpuRun {
        cpu_share: cpu as f64 / wall.as_nanos() as f64,
        cpu_us_per_request: cpu as f64 / n as f64 / 1e3,
        mean_get_us: in_get.as_secs_f64() * 1e6 / n as f64,
        achieved_rate: n as f64 / wall.as_secs_f64(),
        idle_share: idle as f64 / idle_wall.as_nanos() as f64,
    })
}

pub fn cpu_table(suite: &mut Suite) -> TaskResult {
    let mut table = String::from(
        "| requests/s (achieved) | scheduler | CPU of the cache's threads | CPU per request | mean `get` | idle CPU after |\n\
         |---|---|---|---|---|---|\n",
    );
    for rate in [60.0, 1000.0, 10000.0] {
        for poll in [true, false] {
            // Median of three runs by CPU share.
            let mut runs = Vec::new();
            for _ in 0..3 {
                runs.push(cpu_run(rate, poll)?);
            }
            let mut shares: Vec<f64> = runs.iter().map(|r| r.cpu_share).collect();
            let mid = median(&mut shares);
            let r = runs.iter().find(|r| r.cpu_share == mid).expect("the median is a sample");
            let tag = format!("{}_{}", rate as u64, if poll { "poll" } else { "nopoll" });
            suite.metric(&format!("cpu_share_{tag}"), r.cpu_share * 100.0, "% of a core");
            suite.metric(&format!("cpu_us_per_request_{tag}"), r.cpu_us_per_request, "us");
            suite.metric(&format!("mean_get_us_{tag}"), r.mean_get_us, "us");
            suite.metric(&format!("idle_cpu_share_{tag}"), r.idle_share * 100.0, "% of a core");
            table.push_str(&format!(
                "| {} ({:.0}) | {} | {:.2} % of a core | {:.1} us | {:.1} us | {:.3} % |\n",
                rate as u64,
                r.achieved_rate,
                if poll { "polls (default)" } else { "`poll_below(0)`: woken by callers" },
                r.cpu_share * 100.0,
                r.cpu_us_per_request,
                r.mean_get_us,
                r.idle_share * 100.0,
            ));
        }
    }
    suite.markdown("\n### What the scheduler costs in CPU\n");
    suite.markdown(&table);
    suite.markdown(
        "\nOpen-loop requests of consecutive keys over a provider whose loads sleep 1 ms (no CPU), `Lookahead(8)`, \
         512 entries; CPU is the on-CPU time of the cache's own threads (scheduler, workers) from \
         `/proc/self/task/*/schedstat`, median of three runs; target at 1 000/s: at most 10 % of a core. \
         Idle: the same threads over the second after the requests stop.\n",
    );
    Ok(())
}
