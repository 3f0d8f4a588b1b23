//! A scripted HTTP/1.1 server on 127.0.0.1: the n-th request gets the n-th reply,
//! and every request is recorded for the test to inspect.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with one request.
pub enum Reply {
    /// A complete response with `Content-Length`.
    Full {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// `200 text/event-stream`, chunked, each piece written and flushed on its own
    /// after `gap`; with `stall`, the connection then stays open and silent.
    Stream {
        pieces: Vec<Vec<u8>>,
        gap: Duration,
        stall: bool,
    },
    /// Reads the request and never answers.
    Hang,
}

impl Reply {
    /// A JSON error response.
    pub fn status(status: u16, body: &str) -> Self {
        Reply::Full {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.into(),
        }
    }

    /// A whole SSE body, sent as one piece.
    pub fn sse(body: &str) -> Self {
        Reply::Stream {
            pieces: vec![body.as_bytes().to_vec()],
            gap: Duration::ZERO,
            stall: false,
        }
    }

    /// An SSE body cut into `size`-byte pieces, each sent separately.
    pub fn sse_split(body: &str, size: usize) -> Self {
        Reply::Stream {
            pieces: body.as_bytes().chunks(size).map(<[u8]>::to_vec).collect(),
            gap: Duration::from_millis(1),
            stall: false,
        }
    }
}

/// One SSE `data:` event.
pub fn sse_data(v: serde_json::Value) -> String {
    format!("data: {v}\n\n")
}

/// An OpenAI-compatible chat stream that answers `text`.
pub fn openai_text(text: &str) -> Reply {
    let mut body = sse_data(
        serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]}),
    );
    body += &sse_data(
        serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    );
    body += "data: [DONE]\n\n";
    Reply::sse(&body)
}

/// An OpenAI-compatible chat stream that makes one tool call.
pub fn openai_call(id: &str, name: &str, args: serde_json::Value) -> Reply {
    let mut body = sse_data(
        serde_json::json!({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
        {"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}}]}, "finish_reason": null}]}),
    );
    body += &sse_data(
        serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    );
    body += "data: [DONE]\n\n";
    Reply::sse(&body)
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("the request body is JSON")
    }
}

/// A running server; it stops with the test's runtime.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    pub async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        tokio::spawn(async move {
            let mut replies = replies.into_iter();
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let reply = replies
                    .next()
                    .unwrap_or_else(|| Reply::status(500, "no more scripted replies"));
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let _ = serve(socket, reply, log).await;
                });
            }
        });
        Self { base, requests }
    }

    /// The requests received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn serve(
    mut socket: TcpStream,
    reply: Reply,
    log: Arc<Mutex<Vec<Recorded>>>,
) -> std::io::Result<()> {
    let request = read_request(&mut socket).await?;
    log.lock().expect("lock").push(request);
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            socket.write_all(head.as_bytes()).await?;
            socket.write_all(body.as_bytes()).await?;
            socket.flush().await?;
        }
        Reply::Stream { pieces, gap, stall } => {
            socket
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                      transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                )
                .await?;
            socket.flush().await?;
            for piece in pieces {
                if !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
                let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
                chunk.extend_from_slice(&piece);
                chunk.extend_from_slice(b"\r\n");
                socket.write_all(&chunk).await?;
                socket.flush().await?;
            }
            if stall {
                std::future::pending::<()>().await;
            }
            socket.write_all(b"0\r\n\r\n").await?;
            socket.flush().await?;
        }
        Reply::Hang => std::future::pending::<()>().await,
    }
    Ok(())
}

async fn read_request(socket: &mut TcpStream) -> std::io::Result<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let body_start = head_end + 4;
    while buf.len() < body_start + length {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&buf[body_start..body_start + length]).into_owned(),
    })
}

/// A port nothing listens on.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}
