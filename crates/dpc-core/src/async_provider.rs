//! Sources that are naturally async (an object store, an HTTP service): an [`AsyncDataProvider`] and the adapter
//! that lets the cache's own threads drive it, on no particular runtime.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use crate::{DataProvider, Key};

/// Where values come from, for sources whose API is async.
///
/// The cache loads on its own threads (prefetch workers, the caller of `get`, the demand threads of
/// [`get_async`](crate::PrefetchCache::get_async)); wrap the provider in [`BlockOn`] and each of those threads
/// drives one load's future to completion itself, parking between polls. No runtime is assumed: a future that
/// needs one (most tokio I/O does) should hand its work to a runtime the provider owns and await the result
/// (for example `runtime.spawn(fut)` and await the `JoinHandle`), which any executor can do.
///
/// ```
/// use std::convert::Infallible;
/// use dpc_core::{AsyncDataProvider, BlockOn, PrefetchCache};
///
/// struct Remote;
/// impl AsyncDataProvider for Remote {
///     type Key = u64;
///     type Value = String;
///     type Error = Infallible;
///     async fn load(&self, key: &u64) -> Result<String, Infallible> {
///         Ok(format!("object {key}")) // an HTTP range request, in real life
///     }
/// }
///
/// let cache = PrefetchCache::builder(BlockOn::new(Remote)).build()?;
/// assert_eq!(*cache.get(&3)?, "object 3");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait AsyncDataProvider: Send + Sync + 'static {
    /// The key type.
    type Key: Key;
    /// The loaded value.
    type Value: Send + Sync + 'static;
    /// The provider's error; it reaches the caller of a demand load and is never cached.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Loads one value.
    fn load(&self, key: &Self::Key) -> impl Future<Output = Result<Self::Value, Self::Error>> + Send;

    /// Whether `key` exists at all (see [`DataProvider::contains`]). Must be cheap and must not block.
    fn contains(&self, key: &Self::Key) -> bool {
        let _ = key;
        true
    }
}

/// Makes an [`AsyncDataProvider`] a [`DataProvider`]: each load's future runs to completion on the thread
/// that loads (a cache worker, a demand thread or the caller of `get`), which parks while it is pending.
#[derive(Debug)]
pub struct BlockOn<A>(A);

impl<A> BlockOn<A> {
    /// Wraps `provider`.
    pub fn new(provider: A) -> Self {
        BlockOn(provider)
    }

    /// The async provider inside.
    pub fn inner(&self) -> &A {
        &self.0
    }
}

impl<A: AsyncDataProvider> DataProvider for BlockOn<A> {
    type Key = A::Key;
    type Value = A::Value;
    type Error = A::Error;

    fn load(&self, key: &A::Key) -> Result<A::Value, A::Error> {
        block_on(self.0.load(key))
    }

    fn contains(&self, key: &A::Key) -> bool {
        self.0.contains(key)
    }
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `future` to completion on this thread, parking while it is pending.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        // A wake before this park leaves a token, so no wake-up is lost; a spurious return just polls again.
        thread::park();
    }
}
