//! The two predictors that make the cache usable on its own; the full set lives in `dpc-predictors`.

use crate::{AccessPredictor, PredictContext};

/// Predicts nothing: the cache only loads on demand. The baseline of every benchmark.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPrefetch;

impl<K: 'static> AccessPredictor<K> for NoPrefetch {
    fn predict(&mut self, _ctx: &PredictContext<'_, K>, _out: &mut Vec<(K, f64)>) {}

    fn name(&self) -> &str {
        "none"
    }
}

/// Predicts the next `depth` keys after the current one (`current + 1 ..= current + depth`),
/// scoring the nearest highest (`1 / distance`). Works on the integer key types.
#[derive(Clone, Copy, Debug)]
pub struct Lookahead {
    depth: u32,
}

impl Lookahead {
    /// A lookahead of `depth` keys; `depth` 0 predicts nothing.
    pub fn new(depth: u32) -> Self {
        Lookahead { depth }
    }

    /// How many keys ahead this predictor looks.
    pub fn depth(&self) -> u32 {
        self.depth
    }
}

impl Default for Lookahead {
    /// Eight keys ahead.
    fn default() -> Self {
        Lookahead::new(8)
    }
}

macro_rules! lookahead_for {
    ($($t:ty),*) => {$(
        impl AccessPredictor<$t> for Lookahead {
            fn predict(&mut self, ctx: &PredictContext<'_, $t>, out: &mut Vec<($t, f64)>) {
                for d in 1..=self.depth {
                    // Keys past the type's range simply stop the window.
                    let Some(next) = <$t>::try_from(d).ok().and_then(|d| ctx.current.checked_add(d)) else { break };
                    out.push((next, 1.0 / f64::from(d)));
                }
            }

            fn name(&self) -> &str {
                "lookahead"
            }
        }
    )*};
}

lookahead_for!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);
