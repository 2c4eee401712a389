//! dpc-predictors: under construction.
