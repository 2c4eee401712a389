//! dpc-ocycle: under construction.
