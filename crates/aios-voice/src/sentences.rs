//! Cutting a streamed reply into pieces to speak, so the first sentence is spoken
//! while the model still writes the second.

/// The first piece may end at a clause boundary (a comma, a colon) once it has this
/// many characters, so audio starts before a long first sentence is complete.
const FIRST_CLAUSE_MIN: usize = 24;
/// A piece with no boundary at all is cut at a space after this many characters.
const MAX_PIECE: usize = 240;

/// Collects streamed text and hands out speakable pieces.
#[derive(Debug, Default)]
pub struct SentenceSplitter {
    buf: String,
    emitted: usize,
}

impl SentenceSplitter {
    /// A splitter for one reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `delta`; returns the pieces now complete.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.buf.push_str(delta);
        let mut out = Vec::new();
        while let Some(end) = self.boundary() {
            let piece: String = self.buf.drain(..end).collect();
            let piece = piece.trim();
            if piece.chars().any(char::is_alphanumeric) {
                out.push(piece.to_owned());
                self.emitted += 1;
            }
        }
        out
    }

    /// The rest, at the end of the reply.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        let rest = rest.trim();
        rest.chars()
            .any(char::is_alphanumeric)
            .then(|| rest.to_owned())
    }

    /// Byte index just past the next boundary in the buffer, if there is one.
    fn boundary(&self) -> Option<usize> {
        let b = &self.buf;
        let chars: Vec<(usize, char)> = b.char_indices().collect();
        for (k, &(i, c)) in chars.iter().enumerate() {
            let next = chars.get(k + 1).map(|&(_, n)| n);
            // A boundary needs what follows to be known: whitespace after it.
            let followed_by_space = next.is_some_and(char::is_whitespace);
            let end = i + c.len_utf8();
            match c {
                '.' | '!' | '?' | ';' if followed_by_space => {
                    // "e.g." and "3.5" are not sentence ends; a single letter before
                    // the dot is most likely an abbreviation.
                    let before = b[..i].split_whitespace().last().unwrap_or("");
                    if c == '.'
                        && before.chars().count() <= 1
                        && before.chars().all(char::is_alphabetic)
                        && !before.is_empty()
                    {
                        continue;
                    }
                    return Some(end);
                }
                ',' | ':' if followed_by_space && self.emitted == 0 && end >= FIRST_CLAUSE_MIN => {
                    return Some(end);
                }
                '\n' if b[..i].trim().chars().any(char::is_alphanumeric) => return Some(end),
                _ => {}
            }
        }
        if b.len() > MAX_PIECE {
            return b[..MAX_PIECE].rfind(' ').map(|i| i + 1);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(deltas: &[&str]) -> Vec<String> {
        let mut s = SentenceSplitter::new();
        let mut out: Vec<String> = deltas.iter().flat_map(|d| s.push(d)).collect();
        out.extend(s.finish());
        out
    }

    #[test]
    fn sentences_come_out_as_soon_as_they_end() {
        let mut s = SentenceSplitter::new();
        assert!(s.push("It is 21 degrees").is_empty());
        assert!(
            s.push(" and sunny.").is_empty(),
            "the end is known only once a space follows"
        );
        assert_eq!(s.push(" Tomorrow"), ["It is 21 degrees and sunny."]);
        assert_eq!(s.push(" rain! Take"), ["Tomorrow rain!"]);
        assert_eq!(s.finish().as_deref(), Some("Take"));
    }

    #[test]
    fn the_first_piece_may_end_at_a_clause() {
        assert_eq!(
            split(&[
                "I deleted the three old files, ",
                "then emptied the trash, as you asked. Done."
            ]),
            [
                "I deleted the three old files,",
                "then emptied the trash, as you asked.",
                "Done."
            ]
        );
        // Too short to cut at the comma.
        assert_eq!(split(&["Yes, it is done. "]), ["Yes, it is done."]);
    }

    #[test]
    fn numbers_abbreviations_and_lines() {
        assert_eq!(
            split(&["Version 3.5 is out. Ask J. Smith.\nBye"]),
            ["Version 3.5 is out.", "Ask J. Smith.", "Bye"]
        );
        assert!(split(&["...", " ", "!"]).is_empty());
        let long = "word ".repeat(100);
        let pieces = split(&[&long]);
        assert!(
            pieces.len() >= 2 && pieces.iter().all(|p| p.len() <= MAX_PIECE),
            "{pieces:?}"
        );
    }
}
