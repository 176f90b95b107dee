//! Connections: TCP (`TCP_NODELAY`, the unsent-bytes limit of [`super::unsent`]), proxies from
//! the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`; `http://` or `https://`,
//! the latter with TLS to the proxy itself, verified as the targets are: a CONNECT tunnel for
//! https targets, absolute-form requests for http ones), TLS (rustls with the ring provider, the
//! webpki roots plus the CA file's, or no verification at all), and a time limit on the whole
//! setup ([`Timed`]).

use super::body::BoxError;
use super::tcp::{AnswerWait, Tcp, TcpDial};
use crate::error::{Error, Result};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tower_service::Service;

/// Opens connections: TCP (through a proxy when the environment names one), TLS for https, all
/// within the connect time limit.
pub(crate) type Connector = Timed<hyper_rustls::HttpsConnector<Dial>>;

/// The connector of one peer kind (backend or storage).
/// With `waits` (a lane's), the connections let the lane's thread wait for answers in `recv`
/// (see [`AnswerWait`]), each wait at most `connect_timeout` (the client's timeout).
pub(crate) fn connector(
    tls: rustls::ClientConfig,
    connect_timeout: Duration,
    proxies: Option<Arc<Matcher>>,
    waits: bool,
) -> Connector {
    let mut connector = HttpConnector::new();
    connector.enforce_http(false);
    connector.set_nodelay(true);
    let tcp = TcpDial {
        connector,
        waits: waits.then_some(connect_timeout),
    };
    // Only made when the environment names proxies: any of them may be an https:// one.
    let proxy_tls = proxies.as_ref().map(|_| {
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_only()
            .enable_http1()
            .wrap_connector(tcp.clone())
    });
    let dial = Dial {
        tcp,
        proxies,
        proxy_tls,
    };
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(dial);
    Timed {
        inner: https,
        limit: connect_timeout,
    }
}

/// A connector whose whole connection setup (TCP, a proxy's CONNECT, TLS) has `limit`, as
/// reqwest's connect timeout had; running out is an `io::ErrorKind::TimedOut` error.
#[derive(Clone)]
pub(crate) struct Timed<S> {
    inner: S,
    limit: Duration,
}

impl<S> Service<http::Uri> for Timed<S>
where
    S: Service<http::Uri>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let connecting = self.inner.call(dst);
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(done) => done.map_err(Into::into),
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out").into()),
            }
        })
    }
}

/// The TLS settings: the webpki roots and `extra_roots`, or (`verify == false`) none at all.
pub(crate) fn tls_config(
    verify: bool,
    extra_roots: &[CertificateDer<'static>],
) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config(format!("cannot set up TLS: {e}")))?;
    // hyper-rustls sets ALPN to HTTP/1.1 alone (`enable_http1`).
    let config = if verify {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| Error::config(format!("a CA certificate is not usable: {e}")))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth()
    };
    Ok(config)
}

/// `tls_verify = false`: every certificate is accepted (signatures are not checked either).
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The proxies the environment names, or `None` when it names none (then no connection asks).
/// As reqwest read them: each of `ALL_PROXY`, `HTTP_PROXY` and `HTTPS_PROXY` from its upper-case
/// variable or, when that is unset or empty, its lower-case one; in a CGI program
/// (`REQUEST_METHOD` set) `HTTP_PROXY` is ignored, since a request's `Proxy:` header arrives there
/// as `HTTP_PROXY` (httpoxy), but the others still apply. `NO_PROXY` (or `no_proxy`) exempts
/// hosts, domains and networks.
pub(crate) fn proxies_from_env() -> Option<Arc<Matcher>> {
    proxies_from(|name| std::env::var(name).ok())
}

fn proxies_from(var: impl Fn(&str) -> Option<String>) -> Option<Arc<Matcher>> {
    let first = |name: &str| {
        [name.to_string(), name.to_ascii_lowercase()]
            .iter()
            .find_map(|n| var(n).filter(|v| !v.trim().is_empty()))
    };
    let all = first("ALL_PROXY");
    let http = first("HTTP_PROXY").filter(|_| var("REQUEST_METHOD").is_none());
    let https = first("HTTPS_PROXY");
    if all.is_none() && http.is_none() && https.is_none() {
        return None;
    }
    let no = var("NO_PROXY")
        .or_else(|| var("no_proxy"))
        .unwrap_or_default();
    Some(Arc::new(
        Matcher::builder()
            .all(all.unwrap_or_default())
            .http(http.unwrap_or_default())
            .https(https.unwrap_or_default())
            .no(no)
            .build(),
    ))
}

