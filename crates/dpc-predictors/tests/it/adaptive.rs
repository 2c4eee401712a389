//! Adaptive.
