//! dpc-store: under construction.
