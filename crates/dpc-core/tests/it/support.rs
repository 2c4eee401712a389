//! Providers and predictors that let tests see and steer what the cache does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use dpc_core::{AccessPredictor, DataProvider, Event, PredictContext, PrefetchCache};

/// The error of the test providers.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused(pub u64);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused {}", self.0)
    }
}

impl std::error::Error for Refused {}

/// The value every test provider returns for `key`, so callers can check they got the right one.
pub fn value_of(key: u64) -> String {
    format!("value-{key}")
}

/// Counts loads per key and the most loads of one key ever running at once; can block keys on a gate,
/// fail keys, or panic on keys. Keys beyond `limit` do not exist.
#[derive(Default)]
pub struct TestProvider {
    pub loads: Mutex<HashMap<u64, usize>>,
    pub running: Mutex<HashMap<u64, usize>>,
    pub max_running_same_key: AtomicUsize,
    pub total_loads: AtomicUsize,
    pub gate: Gate,
    pub gated: Mutex<Vec<u64>>,
    pub failing: Mutex<Vec<u64>>,
    pub panicking: Mutex<Vec<u64>>,
    pub limit: Option<u64>,
    /// Signalled (with the key) when a load starts, so tests can wait for it.
    pub started: Mutex<Option<crossbeam_channel::Sender<u64>>>,
}

impl TestProvider {
    pub fn loads_of(&self, key: u64) -> usize {
        self.loads.lock().unwrap().get(&key).copied().unwrap_or(0)
    }

    pub fn gate_keys(&self, keys: &[u64]) {
        self.gated.lock().unwrap().extend_from_slice(keys);
    }

    /// A channel that receives the key of every load as it starts.
    pub fn watch_starts(&self) -> crossbeam_channel::Receiver<u64> {
        let (tx, rx) = crossbeam_channel::unbounded();
        *self.started.lock().unwrap() = Some(tx);
        rx
    }
}

impl DataProvider for TestProvider {
    type Key = u64;
    type Value = String;
    type Error = Refused;

    fn load(&self, key: &u64) -> Result<String, Refused> {
        let key = *key;
        *self.loads.lock().unwrap().entry(key).or_default() += 1;
        self.total_loads.fetch_add(1, Ordering::SeqCst);
        let now = {
            let mut running = self.running.lock().unwrap();
            let n = running.entry(key).or_default();
            *n += 1;
            *n
        };
        self.max_running_same_key.fetch_max(now, Ordering::SeqCst);
        if let Some(tx) = &*self.started.lock().unwrap() {
            let _ = tx.send(key);
        }
        if self.gated.lock().unwrap().contains(&key) {
            self.gate.wait();
        }
        // Give other threads a chance to collide with this load.
        std::thread::yield_now();
        *self.running.lock().unwrap().get_mut(&key).unwrap() -= 1;
        if self.panicking.lock().unwrap().contains(&key) {
            panic!("provider panics on {key}");
        }
        if self.failing.lock().unwrap().contains(&key) {
            return Err(Refused(key));
        }
        Ok(value_of(key))
    }

    fn contains(&self, key: &u64) -> bool {
        self.limit.is_none_or(|l| *key < l)
    }
}

/// A gate that blocks loads until opened.
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    pub fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
    }

    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

/// A predictor whose scores the test sets; it also records the contexts it was called with.
#[derive(Clone, Default)]
pub struct Scripted {
    pub scores: Arc<Mutex<Vec<(u64, f64)>>>,
    pub seen: Arc<Mutex<Vec<(u64, Vec<u64>)>>>,
    pub observed: Arc<Mutex<Vec<u64>>>,
    pub panic_on: Arc<Mutex<Option<u64>>>,
}

impl Scripted {
    pub fn set(&self, scores: &[(u64, f64)]) {
        *self.scores.lock().unwrap() = scores.to_vec();
    }
}

impl AccessPredictor<u64> for Scripted {
    fn observe(&mut self, key: &u64) {
        self.observed.lock().unwrap().push(*key);
    }

