//! The web server alone, in this process, with no poller behind it: for tests of what
//! stands in front of the routes (TLS, basic auth, limits).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use iadvize_exporter::metrics::Metrics;
use iadvize_exporter::web::{self, ServerLimits, WebSecurity, WebState};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct WebServer {
    pub addr: SocketAddr,
    pub security: WebSecurity,
    stop: Option<oneshot::Sender<()>>,
}

impl WebServer {
    pub async fn start(web_config: &Path, limits: ServerLimits) -> WebServer {
        let security =
            WebSecurity::load_with_reload_interval(web_config, Duration::from_millis(100)).unwrap();
        WebServer::start_with(security, limits).await
    }

    pub async fn start_with(security: WebSecurity, limits: ServerLimits) -> WebServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = WebState {
            metrics: Arc::new(Metrics::new()),
            telemetry_path: "/metrics".to_owned(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(web::serve_with_limits(
            listener,
            state,
            security.clone(),
            limits,
            async move {
                let _ = stopped.await;
            },
        ));
        WebServer {
            addr,
            security,
            stop: Some(stop),
        }
    }

    pub fn https(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
