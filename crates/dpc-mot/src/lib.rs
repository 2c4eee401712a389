//! dpc-mot: under construction.
