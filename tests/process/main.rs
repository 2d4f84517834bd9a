//! Tests that change process-wide state, in a binary of their own so that no
//! other test runs beside them: `config` sets environment variables (which
//! other threads may be reading), `reliability` arms the failure points (a
//! `reload` one would trip any reload running beside it), and `orders` captures
//! the whole process's log at `trace`.

#[path = "../common/mod.rs"]
mod common;

mod config;
mod orders;
mod reliability;
