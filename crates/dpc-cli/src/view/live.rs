//! The cache behind the viewer: a [`PrefetchCache`] over the MOT file, with a predictor and a latency that can
//! change while it runs, and a loader thread so that the screen never waits for a load.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use dpc_core::{AccessPredictor, DataProvider, Event, PredictContext, PrefetchCache};
use dpc_gen::replay::wait;
use dpc_mot::{Frame, MotError, MotProvider};

use super::app::{CacheView, Control, Loaded, Msg};

/// How many cache events are kept for the events panel between two redraws.
const EVENT_BACKLOG: usize = 256;

/// The viewer's settings for the cache.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Extra time per frame load.
    pub latency: Duration,
    /// Frames the cache holds.
    pub capacity: usize,
    /// Prefetch workers.
    pub workers: usize,
    /// The predictors `p` cycles through, by [`dpc_predictors::by_name`] name; the first is active at start.
    pub predictors: Vec<String>,
}

/// The MOT provider plus a simulated decode time that the viewer's `+`/`-` keys change while the cache runs.
#[derive(Debug)]
pub struct Slow {
    mot: Arc<MotProvider>,
    latency_us: Arc<AtomicU64>,
}

impl DataProvider for Slow {
    type Key = u64;
    type Value = Frame;
    type Error = MotError;

    fn load(&self, frame: &u64) -> Result<Frame, MotError> {
        let loaded = self.mot.load_frame(*frame);
        wait(Duration::from_micros(self.latency_us.load(Ordering::Relaxed)));
        loaded
    }

    fn contains(&self, frame: &u64) -> bool {
        MotProvider::contains(&self.mot, *frame)
    }
}

/// A predictor that delegates to one of a set, chosen by an index another thread may change at any time.
///
/// [`PrefetchCache`] takes its predictor once, at build time; switching through this wrapper keeps the cache
/// and its resident frames. Every predictor of the set observes every request, so the one switched to has
/// learned the same history as the one it replaces and predicts well at once.
pub struct Switch {
    set: Vec<Box<dyn AccessPredictor<u64>>>,
    active: Arc<AtomicUsize>,
}

impl Switch {
    /// A switch over `set` (at least one predictor), delegating to `set[active]`.
    pub fn new(set: Vec<Box<dyn AccessPredictor<u64>>>, active: Arc<AtomicUsize>) -> Switch {
        assert!(!set.is_empty(), "a switch needs at least one predictor");
        Switch { set, active }
    }

    fn active(&mut self) -> &mut Box<dyn AccessPredictor<u64>> {
        let i = self.active.load(Ordering::Relaxed).min(self.set.len() - 1);
        &mut self.set[i]
    }
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.set.iter().map(|p| p.name()).collect();
        f.debug_struct("Switch").field("set", &names).field("active", &self.active).finish()
    }
}

impl AccessPredictor<u64> for Switch {
    fn observe(&mut self, key: &u64) {
        for p in &mut self.set {
            p.observe(key);
        }
    }

    fn predict(&mut self, ctx: &PredictContext<'_, u64>, out: &mut Vec<(u64, f64)>) {
        self.active().predict(ctx, out);
    }

    fn name(&self) -> &str {
        let i = self.active.load(Ordering::Relaxed).min(self.set.len() - 1);
        self.set[i].name()
    }
}

/// The running cache, its loader thread and the knobs the keys turn.
pub struct Live {
    cache: Arc<PrefetchCache<Slow>>,
    mot: Arc<MotProvider>,
    names: Vec<String>,
    active: Arc<AtomicUsize>,
    latency_us: Arc<AtomicU64>,
    requests: Option<Sender<u64>>,
    events: Arc<Mutex<VecDeque<Event<u64>>>>,
    /// How many events the callback has received, for tests that wait for the event thread.
    #[cfg_attr(not(test), allow(dead_code))]
    delivered: Arc<(Mutex<u64>, Condvar)>,
    loader: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("file", &self.mot.path()).field("names", &self.names).finish_non_exhaustive()
    }
}

