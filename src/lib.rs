//! portfwd: declarative port forwarding on Linux with IPVS.
//!
//! `config` reads and checks the one JSON file; `cli` is the command-line front end.

pub mod apply;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod doctor;
pub mod engine;
// `gen` is a reserved word in Rust 2024; the folder keeps the layout's name.
#[path = "gen/mod.rs"]
pub mod generate;
pub mod health;
pub mod import;
pub mod kernel;
pub mod plan;
pub mod state;
