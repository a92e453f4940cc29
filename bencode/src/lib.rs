//! freshet-bencode: under construction.
