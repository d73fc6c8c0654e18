//! portfwd: declarative port forwarding on Linux with IPVS.
//!
//! `config` reads and checks the one JSON file; `cli` is the command-line front end.

pub mod cli;
pub mod config;
pub mod kernel;
pub mod state;
