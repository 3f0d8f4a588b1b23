//! Helpers for [`Tool::spoken`](crate::Tool::spoken): short sentences for the ear.

/// The lowercase words of `text` (letters and digits).
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether any of `words` is one of `these`.
pub(crate) fn any(words: &[String], these: &[&str]) -> bool {
    words.iter().any(|w| these.contains(&w.as_str()))
}

/// "a", "a and b", "a, b and c", "a, b, c, d, e and 3 more": at most `shown` items
/// are read out.
pub(crate) fn series(items: &[String], shown: usize) -> String {
    let n = items.len();
    if n <= shown {
        return match items {
            [] => String::new(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        };
    }
    format!("{} and {} more", items[..shown].join(", "), n - shown)
}

/// The last part of a path ("/home/ada/Documents" -> "Documents").
pub(crate) fn base(path: &str) -> &str {
    let p = path.trim_end_matches('/');
    p.rsplit('/')
        .next()
        .filter(|b| !b.is_empty())
        .unwrap_or(path)
}

/// "3.1 GiB" as said aloud: "3.1 gigabytes"; 10 and more without the decimal.
pub(crate) fn gigabytes(text: &str) -> String {
    let num = text.trim().trim_end_matches("GiB").trim();
    match num.parse::<f64>() {
        Ok(v) if v >= 10.0 => format!("{v:.0} gigabytes"),
        Ok(v) => format!("{v} gigabytes"),
        Err(_) => text.trim().to_owned(),
    }
}

/// `n` things, singular or plural: "1 file", "3 files".
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_reads_like_speech() {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(series(&v(&[]), 3), "");
        assert_eq!(series(&v(&["a"]), 3), "a");
        assert_eq!(series(&v(&["a", "b"]), 3), "a and b");
        assert_eq!(series(&v(&["a", "b", "c"]), 3), "a, b and c");
        assert_eq!(
            series(&v(&["a", "b", "c", "d", "e"]), 3),
            "a, b, c and 2 more"
        );
    }

    #[test]
    fn numbers_and_paths_for_the_ear() {
        assert_eq!(gigabytes("3.1 GiB"), "3.1 gigabytes");
        assert_eq!(gigabytes("41.6 GiB"), "42 gigabytes");
        assert_eq!(base("/home/ada/Documents/"), "Documents");
        assert_eq!(base("/"), "/");
        assert_eq!(count(1, "file", "files"), "1 file");
        assert_eq!(
            words("What's the DAY, today?"),
            ["what", "s", "the", "day", "today"]
        );
    }
}
