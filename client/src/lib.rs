//! The Freshet client library.
pub mod tracker_server;
