//! The toolbox of the integration tests: a simulated iAdvize account, the exporter in
//! this process or as a child process, a parser for the exposition the tests read back,
//! the ground truth to compare it with, and ways to wait for all of them.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code, unused_imports)]

mod exporter;
mod exposition;
mod flags;
mod net;
mod sim;
mod tools;
mod truth;

pub use exporter::*;
pub use exposition::*;
pub use flags::*;
pub use net::*;
pub use sim::*;
pub use tools::*;
pub use truth::*;
