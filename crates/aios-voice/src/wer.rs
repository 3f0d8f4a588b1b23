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
/// normalized texts. A word written closed on one side and open on the other
/// ("screenshot" / "screen shot", "wifi" / "Wi-Fi") is a spelling variant, not an
/// error: two adjacent words that join into the other side's word match it.
pub fn word_errors(reference: &[String], hypothesis: &[String]) -> usize {
    let (n, m) = (reference.len(), hypothesis.len());
    // d[i][j]: errors between the first i reference and first j hypothesis words.
    let mut d = vec![vec![usize::MAX; m + 1]; n + 1];
    d[0][0] = 0;
    let joined = |a: &str, b: &str, whole: &str| {
        whole.len() == a.len() + b.len() && whole.starts_with(a) && whole.ends_with(b)
    };
    for i in 0..=n {
        for j in 0..=m {
            let here = d[i][j];
            if here == usize::MAX {
                continue;
            }
            let mut relax = |i2: usize, j2: usize, cost: usize| {
                if i2 <= n && j2 <= m && here + cost < d[i2][j2] {
                    d[i2][j2] = here + cost;
                }
            };
            relax(i + 1, j, 1);
            relax(i, j + 1, 1);
            if i < n && j < m {
                relax(i + 1, j + 1, usize::from(reference[i] != hypothesis[j]));
                if j + 1 < m && joined(&hypothesis[j], &hypothesis[j + 1], &reference[i]) {
                    relax(i + 1, j + 2, 0);
                }
                if i + 1 < n && joined(&reference[i], &reference[i + 1], &hypothesis[j]) {
                    relax(i + 2, j + 1, 0);
                }
            }
        }
    }
    d[n][m]
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
        let r = normalize("take a screenshot");
        assert_eq!(word_errors(&r, &normalize("Take a screen shot.")), 0);
        assert_eq!(word_errors(&r, &normalize("Take a screen short.")), 2);
        assert_eq!(
            word_errors(
                &normalize("turn the wi-fi off"),
                &normalize("Turn the WiFi off")
            ),
            0
        );
        assert_eq!(
            word_errors(&normalize("a b c"), &normalize("x a b c y")),
            2,
            "insertions at both ends"
        );
    }
}
