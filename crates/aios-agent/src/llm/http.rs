//! What the HTTP providers share: the client, sending with one retry on HTTP 429,
//! turning HTTP failures into [`LlmError`]s, and driving a streamed SSE body through
//! a provider's decoder with a timeout on every gap.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::sse::{SseEvent, SseParser};
use super::types::{DeltaStream, LlmError, StreamDelta};

/// Longest wait for a `retry-after` that is still honoured by retrying; a server
/// asking for more gets a [`LlmError::RateLimited`] at once.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// Wait before the one retry when a 429 names no delay.
const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(1);

/// Longest piece of a server's error text put in an error.
const MAX_MESSAGE_CHARS: usize = 200;

/// Most bytes of an error body read.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Used when the configured timeout is 0.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One provider's endpoint and the facts its errors need.
#[derive(Clone)]
pub struct Endpoint {
    /// Provider name for messages (`openai`, `ollama`, `anthropic`).
    pub provider: &'static str,
    /// The full URL posted to.
    pub url: String,
    /// Model name, for "model missing" messages.
    pub model: String,
    /// Limit on connecting plus waiting for headers, and on each gap in the stream.
    pub timeout: Duration,
    /// The API key, only to scrub it from any text that could reach a message.
    secret: String,
    /// Shared connection pool, or why it could not be built.
    client: Result<reqwest::Client, String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("provider", &self.provider)
            .field("url", &self.url)
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint for `url`; `timeout_secs` 0 means 30 s. `secret` is the API key
    /// (or empty), kept only to scrub it from messages.
    pub fn new(
        provider: &'static str,
        url: String,
        model: String,
        timeout_secs: u64,
        secret: &str,
    ) -> Self {
        let timeout = if timeout_secs == 0 {
            DEFAULT_TIMEOUT
        } else {
            Duration::from_secs(timeout_secs)
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeout)
            .user_agent(concat!("aios-agent/", env!("CARGO_PKG_VERSION")));
        if is_loopback(&url) {
            // A model server on this machine is never behind the network's proxy.
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| chain(&e));
        Self {
            provider,
            url,
            model,
            timeout,
            secret: secret.to_owned(),
            client,
        }
    }

    /// Whole seconds of the timeout, for messages.
    fn timeout_secs(&self) -> u64 {
        self.timeout.as_secs().max(1)
    }

    /// `text` without the API key in it, shortened for a message.
    pub fn scrub(&self, text: &str) -> String {
        let text = if self.secret.len() >= 4 {
            text.replace(&self.secret, "<redacted>")
        } else {
            text.to_owned()
        };
        shorten(text.trim())
    }

    /// A [`LlmError::Protocol`] for this provider.
    pub fn protocol(&self, message: impl AsRef<str>) -> LlmError {
        LlmError::Protocol {
            provider: self.provider.to_owned(),
            message: self.scrub(message.as_ref()),
        }
    }

    fn network(&self, message: impl AsRef<str>) -> LlmError {
        LlmError::Network {
            provider: self.provider.to_owned(),
            url: self.url.clone(),
            message: self.scrub(message.as_ref()),
        }
    }

    fn timed_out(&self) -> LlmError {
        LlmError::Timeout {
            provider: self.provider.to_owned(),
            secs: self.timeout_secs(),
        }
    }

    /// POSTs the JSON `body` with `headers`, retrying once on HTTP 429 after the
    /// server's `retry-after` (at most [`MAX_RETRY_WAIT`]). Returns the response once
    /// its status is a success; any other status becomes an error.
    pub async fn post(
        &self,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, LlmError> {
        let client = self.client.as_ref().map_err(|e| self.network(e))?;
        let mut retried = false;
        loop {
            let request = client
                .post(&self.url)
                .headers(headers.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::ACCEPT, "text/event-stream")
                .body(body.clone());
            let response = match tokio::time::timeout(self.timeout, request.send()).await {
                Err(_) => return Err(self.timed_out()),
                Ok(Err(e)) => return Err(self.send_error(&e)),
                Ok(Ok(r)) => r,
            };
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                let asked = retry_after(response.headers());
                let wait = asked.unwrap_or(DEFAULT_RETRY_WAIT);
                if retried || wait > MAX_RETRY_WAIT {
                    return Err(LlmError::RateLimited {
                        provider: self.provider.to_owned(),
                        retry_after: asked,
                    });
                }
                drop(response);
                tracing::info!(
                    provider = self.provider,
                    wait_ms = wait.as_millis() as u64,
                    "rate limited; retrying once"
                );
                tokio::time::sleep(wait).await;
                retried = true;
                continue;
            }
            let body = self.error_body(response).await;
            return Err(self.status_error(status, &body));
        }
    }

