//! freshet-tracker: under construction.
