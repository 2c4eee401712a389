//! Ensemble.