impl Live {
    /// Opens and indexes `path` and starts the cache and the loader; results go to `notify` as
    /// [`Msg::Loaded`].
    pub fn open(path: &Path, settings: &Settings, notify: Sender<Msg>) -> Result<Live, Box<dyn std::error::Error>> {
        // The provider's own frame and block caches are off: the prefetching cache is the only cache on screen,
        // and a file changed under the viewer is noticed on the next load.
        let mot = Arc::new(crate::source::mot_builder(path).cache_frames(0).block_cache_bytes(0).build()?);
        let mut set = Vec::with_capacity(settings.predictors.len());
        for name in &settings.predictors {
            set.push(dpc_predictors::by_name::<u64>(name)?);
        }
        if set.is_empty() {
            return Err("the viewer needs at least one predictor".into());
        }
        let active = Arc::new(AtomicUsize::new(0));
        let latency_us = Arc::new(AtomicU64::new(micros(settings.latency)));
        let events = Arc::new(Mutex::new(VecDeque::with_capacity(EVENT_BACKLOG)));
        let sink = Arc::clone(&events);
        let delivered = Arc::new((Mutex::new(0), Condvar::new()));
        let count = Arc::clone(&delivered);
        let cache = PrefetchCache::builder(Slow { mot: Arc::clone(&mot), latency_us: Arc::clone(&latency_us) })
            .predictor(Switch::new(set, Arc::clone(&active)))
            .max_entries(settings.capacity)
            .workers(settings.workers)
            .on_event(move |e: &Event<u64>| {
                let mut q = sink.lock().unwrap_or_else(PoisonError::into_inner);
                if q.len() == EVENT_BACKLOG {
                    q.pop_front();
                }
                q.push_back(e.clone());
                drop(q);
                *count.0.lock().unwrap_or_else(PoisonError::into_inner) += 1;
                count.1.notify_all();
            })
            .build()?;
        let cache = Arc::new(cache);
        let (requests, inbox) = mpsc::channel();
        let loader = {
            let cache = Arc::clone(&cache);
            thread::Builder::new().name("dpc-view-loader".into()).spawn(move || load_loop(&cache, &inbox, &notify))?
        };
        Ok(Live {
            cache,
            mot,
            names: settings.predictors.clone(),
            active,
            latency_us,
            requests: Some(requests),
            events,
            delivered,
            loader: Some(loader),
        })
    }

    /// The MOT provider (range, `seqinfo.ini`).
    pub fn mot(&self) -> &MotProvider {
        &self.mot
    }

    /// The cache.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn cache(&self) -> &PrefetchCache<Slow> {
        &self.cache
    }

    /// The names of the predictors `p` cycles through.
    pub fn predictor_names(&self) -> &[String] {
        &self.names
    }

    /// The simulated load latency now.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us.load(Ordering::Relaxed))
    }

    /// Waits until the event callback has received every event the counters account for (events are
    /// delivered by the cache's own thread, after the fact); gives up after `timeout` and returns false.
    #[cfg(test)]
    pub fn wait_events(&self, timeout: Duration) -> bool {
        let s = self.cache.stats();
        let expected = 2 * s.loads
            + 2 * s.prefetch_issued
            + s.prefetch_cancelled
            + s.evictions
            + s.invalidated
            + s.predictor_panics;
        let (count, cv) = &*self.delivered;
        let deadline = Instant::now() + timeout;
        let mut n = count.lock().unwrap_or_else(PoisonError::into_inner);
        while *n < expected {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            n = cv.wait_timeout(n, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        true
    }

    /// The index of the active predictor.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn active_predictor(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }
}

impl Control for Live {
    fn request(&mut self, frame: u64) -> Option<Arc<Frame>> {
        if let Some(tx) = &self.requests {
            // The loader only goes away with `self`, so a failed send cannot happen while the viewer runs.
            let _ = tx.send(frame);
        }
        self.cache.peek(&frame)
    }

    fn set_predictor(&mut self, index: usize) {
        self.active.store(index.min(self.names.len() - 1), Ordering::Relaxed);
    }

    fn set_latency(&mut self, latency: Duration) {
        self.latency_us.store(micros(latency), Ordering::Relaxed);
    }

    fn view(&mut self) -> CacheView {
        CacheView::from_snapshot(self.cache.snapshot())
    }

    fn take_events(&mut self) -> Vec<Event<u64>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).drain(..).collect()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        // Closing first makes a `get` the loader is about to start return at once; a running load finishes.
        self.cache.close();
        self.requests = None;
        if let Some(loader) = self.loader.take() {
            let _ = loader.join();
        }
    }
}

/// The loader: `get`s every requested frame in order, on its own thread, and reports each result.
///
/// A request that is not the newest and whose frame is not resident is skipped: the user has already moved
/// on, and loading it would only delay the frame on screen. Resident ones are still requested, so the
/// predictor sees the steps.
fn load_loop(cache: &PrefetchCache<Slow>, inbox: &Receiver<u64>, notify: &Sender<Msg>) {
    let mut pending: VecDeque<u64> = VecDeque::new();
    loop {
        if pending.is_empty() {
            match inbox.recv() {
                Ok(f) => pending.push_back(f),
                Err(_) => return,
            }
        }
        pending.extend(inbox.try_iter());
        let Some(frame) = pending.pop_front() else { continue };
        if !pending.is_empty() && !cache.contains(&frame) {
            if notify.send(Msg::Loaded(Loaded { frame, result: Err(None), elapsed: Duration::ZERO })).is_err() {
                return;
            }
            continue;
        }
        let t = Instant::now();
        let result = cache.get(&frame).map_err(|e| Some(e.to_string()));
        let elapsed = t.elapsed();
        if notify.send(Msg::Loaded(Loaded { frame, result, elapsed })).is_err() {
            return;
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
