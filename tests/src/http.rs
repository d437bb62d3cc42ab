//! A minimal HTTP/1.1 client for the services' JSON APIs: one request per connection, the
//! answer's status, headers and body. Enough for tests that post commands to a gateway and
//! read them back from a read API; no client crate is needed for that.
//!
//! The response is read until it is complete by its own framing (`Content-Length` or chunked
//! encoding), not only until the server closes the connection, and the request body is
//! written while the response is read: a server may answer before it has read the body (a
//! `413` for a body over its limit) and close the connection, and that answer must still be
//! seen.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest one exchange of [`post_json`], [`post`] and [`get`] may take: longer than the
/// reply timeouts the tests give a gateway for a single command. [`request`] takes its own.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(90);

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers as sent, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (chunked encoding removed), as text.
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

    /// The body as JSON; panics, showing the answer, when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| {
            panic!(
                "the answer ({}) is not JSON ({error}): {}",
                self.status, self.body
            )
        })
    }
}

/// `POST path` with a JSON body.
pub async fn post_json(
    addr: SocketAddr,
    path: &str,
    body: &serde_json::Value,
) -> std::io::Result<HttpResponse> {
    post(addr, path, "application/json", body.to_string().as_bytes()).await
}

/// `POST path` with a JSON body, answered within `timeout`.
pub async fn post_json_within(
    addr: SocketAddr,
    path: &str,
    body: &serde_json::Value,
    timeout: Duration,
) -> std::io::Result<HttpResponse> {
    let headers = [("Content-Type", "application/json")];
    let body = body.to_string();
    request(addr, "POST", path, &headers, body.as_bytes(), timeout).await
}

/// `POST path` with `body` of `content_type`, which need not be valid for the type.
pub async fn post(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let headers = [("Content-Type", content_type)];
    request(addr, "POST", path, &headers, body, EXCHANGE_TIMEOUT).await
}

/// `GET path`.
pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<HttpResponse> {
    request(addr, "GET", path, &[], &[], EXCHANGE_TIMEOUT).await
}

/// One request on a fresh connection, with `headers` besides `Host`, `Connection` and
/// `Content-Length`, answered within `timeout`.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<HttpResponse> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    let exchange = async {
        let stream = TcpStream::connect(addr).await?;
        let (mut reader, mut writer) = stream.into_split();
        // A failed write is not the answer: the server may have answered and closed early.
        let sending = tokio::spawn(async move {
            let _ = writer.write_all(&message).await;
            writer
        });
        let response = read_response(&mut reader).await;
        sending.abort();
        response
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer to {method} {path} from {addr} within {timeout:?}"),
        )
    })?
}

/// Reads until the response is complete by its framing, or the connection ends.
async fn read_response(reader: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<HttpResponse> {
    let mut received = Vec::new();
    let mut chunk = [0_u8; 16 * 1024];
    loop {
        let read = reader.read(&mut chunk).await;
        let ended = match read {
            Ok(0) => true,
            Ok(n) => {
                received.extend_from_slice(&chunk[..n]);
                false
            }
            // A reset after a complete answer (the server closed with our body unread) is
            // the end of that answer.
            Err(error) => match parse(&received, true) {
                Some(response) => return Ok(response),
                None => return Err(error),
            },
        };
        if let Some(response) = parse(&received, ended) {
            return Ok(response);
        }
        if ended {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the connection ended inside the response: {:?}",
                    String::from_utf8_lossy(&received)
                ),
            ));
        }
    }
}

/// The response in `received`, if it is complete; `ended` says the connection is closed
/// (which completes a response framed by the close).
fn parse(received: &[u8], ended: bool) -> Option<HttpResponse> {
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&received[..head_end]);
    let rest = &received[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let value = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.to_ascii_lowercase())
    };
    let body = if value("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(rest)?
    } else if let Some(length) = value("content-length") {
        let length: usize = length.parse().ok()?;
        rest.get(..length)?.to_vec()
    } else if ended {
        rest.to_vec()
    } else {
        return None;
    };
    Some(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The body of a chunked message, if its last chunk has arrived.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_complete_by_its_length_or_its_chunks() {
        let sized =
            b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\nX-Command-Id: a\r\n\r\nbody";
        let response = parse(sized, false).unwrap();
        assert_eq!((response.status, response.body.as_str()), (413, "body"));
        assert_eq!(response.header("x-command-id"), Some("a"));
        assert_eq!(parse(&sized[..sized.len() - 1], false), None);

        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse(chunked, false).unwrap().body, "abcde");
        assert_eq!(parse(&chunked[..30], false), None);

        let closed = b"HTTP/1.1 200 OK\r\n\r\nuntil the end";
        assert_eq!(parse(closed, false), None);
        assert_eq!(parse(closed, true).unwrap().body, "until the end");
    }
}
