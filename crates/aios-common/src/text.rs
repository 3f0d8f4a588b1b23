//! Text from the model, files, pages and tools, made safe to put on a terminal.
//!
//! Such text is the adversary's: an `ESC[2J` clears the screen, a right-to-left
//! override (U+202E) shows `txt.exe` as `exe.txt`, a zero-width space hides in a
//! path. Every front end passes it through [`printable`] (or [`one_line`]) before
//! printing, so it is shown, never obeyed.

/// True for characters a terminal acts on or a reader cannot see: C0 and C1
/// controls (ESC, CR, backspace, ...), bidirectional overrides and isolates, zero-
/// width characters, line and paragraph separators and the byte-order mark.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// `s` with every hidden character shown as an escape (`\u{1b}`); newlines and tabs
/// stay, so a multi-line reply still reads as one.
pub fn printable(s: &str) -> String {
    escape(s, |c| c != '\n' && c != '\t' && is_hidden(c))
}

/// `s` on one line: like [`printable`], with newlines and tabs shown as `\n`, `\t`.
pub fn one_line(s: &str) -> String {
    escape(s, is_hidden)
}

fn escape(s: &str, hide: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if hide(c) {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                _ => out.extend(c.escape_unicode()),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` cut to at most about `max` characters by taking out its middle, which is
/// replaced by "… (N more characters) …": both ends of a path or a command stay
/// visible, and the count says something was left out.
pub fn cut_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_owned();
    }
    let keep = max.saturating_sub(28).max(8);
    let head = keep / 2;
    let tail = keep - head;
    let first: String = s.chars().take(head).collect();
    let last: String = s.chars().skip(n - tail).collect();
    format!("{first}… ({} more characters) …{last}", n - head - tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_bidi_and_zero_width_but_keeps_lines() {
        let evil = "ok\x1b[2J\x1b]0;title\x07\u{202E}txt.exe\u{200B}\u{2066}x\u{9b}\r\nnext\tcol";
        let p = printable(evil);
        assert!(
            !p.chars().any(|c| c != '\n' && c != '\t' && is_hidden(c)),
            "{p:?}"
        );
        assert!(p.contains("\\u{1b}[2J") && p.contains("\\u{202e}txt.exe\\u{200b}"));
        assert!(p.contains("\\r\nnext\tcol"), "{p:?}");
        let o = one_line(evil);
        assert!(!o.chars().any(is_hidden), "{o:?}");
        assert!(o.ends_with("\\r\\nnext\\tcol"), "{o:?}");
        // Ordinary text, accents and other scripts pass untouched.
        let plain = "Привет, café — 東京 👋";
        assert_eq!(printable(plain), plain);
    }

    #[test]
    fn long_text_keeps_both_ends() {
        let long = format!("/home/u/{}/secret.txt", "a".repeat(2000));
        let c = cut_middle(&long, 80);
        assert!(c.chars().count() <= 80, "{}", c.chars().count());
        assert!(
            c.starts_with("/home/u/") && c.ends_with("secret.txt"),
            "{c}"
        );
        assert!(c.contains("more characters"), "{c}");
        assert_eq!(cut_middle("short", 80), "short");
    }
}
