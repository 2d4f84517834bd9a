//! The integration tests: one binary, so the crate and its dependencies are linked
//! once (see docs/development.md). Tests that change process-wide state live in
//! `tests/process` instead.

#[path = "../common/mod.rs"]
mod common;

mod agent;
mod agent_e2e;
mod agent_promtool;
mod agent_restart;
mod alertmanager;
mod binary;
mod check;
mod custom;
mod custom_examples;
mod custom_features;
mod delivery;
mod demo;
mod demo_history;
mod digest;
mod discover;
mod docs;
mod faults;
mod front_page;
mod fuzz_inputs;
mod gateway;
mod golden;
mod http;
mod http_limits;
mod ipweb;
mod layers;
mod load;
mod notify;
mod onboarding;
mod presets;
mod prometheus;
mod reload;
mod scale_out;
mod silences;
mod simulator;
mod stale_connection;
mod storage;
mod tls;
