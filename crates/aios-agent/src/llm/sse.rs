//! An incremental Server-Sent-Events parser: bytes in, events out.
//!
//! Follows the WHATWG event-stream rules that matter to streaming APIs: lines end in
//! `\n`, `\r\n` or `\r` (also when the pair is split between chunks); `event:` names
//! the event; `data:` lines are joined with `\n`; a line starting with `:` is a
//! comment; one space after the colon is dropped; a blank line dispatches; an event
//! without data is not dispatched; a leading byte-order mark is skipped. `id:` and
//! `retry:` are read and ignored (nothing here reconnects).

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name, `message` when none was given.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// A line longer than the parser accepts (a broken or hostile server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTooLong {
    /// The limit in bytes.
    pub limit: usize,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Longest line accepted by default: generous for one JSON event.
pub const DEFAULT_MAX_LINE: usize = 4 * 1024 * 1024;

/// Parser state carried between chunks.
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of the unfinished line.
    buf: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    skip_lf: bool,
    /// Whether the start of the stream was checked for a byte-order mark.
    bom_done: bool,
    /// Event name of the event being built.
    event: String,
    /// Data of the event being built, each line followed by `\n`.
    data: String,
    max_line: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::with_max_line(DEFAULT_MAX_LINE)
    }

    /// A parser refusing lines longer than `max_line` bytes.
    pub fn with_max_line(max_line: usize) -> Self {
        Self {
            buf: Vec::new(),
            skip_lf: false,
            bom_done: false,
            event: String::new(),
            data: String::new(),
            max_line,
        }
    }

    /// Feeds the next bytes; returns the events they complete, in order.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<SseEvent>, LineTooLong> {
        let mut out = Vec::new();
        if self.skip_lf && !bytes.is_empty() {
            self.skip_lf = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        self.buf.extend_from_slice(bytes);
        if !self.bom_done {
            let n = self.buf.len().min(BOM.len());
            if self.buf[..n] != BOM[..n] {
                self.bom_done = true;
            } else if n == BOM.len() {
                self.buf.drain(..BOM.len());
                self.bom_done = true;
            } else {
                // Could still be a byte-order mark: wait for more bytes.
                return Ok(out);
            }
        }

        let mut start = 0;
        let mut i = 0;
        while i < self.buf.len() {
            match self.buf[i] {
                b'\n' => {
                    self.line(start, i, &mut out);
                    i += 1;
                    start = i;
                }
                b'\r' => {
                    self.line(start, i, &mut out);
                    i += 1;
                    if i == self.buf.len() {
                        self.skip_lf = true;
                    } else if self.buf[i] == b'\n' {
                        i += 1;
                    }
                    start = i;
                }
                _ => i += 1,
            }
        }
        self.buf.drain(..start);
        if self.buf.len() > self.max_line {
            self.buf.clear();
            return Err(LineTooLong {
                limit: self.max_line,
            });
        }
        Ok(out)
    }

    fn line(&mut self, start: usize, end: usize, out: &mut Vec<SseEvent>) {
        let line = &self.buf[start..end];
        if line.is_empty() {
            if !self.data.is_empty() {
                self.data.pop();
                let event = if self.event.is_empty() {
                    "message".to_owned()
                } else {
                    std::mem::take(&mut self.event)
                };
                out.push(SseEvent {
                    event,
                    data: std::mem::take(&mut self.data),
                });
            }
            self.event.clear();
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.feed(c).expect("line fits"));
        }
        out
    }

    #[test]
    fn basic_events_names_and_multiline_data() {
        let got =
            parse_all(&[b"data: one\n\nevent: ping\ndata: {}\n\ndata: a\ndata: b\ndata:c\n\n"]);
        assert_eq!(
            got,
            vec![
                ev("message", "one"),
                ev("ping", "{}"),
                ev("message", "a\nb\nc")
            ]
        );
    }

    #[test]
    fn comments_unknown_fields_and_empty_events() {
        let got = parse_all(&[
            b": keep-alive\n\nid: 7\nretry: 100\nfoo: bar\n\nevent: x\n\ndata: after\n\n",
        ]);
        // The event with only a name and no data is not dispatched, and its name does
        // not leak into the next one.
        assert_eq!(got, vec![ev("message", "after")]);
    }

    #[test]
    fn only_one_leading_space_is_dropped_and_empty_data_dispatches() {
        let got = parse_all(&[b"data:  two spaces\n\ndata\n\ndata:\n\n"]);
        assert_eq!(
            got,
            vec![
                ev("message", " two spaces"),
                ev("message", ""),
                ev("message", "")
            ]
        );
    }

    #[test]
    fn colons_inside_values_are_kept() {
        let got = parse_all(&[b"data: {\"a\":\"b:c\"}\n\n"]);
        assert_eq!(got, vec![ev("message", "{\"a\":\"b:c\"}")]);
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let got = parse_all(&[b"event: e\r\ndata: x\r\n\r\ndata: y\r\rdata: z\n\r\n"]);
        assert_eq!(
            got,
            vec![ev("e", "x"), ev("message", "y"), ev("message", "z")]
        );
    }

    #[test]
    fn crlf_split_between_chunks_is_one_line_end() {
        // "\r" ends one chunk and "\n" starts the next: one line end, not two (two
        // would dispatch "a" early, before "b" is appended).
        let got = parse_all(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(got, vec![ev("message", "a\nb")]);
    }

    #[test]
    fn unfinished_event_at_end_is_not_dispatched() {
        assert_eq!(
            parse_all(&[b"data: a\n\ndata: partial\n"]),
            vec![ev("message", "a")]
        );
    }

    #[test]
    fn byte_order_mark_is_skipped_even_when_split() {
        assert_eq!(
            parse_all(&[b"\xEF", b"\xBB", b"\xBFdata: x\n\n"]),
            vec![ev("message", "x")]
        );
        assert_eq!(
            parse_all(&[b"\xEF\xBB\xBFdata: y\n\n"]),
            vec![ev("message", "y")]
        );
    }

    #[test]
    fn utf8_split_between_chunks() {
        let text = "data: héllo wörld ✓\n\n".as_bytes();
        let got = parse_all(&[&text[..8], &text[8..9], &text[9..]]);
        assert_eq!(got, vec![ev("message", "héllo wörld ✓")]);
    }

    #[test]
    fn overlong_line_is_refused() {
        let mut p = SseParser::with_max_line(16);
        assert!(p.feed(b"data: short\n\n").is_ok());
        assert_eq!(
            p.feed(b"data: this line never ends and keeps going"),
            Err(LineTooLong { limit: 16 })
        );
    }

    /// A deterministic pseudo-random generator, so failures can be replayed.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, bound: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) as usize) % bound
        }
    }

    #[test]
    fn any_chunking_gives_the_same_events() {
        let stream: &[u8] = "\u{feff}: comment\r\nevent: message_start\r\ndata: {\"a\": 1}\r\n\r\n\
            data: line1\ndata: line2\n\nevent: delta\rdata: ünïcödé ✓\r\r\
            data: [DONE]\r\n\r\n"
            .as_bytes();
        let want = parse_all(&[stream]);
        assert_eq!(
            want,
            vec![
                ev("message_start", "{\"a\": 1}"),
                ev("message", "line1\nline2"),
                ev("delta", "ünïcödé ✓"),
                ev("message", "[DONE]"),
            ]
        );
        // Every single split point, then every byte on its own, then random chunkings.
        for cut in 0..=stream.len() {
            assert_eq!(
                parse_all(&[&stream[..cut], &stream[cut..]]),
                want,
                "cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse_all(&bytes), want);
        let mut rng = Lcg(42);
        for round in 0..500 {
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < stream.len() {
                let n = (rng.next(9)).min(stream.len() - at);
                chunks.push(&stream[at..at + n]);
                at += n;
            }
            assert_eq!(parse_all(&chunks), want, "round {round}: {chunks:?}");
        }
    }
}
