//! A tokio service over an object in S3: an [`AsyncDataProvider`] of 64 KiB pages read with
//! `ObjectSource::read_range_async`, a `PrefetchCache` over it, and concurrent tasks that `get_async` pages
//! with no `spawn_blocking`: a hit is ready at once, a miss runs on the cache's own threads and is awaited.
//!
//! ```text
//! cargo run -p dpc-io --features remote --example tokio_service                 # an in-process S3 server
//! cargo run -p dpc-io --features remote --example tokio_service -- s3://bucket/key  # a real one (AWS_* env)
//! ```

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use dpc_core::{AsyncDataProvider, BlockOn, PrefetchCache};
use dpc_io::{IoError, ObjectSource, RangeSource, SourceOptions};

const PAGE: u64 = 64 * 1024;

/// Page `k` of an object: bytes `k * PAGE ..` up to the next page or the end.
struct Pages {
    source: ObjectSource,
}

impl Pages {
    fn range(&self, page: u64) -> Range<u64> {
        let start = page * PAGE;
        start..(start + PAGE).min(self.source.len())
    }
}

impl AsyncDataProvider for Pages {
    type Key = u64;
    type Value = bytes::Bytes;
    type Error = IoError;

    fn load(&self, page: &u64) -> impl Future<Output = Result<bytes::Bytes, IoError>> + Send {
        // The request runs on dpc-io's runtime; whoever awaits this future (here a cache thread through
        // `BlockOn`) only waits for it.
        self.source.read_range_async(self.range(*page))
    }

    fn contains(&self, page: &u64) -> bool {
        page.checked_mul(PAGE).is_some_and(|start| start < self.source.len())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Opening is blocking (it pins the object's size and ETag with a HEAD), so it happens before the tokio
    // runtime starts; so does the in-process server, which runs its own runtime.
    let (_server, url, options) = match std::env::args().nth(1) {
        Some(url) => (None, url, SourceOptions::default()),
        None => {
            let server = dpc_testserver::S3Server::start()?;
            let bytes: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
            server.create_bucket("example")?;
            server.put("example", "blob.bin", &bytes)?;
            let mut options = SourceOptions::default().from_env(false);
            for (k, v) in server.settings() {
                options = options.setting(k, v);
            }
            (Some(server), "s3://example/blob.bin".to_string(), options)
        }
    };
    let source = ObjectSource::open(&url, &options)?;
    let pages = source.len().div_ceil(PAGE);
    println!("{url}: {} bytes, {pages} pages of {PAGE} bytes", source.len());
    let cache = Arc::new(PrefetchCache::builder(BlockOn::new(Pages { source })).workers(4).build()?);

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        // Four readers, each walking its quarter of the object page by page, as concurrent requests would.
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for reader in 0..4u64 {
            let cache = Arc::clone(&cache);
            let quarter = pages.div_ceil(4);
            tasks.spawn(async move {
                let mut bytes = 0;
                for page in reader * quarter..((reader + 1) * quarter).min(pages) {
                    bytes += cache.get_async(&page).await?.len();
                }
                Ok::<usize, Box<dyn std::error::Error + Send + Sync>>(bytes)
            });
        }
        let mut total = 0;
        while let Some(done) = tasks.join_next().await {
            total += done??;
        }
        let stats = cache.stats();
        println!(
            "read {total} bytes in {:.1} ms: {} hits, {} late hits, {} misses, {} prefetched",
            started.elapsed().as_secs_f64() * 1e3,
            stats.hits,
            stats.late_hits,
            stats.misses,
            stats.prefetch_completed
        );
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    })
    .map_err(|e| e as Box<dyn std::error::Error>)?;
    cache.close();
    Ok(())
}