    fn predict(&mut self, ctx: &PredictContext<'_, u64>, out: &mut Vec<(u64, f64)>) {
        if *self.panic_on.lock().unwrap() == Some(*ctx.current) {
            panic!("predictor panics on {}", ctx.current);
        }
        self.seen.lock().unwrap().push((*ctx.current, ctx.history.to_vec()));
        out.extend(self.scores.lock().unwrap().iter().copied());
    }
}

/// Collects events; read them after `close`, which delivers every pending event first.
#[derive(Clone, Default)]
pub struct Events(pub Arc<Mutex<Vec<Event<u64>>>>);

impl Events {
    pub fn sink(&self) -> impl Fn(&Event<u64>) + Send + Sync + 'static {
        let events = Arc::clone(&self.0);
        move |e| events.lock().unwrap().push(e.clone())
    }

    pub fn all(&self) -> Vec<Event<u64>> {
        self.0.lock().unwrap().clone()
    }
}

/// Runs `f` on a thread and returns its result, failing the test if it does not finish within a generous
/// bound: a liveness guard against deadlocks, not a timing assertion.
pub fn must_finish<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("{what} did not finish: deadlock?"))
}

/// What a background `get` returns: the value, copied out, or the error.
pub type Got = Result<String, dpc_core::CacheError<u64, Refused>>;

/// Starts `get(key)` on another thread.
pub fn get_in_background(cache: &Arc<PrefetchCache<Arc<TestProvider>>>, key: u64) -> std::thread::JoinHandle<Got> {
    let cache = Arc::clone(cache);
    std::thread::spawn(move || cache.get(&key).map(|v| (*v).clone()))
}

/// Waits until `n` requests have joined loads in flight (each is counted before it starts waiting).
pub fn wait_for_late_hits(cache: &PrefetchCache<Arc<TestProvider>>, n: u64) {
    while cache.stats().late_hits < n {
        std::thread::yield_now();
    }
}

/// The keys of the next `n` loads to start, sorted (loads on different threads start in any order).
pub fn next_starts(starts: &crossbeam_channel::Receiver<u64>, n: usize) -> Vec<u64> {
    let mut keys: Vec<u64> = (0..n).map(|_| starts.recv().unwrap()).collect();
    keys.sort_unstable();
    keys
}

/// The failed-prefetch case, for `get` and `get_async` alike: the request of 1 predicts 2, whose prefetch is held
/// at the gate and will fail; `wait` asks for 2 on another thread while that prefetch is in flight. The waiter must
/// not inherit the prefetch's failure but load 2 itself, once, get its own load's answer (an error too), and be
/// counted once, as a late hit and a miss.
pub fn check_a_waiter_on_a_failed_prefetch_loads_on_demand(
    wait: impl FnOnce(&Arc<PrefetchCache<Arc<TestProvider>>>) -> std::thread::JoinHandle<Got>,
) {
    let p = Arc::new(TestProvider::default());
    p.gate_keys(&[2]);
    p.failing.lock().unwrap().push(2);
    let starts = p.watch_starts();
    let script = Scripted::default();
    script.set(&[(2, 1.0)]);
    let cache = Arc::new(PrefetchCache::builder(Arc::clone(&p)).predictor(script).build().unwrap());
    cache.get(&1).unwrap();
    // The request is recorded before its own load starts, so the prefetch of 2 may start first.
    assert_eq!(next_starts(&starts, 2), [1, 2]);
    let waiter = wait(&cache);
    wait_for_late_hits(&cache, 1);
    p.gate.open();
    match waiter.join().unwrap() {
        Err(dpc_core::CacheError::Provider { key, .. }) => assert_eq!(key, 2),
        other => panic!("expected the demand load's error, got {other:?}"),
    }
    // Counted before the start is read, so that a missing retry fails here instead of blocking in `recv`.
    assert_eq!(p.loads_of(2), 2, "the waiter retried");
    assert_eq!(starts.recv().unwrap(), 2);
    let s = cache.stats();
    assert_eq!((s.prefetch_failed, s.load_errors, s.late_hits, s.misses, s.loads), (1, 1, 1, 1, 2));
}
