//! freshet-peerwire: under construction.
