//! A small HTTP/1.1 client with keep-alive connections, enough to drive the command gateway
//! and the read API at thousands of requests per second without opening a connection per
//! request (which would measure the kernel's port reuse, not the services).
//!
//! Idle connections are kept in a pool; a request takes one or opens a new one, so the
//! number of connections follows the number of requests in flight. Responses are framed by
//! `Content-Length` or chunked encoding; headers are parsed with `httparse`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
}

/// One open connection and the bytes read past the last response.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

/// A client of one server.
#[derive(Clone)]
pub struct HttpClient {
    addr: SocketAddr,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("addr", &self.addr)
            .finish()
    }
}

impl HttpClient {
    /// A client of the server at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Response> {
        self.request("GET", path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &[u8]) -> anyhow::Result<Response> {
        self.request("POST", path, Some(body)).await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> anyhow::Result<Response> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let reused = pooled.is_some();
        let mut connection = match pooled {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        let result = exchange(&mut connection, self.addr, method, path, body).await;
        let (response, keep) = match result {
            Ok(answer) => answer,
            // A kept-alive connection the server has closed meanwhile: once more on a new one.
            Err(_) if reused => {
                connection = self.connect().await?;
                exchange(&mut connection, self.addr, method, path, body).await?
            }
            Err(error) => return Err(error),
        };
        if keep && let Ok(mut idle) = self.idle.lock() {
            idle.push(connection);
        }
        Ok(response)
    }

    async fn connect(&self) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(4096),
        })
    }
}

/// Sends one request and reads its response; also says whether the connection can be reused.
async fn exchange(
    connection: &mut Connection,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> anyhow::Result<(Response, bool)> {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    connection.stream.write_all(&bytes).await?;
    let (status, header_len, framing, keep) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(len) = parsed.parse(&connection.buffer)? {
            let status = parsed.code.unwrap_or_default();
            let mut framing = Framing::UntilClose;
            let mut keep = true;
            for header in parsed.headers.iter() {
                let value = std::str::from_utf8(header.value).unwrap_or_default();
                if header.name.eq_ignore_ascii_case("content-length") {
                    framing = Framing::Length(value.trim().parse()?);
                } else if header.name.eq_ignore_ascii_case("transfer-encoding")
                    && value.contains("chunked")
                {
                    framing = Framing::Chunked;
                } else if header.name.eq_ignore_ascii_case("connection")
                    && value.eq_ignore_ascii_case("close")
                {
                    keep = false;
                }
            }
            break (status, len, framing, keep);
        }
        read_more(connection).await?;
    };
    connection.buffer.drain(..header_len);
    let body = match framing {
        Framing::Length(length) => {
            while connection.buffer.len() < length {
                read_more(connection).await?;
            }
            connection.buffer.drain(..length).collect()
        }
        Framing::Chunked => read_chunked(connection).await?,
        Framing::UntilClose => {
            while read_more(connection).await.is_ok() {}
            std::mem::take(&mut connection.buffer)
        }
    };
    let keep = keep && !matches!(framing, Framing::UntilClose);
    Ok((Response { status, body }, keep))
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

async fn read_more(connection: &mut Connection) -> anyhow::Result<()> {
    let mut chunk = [0u8; 8192];
    let read = connection.stream.read(&mut chunk).await?;
    if read == 0 {
        bail!("the server closed the connection");
    }
    connection.buffer.extend_from_slice(&chunk[..read]);
    Ok(())
}

async fn read_chunked(connection: &mut Connection) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(at) = connection.buffer.windows(2).position(|w| w == b"\r\n") {
                break at;
            }
            read_more(connection).await?;
        };
        let size_text = String::from_utf8_lossy(&connection.buffer[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        while connection.buffer.len() < line_end + 2 + size + 2 {
            read_more(connection).await?;
        }
        body.extend_from_slice(&connection.buffer[line_end + 2..line_end + 2 + size]);
        connection.buffer.drain(..line_end + 2 + size + 2);
        if size == 0 {
            return Ok(body);
        }
    }
}
