//! The toolbox of the integration tests: a simulated iAdvize account, the exporter in
//! this process or as a child process and the flags it runs with, a parser for the
//! exposition the tests read back, the ground truth to compare it with, ways to wait for
//! all of them, TLS fixtures, and the Prometheus tools.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code, unused_imports)]

mod exporter;
mod exposition;
mod flags;
mod net;
mod sim;
mod split_writes;
mod tls;
mod tools;
mod truth;
mod web;

pub use exporter::*;
pub use exposition::*;
pub use flags::*;
pub use net::*;
pub use sim::*;
pub use split_writes::*;
pub use tls::*;
pub use tools::*;
pub use truth::*;
pub use web::*;
