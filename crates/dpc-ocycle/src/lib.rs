//! # dpc-ocycle: stream rebuffering
//!
//! One producer writes frames of any size; each consumer receives chunks of its own size,
//! with exact sample indices and drift-free timestamps, in bounded memory.
//! It is the Rust successor of Python's `ocycle` 0.1.0 `BufferEmit`, without its faults
//! (see the crate guide, `docs/ocycle.md`).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use dpc_ocycle::{Consumer, FanOut, Flush, SampleRate};
//!
//! // A 48 kHz stream, cut into 0.5 s chunks (serially) and 2 s chunks (on a worker thread).
//! let lens = Arc::new(Mutex::new(Vec::new()));
//! let seen = Arc::clone(&lens);
//! let mut fan = FanOut::<f32>::builder()
//!     .rate(SampleRate::hz(48_000))
//!     .consumer(Consumer::serial(24_000, |chunk| Ok(chunk.len())).clip(true))
//!     .consumer(
//!         Consumer::threads(96_000, 1, |chunk| Ok(chunk.time()))
//!             .clip(true)
//!             .flush(Flush::Pad(0.0))
//!             .on_done(move |done| seen.lock().unwrap().push(done.result.unwrap())),
//!     )
//!     .build()?;
//! let frame = [0.0f32; 480];
//! for _ in 0..300 {
//!     fan.write(&frame)?; // 3 s of audio in 10 ms frames
//! }
//! fan.close()?; // flushes: the 2 s consumer gets a padded second chunk
//! let stats = fan.stats();
//! assert_eq!(stats.consumers[0].chunks_cut, 6);
//! assert_eq!(stats.consumers[1].samples_padded, 48_000);
//! assert_eq!(lens.lock().unwrap()[1].as_secs(), 2); // the second 2 s chunk starts at 2 s
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | feature | how |
//! |---|---|
//! | chunk shape | whole buffer once it holds `size` samples, or exact `size` chunks ([`Consumer::clip`]); hop/overlap windows ([`Consumer::hop`]) |
//! | execution | [`Consumer::serial`] (writer's thread, zero copy), [`Consumer::threads`] (persistent workers, pooled buffers), [`Consumer::process`] / [`Consumer::process_per_chunk`] (child processes, Unix-tested) |
//! | results | `on_done` on the producer side in emission order ([`Done`]); or [`FanOut::take_errors`] |
//! | backpressure | bounded buffer pool and queue; [`Policy`] block, drop oldest, drop newest; counted in [`ConsumerStats`] |
//! | time | sample indices and times from a sample counter since the last anchor ([`SampleRate`]); [`FanOut::write_at`] re-anchors past a tolerance and flags discontinuities |
//! | sampler | pause after each emit for a fixed, random (seeded) or computed duration ([`Sampler`]) |
//! | end of stream | [`Flush`] short, pad, drop; [`FanOut::close`] is idempotent and joins workers |
//! | samples | any [`Sample`]: `u8` bytes, `i16`, `f32` and the other primitive numbers |
//! | fan-out | [`FanOut`]: several consumers of different sizes, one copy of the stream |

mod chunk;
mod consumer;
mod emitter;
mod error;
mod fanout;
mod process;
mod sample;
mod sink;

pub use chunk::{Chunk, ChunkError, Done, ProcessOutput};
pub use consumer::{Consumer, ConsumerStats, DEFAULT_PROCESS_TIMEOUT, Flush, MAX_POOL, Policy, Sampler, Stats};
pub use emitter::{Emitter, EmitterBuilder};
pub use error::{BoxError, BuildError, CallbackError, Error};
pub use fanout::{DEFAULT_TOLERANCE, FanOut, FanOutBuilder};
pub use sample::{Sample, SampleRate};
