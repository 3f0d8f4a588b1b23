//! What of a streamed reply is read aloud.
//!
//! The chat shows the whole reply; the voice says a short version. Code blocks,
//! tables and list items are never spoken (they are raw output or need a screen),
//! inline code marks and markdown emphasis are dropped, and after a turn used tools
//! at most [`AFTER_TOOLS`] sentences are spoken: the summary of the outcome, not the
//! data. When nothing speakable is left, a fixed sentence points to the chat.

use crate::sentences::SentenceSplitter;

/// Sentences spoken after tool results.
pub const AFTER_TOOLS: usize = 2;
/// Sentences spoken of a reply without tools (a voice answer is short; the chat
/// has the rest).
pub const PLAIN: usize = 6;
/// Said when a tool turn's reply has nothing speakable.
pub const FALLBACK: &str = "Done. The details are in the chat.";

/// Characters of a line that tell prose from a list item or key-value line.
const DECIDE: usize = 24;

/// Filters one streamed reply into the sentences to speak.
#[derive(Debug, Default)]
pub struct SpokenReply {
    splitter: SentenceSplitter,
    /// The current line, held until it is known whether it is a list item or row.
    line: String,
    in_code: bool,
    /// The current line is prose and streams to the splitter as it comes.
    streaming_line: bool,
    used_tools: bool,
    after_tools: usize,
    total: usize,
    spoken: Vec<String>,
}

impl SpokenReply {
    /// A filter for one reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tool results came in: what follows is the summary, kept to two sentences.
    pub fn tools_used(&mut self) {
        self.used_tools = true;
        self.after_tools = 0;
        // Text before the call ("Let me check.") has been said; a half sentence has
        // not and never will be.
        self.splitter = SentenceSplitter::new();
        self.line.clear();
        self.in_code = false;
        self.streaming_line = false;
    }

    /// Adds streamed text; returns the sentences to say now.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut prose = String::new();
        for c in delta.chars() {
            if self.streaming_line {
                // A line known to be prose goes straight to the splitter.
                prose.push(c);
                if c == '\n' {
                    self.streaming_line = false;
                    let text = clean(&std::mem::take(&mut prose));
                    let pieces = self.splitter.push(&text);
                    self.keep(pieces, &mut out);
                }
                continue;
            }
            self.line.push(c);
            if c == '\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, &mut out);
            } else if !self.in_code && self.line.len() >= DECIDE && is_prose(&self.line) {
                // Clearly prose before the line ends (the key-value check looks at
                // this many characters): the first sentence can be spoken while the
                // model still writes the line.
                self.streaming_line = true;
                prose = std::mem::take(&mut self.line);
            }
        }
        if !prose.is_empty() {
            let pieces = self.splitter.push(&clean(&prose));
            self.keep(pieces, &mut out);
        }
        out
    }

    /// The end of the reply: the last sentences to say.
    pub fn finish(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let line = std::mem::take(&mut self.line);
        self.line_done(&line, &mut out);
        let rest: Vec<String> = self.splitter.finish().into_iter().collect();
        self.keep(rest, &mut out);
        if self.used_tools && self.after_tools == 0 {
            self.spoken.push(FALLBACK.to_owned());
            out.push(FALLBACK.to_owned());
        }
        out
    }

    /// Everything said so far, joined.
    pub fn spoken(&self) -> String {
        self.spoken.join(" ")
    }

    fn line_done(&mut self, line: &str, out: &mut Vec<String>) {
        if line.trim_start().starts_with("```") {
            self.in_code = !self.in_code;
            return;
        }
        if self.in_code || !is_prose(line) {
            return;
        }
        let pieces = self.splitter.push(&clean(line));
        self.keep(pieces, out);
    }

    fn keep(&mut self, pieces: Vec<String>, out: &mut Vec<String>) {
        for p in pieces {
            let limit = if self.used_tools { AFTER_TOOLS } else { PLAIN };
            let count = if self.used_tools {
                &mut self.after_tools
            } else {
                &mut self.total
            };
            if *count >= limit || !p.chars().any(char::is_alphabetic) {
                continue;
            }
            *count += 1;
            self.spoken.push(p.clone());
            out.push(p);
        }
    }
}

/// Not a list item, table row, heading, quote or key-value dump.
fn is_prose(line: &str) -> bool {
    let t = line.trim_start();
    if t.is_empty() {
        return true;
    }
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    let numbered = digits > 0 && t[digits..].starts_with(['.', ')']);
    let marker = ["- ", "* ", "+ ", "|", "#", ">", "{", "[", "`"]
        .iter()
        .any(|m| t.starts_with(m));
    // "cpu: 4 cores" style lines: a short key then a colon early in the line.
    let key_value = t
        .find(':')
        .is_some_and(|i| i < DECIDE && !t[..i].contains(' ') && i + 1 < t.len());
    !(numbered || marker || key_value)
}

/// Drops markdown marks a voice would read out.
fn clean(text: &str) -> String {
    text.replace(['`', '*', '_'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speak(deltas: &[&str], tools_after: Option<usize>) -> Vec<String> {
        let mut r = SpokenReply::new();
        let mut out = Vec::new();
        for (i, d) in deltas.iter().enumerate() {
            if tools_after == Some(i) {
                r.tools_used();
            }
            out.extend(r.push(d));
        }
        out.extend(r.finish());
        out
    }

    #[test]
    fn plain_replies_are_spoken_sentence_by_sentence() {
        assert_eq!(
            speak(&["It is ", "21 degrees. Tomorrow ", "it rains."], None),
            ["It is 21 degrees.", "Tomorrow it rains."]
        );
    }

    #[test]
    fn code_lists_tables_and_dumps_are_not_spoken() {
        let said = speak(
            &[
                "Your battery is at 87 percent and discharging.\n",
                "```\ncpu: Intel Xeon\nmemory: 3.8 GiB\n```\n",
                "- disk: 41 GB free\n| a | b |\n1. first\nmemory_total: 3987 MB\n",
                "That is all.",
            ],
            Some(0),
        );
        assert_eq!(
            said,
            [
                "Your battery is at 87 percent and discharging.",
                "That is all."
            ]
        );
    }

    #[test]
    fn after_tools_two_sentences_at_most_and_never_silence() {
        let said = speak(
            &["Deleted 3 files. They were old. Trash is empty. Anything else?"],
            Some(0),
        );
        assert_eq!(said, ["Deleted 3 files.", "They were old."]);
        let said = speak(&["```\n{\"x\": 1}\n```"], Some(0));
        assert_eq!(said, [FALLBACK]);
    }

    #[test]
    fn first_sentence_leaves_before_the_line_ends() {
        let mut r = SpokenReply::new();
        assert!(r.push("Sure, the volume is up to sixty").is_empty());
        assert_eq!(
            r.push(" percent now. And"),
            ["Sure, the volume is up to sixty percent now."]
        );
        assert!(r.push(" more").is_empty());
        assert_eq!(r.finish(), ["And more"]);
    }
}