    /// Classifies a failed send (no response).
    fn send_error(&self, e: &reqwest::Error) -> LlmError {
        if e.is_timeout() {
            self.timed_out()
        } else {
            self.network(chain(e))
        }
    }

    /// Reads at most [`MAX_ERROR_BODY`] bytes of an error response, within the timeout.
    async fn error_body(&self, mut response: reqwest::Response) -> String {
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            match tokio::time::timeout(self.timeout, response.chunk()).await {
                Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        body.truncate(MAX_ERROR_BODY);
        String::from_utf8_lossy(&body).into_owned()
    }

    /// The error for an unsuccessful, non-429 status with response `body`.
    pub fn status_error(&self, status: StatusCode, body: &str) -> LlmError {
        let code = status.as_u16();
        let message = self.scrub(&error_message(body));
        let lower = body.to_ascii_lowercase();
        match code {
            401 | 403 => LlmError::Auth {
                provider: self.provider.to_owned(),
                status: code,
            },
            429 => LlmError::RateLimited {
                provider: self.provider.to_owned(),
                retry_after: None,
            },
            500..=599 => LlmError::Server {
                provider: self.provider.to_owned(),
                status: code,
                message,
            },
            413 => LlmError::ContextTooLong {
                provider: self.provider.to_owned(),
                message: if message.is_empty() {
                    "HTTP 413, request too large".to_owned()
                } else {
                    message
                },
            },
            _ if says_context_too_long(&lower) => LlmError::ContextTooLong {
                provider: self.provider.to_owned(),
                message,
            },
            _ if says_model_missing(&lower) => LlmError::ModelMissing {
                message: self.model_missing_message(&message),
            },
            _ => LlmError::Rejected {
                provider: self.provider.to_owned(),
                status: code,
                message,
            },
        }
    }

    fn model_missing_message(&self, server: &str) -> String {
        let model = &self.model;
        if self.provider == "ollama" {
            format!(
                "Ollama has no model `{model}`; run `ollama pull {model}`, or set `model` under [provider] in agent.toml to one that `ollama list` shows"
            )
        } else {
            format!(
                "{} has no model `{model}` ({server}); set `model` under [provider] in agent.toml to a model your account can use",
                self.provider
            )
        }
    }

    /// Encodes `body` as JSON, posts it with `headers` and streams the reply through
    /// `decoder`: the whole request path both providers share.
    pub async fn stream_json<D: Decoder>(
        &self,
        headers: HeaderMap,
        body: &serde_json::Value,
        decoder: D,
    ) -> Result<DeltaStream, LlmError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| self.protocol(format!("cannot encode the request: {e}")))?;
        let response = self.post(headers, body.into()).await?;
        Ok(self.stream(response, decoder))
    }

    /// Turns an SSE response body into deltas through `decoder`. The stream fails
    /// with [`LlmError::Timeout`] when no bytes arrive for the timeout, and ends after
    /// [`StreamDelta::Done`] or the first error.
    pub fn stream<D: Decoder>(&self, response: reqwest::Response, decoder: D) -> DeltaStream {
        let state = Driver {
            body: response.bytes_stream().boxed(),
            parser: SseParser::new(),
            decoder,
            queue: VecDeque::new(),
            finished: false,
            endpoint: self.clone(),
        };
        Box::pin(futures::stream::unfold(state, Driver::next))
    }
}

/// A provider's reading of the SSE events of one reply.
pub trait Decoder: Send + 'static {
    /// Handles one event, pushing the deltas it completes.
    fn event(
        &mut self,
        endpoint: &Endpoint,
        event: SseEvent,
        out: &mut Vec<StreamDelta>,
    ) -> Result<(), LlmError>;

    /// The body ended (without a [`StreamDelta::Done`] so far): push what remains, or
    /// fail.
    fn end(&mut self, endpoint: &Endpoint, out: &mut Vec<StreamDelta>) -> Result<(), LlmError>;
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

