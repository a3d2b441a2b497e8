//! Serving: bind, accept, and graceful shutdown that lets open streams finish.

use std::future::Future;
use std::net::SocketAddr;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::app::App;
use crate::routes;

/// A bound, not yet serving, gateway listener.
pub struct Server {
    listener: TcpListener,
    app: App,
}

impl Server {
    pub async fn bind(app: App) -> std::io::Result<Server> {
        let listener = TcpListener::bind(app.config().server.listen).await?;
        Ok(Server { listener, app })
    }

    /// Wraps an already bound listener (tests bind `127.0.0.1:0`).
    pub fn from_listener(app: App, listener: TcpListener) -> Server {
        Server { listener, app }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting and waits (up to the configured
    /// grace period) for in-flight requests and open streams to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let grace = self.app.config().server.shutdown_grace;
        let tasks = self.app.tasks().clone();
        let router = routes::router(self.app);
        // Streams are many small writes: without TCP_NODELAY, Nagle holds each one until the
        // client's delayed ACK (~40 ms on Linux), which shows up directly in time to first token.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
        });
        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
        // Client addresses key the admin login limiter.
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, service).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stopped_tx.send(());
        });
        let drained = async {
            let _ = stopped_rx.await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutting down: draining open requests"
            );
            tasks.close();
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            r = serve => { tasks.close(); let _ = tokio::time::timeout(grace, tasks.wait()).await; r }
            () = drained => { tracing::warn!("grace period over; closing remaining connections"); Ok(()) }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
