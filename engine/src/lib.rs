//! freshet-engine: under construction.