struct Driver<D> {
    body: Body,
    parser: SseParser,
    decoder: D,
    queue: VecDeque<Result<StreamDelta, LlmError>>,
    finished: bool,
    endpoint: Endpoint,
}

impl<D: Decoder> Driver<D> {
    async fn next(mut self) -> Option<(Result<StreamDelta, LlmError>, Self)> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some((item, self));
            }
            if self.finished {
                return None;
            }
            let mut out = Vec::new();
            let mut ended = false;
            let step = match tokio::time::timeout(self.endpoint.timeout, self.body.next()).await {
                Err(_) => Err(self.endpoint.timed_out()),
                Ok(Some(Err(e))) if e.is_timeout() => Err(self.endpoint.timed_out()),
                Ok(Some(Err(e))) => Err(self
                    .endpoint
                    .network(format!("the reply broke off: {}", chain(&e)))),
                Ok(Some(Ok(chunk))) => self.feed(&chunk, &mut out),
                Ok(None) => {
                    ended = true;
                    self.decoder.end(&self.endpoint, &mut out)
                }
            };
            let mut done = false;
            for delta in out {
                done = matches!(delta, StreamDelta::Done { .. });
                self.queue.push_back(Ok(delta));
                if done {
                    break;
                }
            }
            let failed = step.is_err();
            match step {
                // An error after the end is moot.
                Err(e) if !done => self.queue.push_back(Err(e)),
                Err(_) => {}
                Ok(()) if !done && ended => self.queue.push_back(Err(self
                    .endpoint
                    .protocol("the reply stream ended before the reply was complete"))),
                Ok(()) => {}
            }
            self.finished = done || ended || failed;
            if self.finished {
                // Nothing more is read: let the connection go now.
                self.body = futures::stream::empty().boxed();
            }
        }
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamDelta>) -> Result<(), LlmError> {
        let events = self.parser.feed(chunk).map_err(|e| {
            self.endpoint.protocol(format!(
                "an event-stream line is longer than {} bytes",
                e.limit
            ))
        })?;
        for event in events {
            self.decoder.event(&self.endpoint, event, out)?;
            if out.iter().any(|d| matches!(d, StreamDelta::Done { .. })) {
                break;
            }
        }
        Ok(())
    }
}

/// Parses a JSON event payload, or names the payload in a protocol error.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    endpoint: &Endpoint,
    data: &str,
) -> Result<T, LlmError> {
    serde_json::from_str(data)
        .map_err(|e| endpoint.protocol(format!("unreadable event ({e}): {data}")))
}

/// The tool arguments assembled from streamed pieces (`{}` when none came).
pub fn parse_arguments(
    endpoint: &Endpoint,
    tool: &str,
    json: &str,
) -> Result<serde_json::Value, LlmError> {
    if json.trim().is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_str(json).map_err(|e| {
        endpoint.protocol(format!(
            // The raw text is not quoted: it may hold a password meant for the tool.
            "arguments of tool call `{tool}` are not JSON ({e}; {} bytes)",
            json.len()
        ))
    })
}

/// `retry-after` (seconds) or `retry-after-ms`, if the server sent one.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    // `try_from`: a server may send 1e300; `from_secs_f64` would panic on it. What
    // is kept is capped later by the retry policy.
    get("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| get("retry-after"))
        .map(|s| Duration::try_from_secs_f64(s).map_or(MAX_RETRY_AFTER, |d| d.min(MAX_RETRY_AFTER)))
}

/// Longest `retry-after` honoured as sent.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The message inside a JSON error body (`error.message`, `message`, `error`), else
/// the body itself.
fn error_message(body: &str) -> String {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let found = json
            .pointer("/error/message")
            .or_else(|| json.get("message"))
            .or_else(|| json.get("error"))
            .or_else(|| json.get("detail"));
        if let Some(m) = found {
            return match m {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
        }
    }
    body.to_owned()
}

