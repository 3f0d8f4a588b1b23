//! Word error rate, for tests and benchmarks.

/// Lower-case words without punctuation; digits spelled out (0-99 and whole
/// hundreds/thousands are enough for spoken commands), so "40" and "forty" match.
pub fn normalize(text: &str) -> Vec<String> {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' || c.is_whitespace() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    let mut out = Vec::new();
    for w in cleaned.split_whitespace() {
        let w = w.trim_matches('\'');
        match w.parse::<u32>() {
            Ok(n) => out.extend(number_words(n)),
            Err(_) if !w.is_empty() => out.push(w.to_owned()),
            Err(_) => {}
        }
    }
    out
}

fn number_words(n: u32) -> Vec<String> {
    const ONES: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 10] = [
        "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    let mut w = Vec::new();
    let mut n = n;
    if n >= 1000 {
        w.extend(number_words(n / 1000));
        w.push("thousand".into());
        n %= 1000;
        if n == 0 {
            return w;
        }
    }
    if n >= 100 {
        w.push(ONES[(n / 100) as usize].into());
        w.push("hundred".into());
        n %= 100;
        if n == 0 {
            return w;
        }
    }
    if n < 20 {
        w.push(ONES[n as usize].into());
    } else {
        w.push(TENS[(n / 10) as usize].into());
        if !n.is_multiple_of(10) {
            w.push(ONES[(n % 10) as usize].into());
        }
    }
    w
}

/// Word-level edit distance (substitutions + deletions + insertions) between two
/// normalized texts.
pub fn word_errors(reference: &[String], hypothesis: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut cur = vec![i + 1; hypothesis.len() + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            let sub = prev[j] + usize::from(r != h);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[hypothesis.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_and_distance() {
        assert_eq!(
            normalize("Set the volume to 40%!"),
            ["set", "the", "volume", "to", "forty"]
        );
        assert_eq!(
            normalize("Mr. Dashwood's 2,100"),
            ["mr", "dashwood's", "two", "one", "hundred"]
        );
        let r = normalize("he was not an ill disposed young man");
        assert_eq!(
            word_errors(&r, &normalize("He was not an ill-disposed young man.")),
            0
        );
        assert_eq!(
            word_errors(&r, &normalize("he was an ill disposed young woman")),
            2
        );
        assert_eq!(word_errors(&r, &[]), 8);
    }
}
