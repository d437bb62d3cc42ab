//! The one HTTP client of the tests and the benchmarks: hyper's pooled HTTP/1.1 client aimed
//! at one local server, returning the answer's status, headers and body as text.
//!
//! Connections are kept alive and reused, so a benchmark can drive a gateway at thousands of
//! requests per second without measuring the kernel's port reuse, and a test can send a
//! request whose answer comes before its body is read (a `413` for a body over the limit).

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The longest one exchange may take unless the client is given its own
/// ([`HttpClient::with_timeout`]): longer than the reply timeouts the tests give a gateway
/// for a single command.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(90);

/// How long an idle connection stays in the pool: well under the 30 s after which the
/// services' HTTP server closes a kept-alive connection that sends nothing, so that a request
/// is never written into a connection the server is closing.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers as sent, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl HttpResponse {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The status and the body, for a test that looks at nothing else.
    pub fn status_and_body(self) -> (u16, String) {
        (self.status, self.body)
    }

    /// The body as a `T` from JSON (e.g. a `serde_json::Value`); panics, showing the
    /// answer, when it is not one.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.body).unwrap_or_else(|error| {
            panic!(
                "the answer ({}) is not the expected JSON ({error}): {}",
                self.status, self.body
            )
        })
    }
}

/// A client of the server at one address; cheap to clone (clones share the pool).
#[derive(Debug, Clone)]
pub struct HttpClient {
    addr: SocketAddr,
    timeout: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    /// A client of the server at `addr`, each exchange bounded by [`EXCHANGE_TIMEOUT`].
    pub fn new(addr: SocketAddr) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_CONNECTION_TIMEOUT)
            .build(connector);
        Self {
            addr,
            timeout: EXCHANGE_TIMEOUT,
            client,
        }
    }

    /// The same client with each exchange bounded by `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> std::io::Result<HttpResponse> {
        self.request("GET", path, &[], Bytes::new()).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> std::io::Result<HttpResponse> {
        self.post(path, "application/json", body.to_string()).await
    }

    /// `POST path` with `body` of `content_type`, which need not be valid for the type.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> std::io::Result<HttpResponse> {
        let headers = [("content-type", content_type)];
        self.request("POST", path, &headers, body.into()).await
    }

    /// One request with `headers` besides `Host` and `Content-Length`.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> std::io::Result<HttpResponse> {
        let failed = |detail: String| {
            std::io::Error::other(format!("{method} {path} on {}: {detail}", self.addr))
        };
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|error| failed(format!("not a valid request: {error}")))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                // `{:#}` shows the causes, which hyper's client keeps apart (`client error
                // (Connect)` alone does not say that the connection was refused).
                .map_err(|error| failed(format!("{:#}", anyhow::Error::new(error))))?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|error| failed(format!("reading the body: {error}")))?
                .to_bytes();
            Ok(HttpResponse {
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "{method} {path} on {}: no answer within {:?}",
                        self.addr, self.timeout
                    ),
                )
            })?
    }
}

/// `POST path` with a JSON body, on a client of its own.
pub async fn post_json(
    addr: SocketAddr,
    path: &str,
    body: &serde_json::Value,
) -> std::io::Result<HttpResponse> {
    HttpClient::new(addr).post_json(path, body).await
}

/// `POST path` with `body` of `content_type`, on a client of its own.
pub async fn post(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    HttpClient::new(addr)
        .post(path, content_type, body.to_vec())
        .await
}

/// `GET path`, on a client of its own.
pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<HttpResponse> {
    HttpClient::new(addr).get(path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_an_error_that_says_so() {
        let free = crate::process::free_port();
        let error = get(([127, 0, 0, 1], free).into(), "/readyz")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("GET /readyz on 127.0.0.1:"), "{error}");
        assert!(error.to_lowercase().contains("refused"), "{error}");
    }
}