/// Opens TCP connections, through a proxy when the environment names one for the target.
#[derive(Clone)]
pub(crate) struct Dial {
    tcp: TcpDial,
    proxies: Option<Arc<Matcher>>,
    /// TLS to an https:// proxy (the client's TLS settings), when there are proxies.
    proxy_tls: Option<ProxyTls>,
}

/// Opens TLS connections to an https:// proxy.
type ProxyTls = hyper_rustls::HttpsConnector<TcpDial>;

/// A TLS connection to an https:// proxy.
type ProxyTlsStream = hyper_rustls::MaybeHttpsStream<Tcp>;

impl Service<http::Uri> for Dial {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        // An `HttpConnector` is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let mut tcp = self.tcp.clone();
        let proxy = self.proxies.as_ref().and_then(|m| m.intercept(&dst));
        let proxy_tls = self.proxy_tls.clone();
        Box::pin(async move {
            let Some(proxy) = proxy else {
                let io = tcp.call(dst).await?;
                super::unsent::limit(io.socket());
                return Ok(Stream {
                    io: Io::Tcp(io),
                    proxied: false,
                });
            };
            // Through a proxy, an https target gets a tunnel (TLS to it inside, by the caller),
            // an http one absolute-form requests on the connection to the proxy.
            let tunnelled = dst.scheme_str() == Some("https");
            let io = match proxy.uri().scheme_str() {
                Some("http") if tunnelled => Io::Tcp(tunnel(&proxy, tcp, dst).await?),
                Some("http") => Io::Tcp(tcp.call(proxy.uri().clone()).await?),
                Some("https") => {
                    let mut tls = proxy_tls.ok_or("no TLS settings for the https:// proxy")?;
                    let io = if tunnelled {
                        tunnel(&proxy, tls, dst).await?
                    } else {
                        tls.call(proxy.uri().clone()).await?
                    };
                    Io::ProxyTls(Box::new(io))
                }
                other => {
                    return Err(BoxError::from(format!(
                        "{}:// proxies are not supported (the environment names one); use an \
                         http:// or https:// proxy",
                        other.unwrap_or("")
                    )))
                }
            };
            super::unsent::limit(io.socket());
            Ok(Stream {
                io,
                proxied: !tunnelled,
            })
        })
    }
}

/// A connection through `proxy` to `dst` by a CONNECT tunnel, on a connection `connector` makes
/// to the proxy; the proxy's user and password go in the CONNECT request only.
async fn tunnel<C>(
    proxy: &Intercept,
    connector: C,
    dst: http::Uri,
) -> std::result::Result<C::Response, BoxError>
where
    C: Service<http::Uri>,
    C::Future: Send + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    C::Error: Into<BoxError>,
{
    let mut tunnel = Tunnel::new(proxy.uri().clone(), connector);
    if let Some(auth) = proxy.basic_auth() {
        tunnel = tunnel.with_auth(auth.clone());
    }
    std::future::poll_fn(|cx| tunnel.poll_ready(cx)).await?;
    Ok(tunnel.call(dst).await?)
}

/// A connection: to the target or a proxy; `proxied` when requests on it go to a proxy (in
/// absolute form).
pub(crate) struct Stream {
    io: Io,
    proxied: bool,
}

/// The bytes' way: plain TCP (to the target, an http:// proxy or through either's tunnel), or
/// TLS to an https:// proxy (boxed: rare, and the TLS state would make every connection larger).
enum Io {
    Tcp(Tcp),
    ProxyTls(Box<ProxyTlsStream>),
}

impl Io {
    /// The TCP connection underneath.
    fn tcp(&self) -> &Tcp {
        match self {
            Io::Tcp(io) => io,
            Io::ProxyTls(io) => under_tls(io),
        }
    }

    fn socket(&self) -> &TcpStream {
        self.tcp().socket()
    }
}

