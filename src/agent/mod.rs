//! The alerting agent: evaluates the alert catalogue ([`crate::alerts`]) against
//! the polled snapshots and the stored history, keeps each alert's state, and
//! hands firing and resolved alerts to the receivers ([`crate::notify`]).

pub mod evaluate;
pub mod pipeline;
pub mod run;
pub mod state;
mod template;
