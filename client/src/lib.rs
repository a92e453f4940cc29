//! The Freshet client library.