/// How to wait for an answer in `recv` on `io` (TLS or not), when it is a lane's connection.
pub(crate) fn answer_wait(
    io: &<Connector as Service<http::Uri>>::Response,
) -> Option<Arc<AnswerWait>> {
    under_tls(io).io.tcp().answer_wait().cloned()
}

/// Whether `io`'s writes go to its TCP socket as they are (no TLS, to the target or to a
/// proxy): a write that failed then wrote nothing. A TLS stream may have taken some of the bytes.
pub(crate) fn writes_directly(io: &<Connector as Service<http::Uri>>::Response) -> bool {
    matches!(
        io,
        hyper_rustls::MaybeHttpsStream::Http(Stream { io: Io::Tcp(_), .. })
    )
}

/// The stream a connection's TLS (if any) runs over.
fn under_tls<T>(stream: &hyper_rustls::MaybeHttpsStream<T>) -> &T {
    match stream {
        hyper_rustls::MaybeHttpsStream::Http(plain) => plain,
        hyper_rustls::MaybeHttpsStream::Https(tls) => tls.inner().get_ref().0.inner(),
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        let connected = match &self.io {
            Io::Tcp(io) => io.connected(),
            Io::ProxyTls(io) => io.connected(),
        };
        connected.proxy(self.proxied)
    }
}

impl hyper::rt::Read for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Tcp(io) => Pin::new(io).poll_read(cx, buf),
            Io::ProxyTls(io) => Pin::new(&mut **io).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Tcp(io) => Pin::new(io).poll_write(cx, buf),
            Io::ProxyTls(io) => Pin::new(&mut **io).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Tcp(io) => Pin::new(io).poll_flush(cx),
            Io::ProxyTls(io) => Pin::new(&mut **io).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Tcp(io) => Pin::new(io).poll_shutdown(cx),
            Io::ProxyTls(io) => Pin::new(&mut **io).poll_shutdown(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Tcp(io) => io.is_write_vectored(),
            Io::ProxyTls(io) => io.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Tcp(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Io::ProxyTls(io) => Pin::new(&mut **io).poll_write_vectored(cx, bufs),
        }
    }
}

/// The header a proxy needs on each http request (the proxy URL's user and password), when the
/// environment routes `uri` through one that has them; https targets send it in the CONNECT
/// request only.
pub(crate) fn proxy_authorization(
    proxies: &Option<Arc<Matcher>>,
    uri: &http::Uri,
) -> Option<http::HeaderValue> {
    let m = proxies.as_ref()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    m.intercept(uri)?.basic_auth().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy_for(env: &[(&str, &str)], target: &str) -> Option<String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let m = proxies_from(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))?;
        m.intercept(&target.parse().unwrap())
            .map(|i| i.uri().to_string())
    }

    #[test]
    fn proxies_are_read_as_reqwest_read_them() {
        let http = "http://e.com/";
        assert_eq!(proxy_for(&[], http), None);
        assert_eq!(
            proxy_for(&[("HTTP_PROXY", "http://p:1")], http).as_deref(),
            Some("http://p:1/")
        );
        // An empty upper-case variable does not hide the lower-case one.
        assert_eq!(
            proxy_for(&[("HTTP_PROXY", ""), ("http_proxy", "http://q:2")], http).as_deref(),
            Some("http://q:2/")
        );
        // In a CGI program HTTP_PROXY is ignored, ALL_PROXY and HTTPS_PROXY are not.
        let cgi = [("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "http://p:1")];
        assert_eq!(proxy_for(&cgi, http), None);
        let cgi_all = [("REQUEST_METHOD", "GET"), ("ALL_PROXY", "http://a:3")];
        assert_eq!(proxy_for(&cgi_all, http).as_deref(), Some("http://a:3/"));
        let cgi_https = [("REQUEST_METHOD", "GET"), ("https_proxy", "http://s:4")];
        assert_eq!(
            proxy_for(&cgi_https, "https://e.com/").as_deref(),
            Some("http://s:4/")
        );
        // NO_PROXY exempts a domain and its subdomains.
        let no = [("ALL_PROXY", "http://a:3"), ("no_proxy", "e.com")];
        assert_eq!(proxy_for(&no, "http://x.e.com/"), None);
        assert_eq!(
            proxy_for(&no, "http://f.com/").as_deref(),
            Some("http://a:3/")
        );
    }
}
