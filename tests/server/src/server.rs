//! Listener setup and the HTTP/1.1 accept loop.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, StorageMode};
use crate::dispatch;
use crate::presign::{
    Presigner, BUILTIN_ACCESS_KEY, BUILTIN_BUCKET, BUILTIN_REGION, BUILTIN_SECRET_KEY,
};
use crate::s3_external::ExternalStore;
use crate::state::State;
use crate::tls;

/// Binds the listener and prepares the storage backend (creating the external bucket if needed).
pub(crate) async fn setup(config: Config) -> Result<(Listener, Arc<State>), String> {
    if config.external_s3.is_some() && config.mode != StorageMode::S3 {
        return Err("an external S3 server is only used in S3 mode".to_string());
    }
    let listener = bind(&config)
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", config.host, config.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let host = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let origin = format!("{scheme}://{host}:{}", addr.port());
    let (builtin, external) = match (&config.mode, &config.external_s3) {
        (StorageMode::Direct, _) => (None, None),
        (StorageMode::S3, Some(ext)) => (
            None,
            Some(ExternalStore::connect(ext, config.presign_expiry_secs).await?),
        ),
        (StorageMode::S3, None) => {
            let storage_origin = config.storage_origin.as_deref().unwrap_or(&origin);
            let presigner = Presigner::new(
                &format!("{}/s3", storage_origin.trim_end_matches('/')),
                BUILTIN_BUCKET,
                BUILTIN_REGION,
                BUILTIN_ACCESS_KEY,
                BUILTIN_SECRET_KEY,
                config.presign_expiry_secs,
            )?;
            (Some(presigner), None)
        }
    };
    let state = State::new(config, origin, builtin, external)
        .map_err(|e| format!("cannot create data directory: {e}"))?;
    Ok((Listener { tcp: listener, tls }, Arc::new(state)))
}

/// Binds the listening socket; with [`Config::recv_buffer_bytes`], its receive buffer is fixed
/// (accepted connections inherit it, and the kernel no longer grows it).
async fn bind(config: &Config) -> std::io::Result<TcpListener> {
    let Some(size) = config.recv_buffer_bytes else {
        return TcpListener::bind((config.host.as_str(), config.port)).await;
    };
    let mut last = None;
    for addr in tokio::net::lookup_host((config.host.as_str(), config.port)).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_recv_buffer_size(size)?;
        match socket.bind(addr) {
            Ok(()) => return socket.listen(1024),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no address to bind")))
}

/// The bound socket, with the TLS acceptor when serving HTTPS.
pub(crate) struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
}

/// Serves connections until `shutdown` fires (or its sender is dropped), then aborts the open
/// connections.
pub(crate) async fn serve(
    listener: Listener,
    state: Arc<State>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.tcp.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        // e.g. out of file descriptors: back off instead of spinning
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let close_state = state.clone();
                let tls = listener.tls.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| dispatch::handle(state.clone(), req));
                    let builder = http1::Builder::new();
                    // An error here is a client disconnect, a failed handshake or a
                    // DropConnection fault; either way the connection is simply closed.
                    match tls {
                        None => {
                            let conn = builder.serve_connection(TokioIo::new(stream), service);
                            let _ = serve_until_closed(conn, &close_state).await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let conn = builder.serve_connection(TokioIo::new(stream), service);
                                let _ = serve_until_closed(conn, &close_state).await;
                            }
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// Serves one connection; `POST /_test/close-idle` makes it close as soon as it is idle (as a
/// server's keep-alive timeout would), so clients can be tested against stale pooled connections.
async fn serve_until_closed<I, S>(conn: http1::Connection<I, S>, state: &State) -> hyper::Result<()>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(conn);
    loop {
        tokio::select! {
            done = conn.as_mut() => return done,
            _ = state.close_idle.notified() => conn.as_mut().graceful_shutdown(),
        }
    }
}
