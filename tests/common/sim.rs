//! The simulated iAdvize account the tests poll, on a loopback port.

use iadvize_exporter::simulator::{self, SimConfig, SimHandle};
use tokio::net::TcpListener;

pub async fn start_sim(config: SimConfig) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    simulator::start(config, listener).await.unwrap()
}
