//! Serving the router: one single-threaded runtime per worker thread, and
//! an acceptor that hands each new connection to the next worker in turn.
//!
//! Every connection then lives on one thread for its whole life: reading a
//! request, answering it and waiting for the next one never wakes another
//! thread. (A work-stealing runtime wakes a parked worker through a futex
//! and the I/O driver through an eventfd several times per request; on a
//! small machine that was about a tenth of the server's CPU at saturation.)
//! Blocking work (a durable write) still goes to each runtime's blocking
//! pool. HTTP/1.1 is served by hyper. A request for one of the router's own
//! paths (`/health`, `/metrics`, ...) goes through axum's router; every
//! other request is the AWS endpoint and goes straight to its handler,
//! which is where the router would send it.

use crate::AppState;
use axum::extract::{ConnectInfo, State};
use axum::Router;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tower_service::Service;
use ward_core::store::Store;

/// A connection for a worker: the stream (still non-blocking) and its peer.
type Handoff = (std::net::TcpStream, SocketAddr);

/// Serve `app` on `listener` with `workers` threads until `shutdown`
/// resolves. Then no connection is accepted any more, idle connections are
/// closed, a request being served is answered first, and this returns once
/// every connection has ended. Blocks the calling thread, which accepts.
///
/// The handlers see the peer as `ConnectInfo<SocketAddr>`, as with
/// `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn serve<S: Store>(
    listener: std::net::TcpListener,
    state: Arc<AppState<S>>,
    workers: usize,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let app = crate::router(state.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut queues = Vec::new();
    let mut threads = Vec::new();
    for i in 0..workers.max(1) {
        let (tx, rx) = mpsc::unbounded_channel::<Handoff>();
        queues.push(tx);
        let (app, state, stop_rx) = (app.clone(), state.clone(), stop_rx.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        threads.push(
            std::thread::Builder::new()
                .name(format!("ward-worker-{i}"))
                .spawn(move || rt.block_on(worker(rx, app, state, stop_rx)))?,
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let accepted = rt.block_on(accept(listener, &queues, shutdown));
    // Stop: connections finish what they are answering and close; workers
    // end once their queue is closed and their connections are gone.
    let _ = stop_tx.send(true);
    drop(queues);
    for t in threads {
        let _ = t.join();
    }
    accepted
}

/// Accept connections and hand them out in turn until `shutdown`.
async fn accept(
    listener: std::net::TcpListener,
    queues: &[mpsc::UnboundedSender<Handoff>],
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut shutdown = pin!(shutdown);
    let mut next = 0usize;
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: the error is the
                    // listener's state, not this connection's; wait a
                    // little, as axum::serve does, rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Requests and answers are small and each is written whole.
        let _ = stream.set_nodelay(true);
        // Out of this runtime's reactor, into the worker's.
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        if let Some(q) = queues.get(next % queues.len()) {
            let _ = q.send((stream, peer));
        }
        next = next.wrapping_add(1);
    }
}

/// One worker: serve the connections handed to it until its queue closes
/// and they have all ended.
async fn worker<S: Store>(
    mut queue: mpsc::UnboundedReceiver<Handoff>,
    app: Router,
    state: Arc<AppState<S>>,
    stop: watch::Receiver<bool>,
) {
    // Every connection task holds a receiver; `closed()` is when none is left.
    let (live_tx, live_rx) = watch::channel(());
    while let Some((stream, peer)) = queue.recv().await {
        let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
            continue;
        };
        tokio::spawn(connection(
            stream,
            peer,
            app.clone(),
            state.clone(),
            stop.clone(),
            live_rx.clone(),
        ));
    }
    drop(live_rx);
    live_tx.closed().await;
}

/// The paths the router serves itself; every other path is the AWS endpoint
/// (the router's fallback).
const ROUTED: &[&str] = &[
    "/health",
    "/metrics",
    "/ward/workload/credentials",
    "/moto-api/reset",
    "/moto-api/reset-auth",
];

/// Serve one keep-alive HTTP/1.1 connection.
async fn connection<S: Store>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    state: Arc<AppState<S>>,
    mut stop: watch::Receiver<bool>,
    _live: watch::Receiver<()>,
) {
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let (mut app, state) = (app.clone(), state.clone());
            async move {
                if ROUTED.contains(&req.uri().path()) {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    return app.call(req).await;
                }
                let (parts, body) = req.into_parts();
                Ok(crate::handle(
                    State(state),
                    ConnectInfo(peer),
                    parts.method,
                    parts.uri,
                    parts.headers,
                    axum::body::Body::new(body),
                )
                .await)
            }
        });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let mut conn = pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if !stopping => {
                // Told to stop, or the server is gone: either way, finish.
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
