//! The single-consumer emitter, the Rust counterpart of Python ocycle's `BufferEmit`.

use std::time::Duration;

use crate::chunk::ChunkError;
use crate::consumer::{Consumer, Stats};
use crate::error::{BuildError, Error};
use crate::fanout::{FanOut, FanOutBuilder};
use crate::sample::{Sample, SampleRate};

/// One producer, one consumer: a [`FanOut`] with a single consumer.
#[derive(Debug)]
pub struct Emitter<T: Sample>(FanOut<T>);

/// Builds an [`Emitter`]: the stream's clock and buffer around one consumer.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct EmitterBuilder<T: Sample>(FanOutBuilder<T>);

impl<T: Sample> Emitter<T> {
    /// An emitter with the default clock (rate 1 Hz, tolerance 10 ms) and buffer.
    pub fn new<R: Send + 'static>(consumer: Consumer<T, R>) -> Result<Self, BuildError> {
        Self::builder(consumer).build()
    }

    /// A builder to set the clock and buffer.
    pub fn builder<R: Send + 'static>(consumer: Consumer<T, R>) -> EmitterBuilder<T> {
        EmitterBuilder(FanOut::builder().consumer(consumer))
    }

    /// See [`FanOut::write`].
    pub fn write(&mut self, data: &[T]) -> Result<(), Error> {
        self.0.write(data)
    }

    /// See [`FanOut::write_at`].
    pub fn write_at(&mut self, data: &[T], time: Duration) -> Result<(), Error> {
        self.0.write_at(data, time)
    }

    /// See [`FanOut::poll`].
    pub fn poll(&mut self) {
        self.0.poll();
    }

    /// See [`FanOut::flush`].
    pub fn flush(&mut self) -> Result<(), Error> {
        self.0.flush()
    }

    /// See [`FanOut::close`].
    pub fn close(&mut self) -> Result<(), Error> {
        self.0.close()
    }

    /// See [`FanOut::is_closed`].
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// See [`FanOut::written`].
    pub fn written(&self) -> u64 {
        self.0.written()
    }

    /// See [`FanOut::stats`]; `consumers` has one entry.
    pub fn stats(&self) -> Stats {
        self.0.stats()
    }

    /// See [`FanOut::take_errors`].
    pub fn take_errors(&mut self) -> Vec<ChunkError> {
        self.0.take_errors()
    }
}

impl<T: Sample> EmitterBuilder<T> {
    /// See [`FanOutBuilder::rate`].
    pub fn rate(self, rate: SampleRate) -> Self {
        EmitterBuilder(self.0.rate(rate))
    }

    /// See [`FanOutBuilder::tolerance`].
    pub fn tolerance(self, tolerance: Duration) -> Self {
        EmitterBuilder(self.0.tolerance(tolerance))
    }

    /// See [`FanOutBuilder::capacity`].
    pub fn capacity(self, samples: usize) -> Self {
        EmitterBuilder(self.0.capacity(samples))
    }

    /// Validates and starts the consumer.
    pub fn build(self) -> Result<Emitter<T>, BuildError> {
        self.0.build().map(Emitter)
    }
}