fn says_context_too_long(lower: &str) -> bool {
    [
        "context_length_exceeded",
        "maximum context length",
        "context length",
        "context window",
        "prompt is too long",
        "prompt too long",
        "too many tokens",
        "exceeds the context",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

fn says_model_missing(lower: &str) -> bool {
    lower.contains("model")
        && [
            "not found",
            "not_found",
            "does not exist",
            "no such model",
            "unknown model",
            "try pulling",
        ]
        .iter()
        .any(|p| lower.contains(p))
}

/// `text` cut to [`MAX_MESSAGE_CHARS`] characters.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// An error and its causes, most specific last (`error sending request: ...:
/// Connection refused`), without repeats.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Whether `url` names this machine.
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Joins a base URL and a path with exactly one `/`.
pub fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(provider: &'static str) -> Endpoint {
        Endpoint::new(
            provider,
            "http://127.0.0.1:9/x".into(),
            "m1".into(),
            1,
            "sk-SECRET-123",
        )
    }

    #[test]
    fn statuses_map_to_what_the_person_should_do() {
        let e = endpoint("openai");
        let s = |c: u16| StatusCode::from_u16(c).expect("status");
        assert!(matches!(
            e.status_error(s(401), ""),
            LlmError::Auth { status: 401, .. }
        ));
        assert!(matches!(
            e.status_error(s(403), ""),
            LlmError::Auth { status: 403, .. }
        ));
        assert!(matches!(
            e.status_error(s(503), "busy"),
            LlmError::Server { status: 503, .. }
        ));
        assert!(matches!(
            e.status_error(s(413), ""),
            LlmError::ContextTooLong { .. }
        ));
        let long = r#"{"error":{"message":"This model's maximum context length is 128000 tokens.","code":"context_length_exceeded"}}"#;
        assert!(matches!(
            e.status_error(s(400), long),
            LlmError::ContextTooLong { .. }
        ));
        let anthropic = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
        assert!(matches!(
            e.status_error(s(400), anthropic),
            LlmError::ContextTooLong { .. }
        ));
        let missing = r#"{"error":{"message":"The model `m1` does not exist or you do not have access to it.","code":"model_not_found"}}"#;
        let err = e.status_error(s(404), missing);
        assert!(matches!(err, LlmError::ModelMissing { .. }), "{err:?}");
        assert!(err.to_string().contains("`m1`"), "{err}");
        let bad = e.status_error(s(400), r#"{"error":{"message":"bad temperature"}}"#);
        assert_eq!(
            bad,
            LlmError::Rejected {
                provider: "openai".into(),
                status: 400,
                message: "bad temperature".into()
            }
        );
    }

    #[test]
    fn ollama_missing_model_says_how_to_pull_it() {
        let e = endpoint("ollama");
        let body = r#"{"error":{"message":"model \"m1\" not found, try pulling it first","type":"api_error"}}"#;
        let err = e.status_error(StatusCode::NOT_FOUND, body).to_string();
        assert!(err.contains("ollama pull m1"), "{err}");
    }

    #[test]
    fn messages_are_shortened_and_never_hold_the_key() {
        let e = endpoint("openai");
        let body = format!(
            "Incorrect API key provided: sk-SECRET-123. {}",
            "x".repeat(500)
        );
        let err = e.status_error(StatusCode::BAD_REQUEST, &body).to_string();
        assert!(!err.contains("sk-SECRET-123"), "{err}");
        assert!(err.contains("<redacted>"), "{err}");
        assert!(err.chars().count() < 300, "{err}");
    }

    #[test]
    fn retry_after_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "2".parse().expect("value"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "250".parse().expect("value"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut d = HeaderMap::new();
        d.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("value"),
        );
        assert_eq!(retry_after(&d), None);
    }

    #[test]
    fn loopback_urls() {
        assert!(is_loopback("http://127.0.0.1:11434/v1"));
        assert!(is_loopback("http://localhost/v1"));
        assert!(is_loopback("http://[::1]:8080/v1"));
        assert!(is_loopback("http://user:pw@127.0.0.1:1/"));
        assert!(!is_loopback("https://api.openai.com/v1"));
        assert!(!is_loopback("http://10.0.0.1:11434/v1"));
    }

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(join_url("http://h/v1/", "/chat"), "http://h/v1/chat");
        assert_eq!(join_url("http://h/v1", "chat"), "http://h/v1/chat");
    }
}
