//! Who may run what: the policy step of the tool pipeline.
//!
//! The most restrictive rule wins. A tool's own requirement is the floor; the person's
//! `always_allow` can lift only a `Confirm` tool, and only while the conversation holds
//! no content read from outside (a file, a tool's output, later a web page): text an
//! attacker may have written could otherwise steer an unasked call. In that state a
//! tool that sends data out asks even if it would not otherwise.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use aios_common::types::{TrustLevel, TrustRequirement};

/// What the pipeline must do with a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run without asking; the string says why (for the audit log).
    Allow(&'static str),
    /// Ask the person first, at this level.
    Ask(TrustRequirement),
}

/// Outside content in the conversation, as far as the policy is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taint {
    /// The least trusted level present, `None` when all is the person's own.
    pub level: Option<TrustLevel>,
    /// Where it came from (file paths, URLs, "output of wifi_list"), oldest first.
    pub sources: Vec<String>,
}

impl Taint {
    /// Notes content of `level` from `source`.
    pub fn add(&mut self, level: TrustLevel, source: String) {
        if !level.is_untrusted_content() {
            return;
        }
        if self.level != Some(TrustLevel::WebContent) {
            self.level = Some(level);
        }
        if !self.sources.contains(&source) {
            self.sources.push(source);
        }
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: &Taint) {
        if let Some(level) = other.level {
            for s in &other.sources {
                self.add(level, s.clone());
            }
        }
    }

    /// True when outside content is present.
    pub fn is_tainted(&self) -> bool {
        self.level.is_some()
    }

    /// The trust level to record for a request made now.
    pub fn trust(&self) -> TrustLevel {
        self.level.unwrap_or(TrustLevel::User)
    }

    /// The sources as one line, for a confirm prompt and the audit log.
    pub fn source_line(&self) -> Option<String> {
        (!self.sources.is_empty()).then(|| self.sources.join(", "))
    }
}

/// Decides for a tool with `requirement` (see the module docs).
pub fn decide(
    name: &str,
    requirement: TrustRequirement,
    sends_data_out: bool,
    always_allow: &[String],
    taint: &Taint,
) -> Decision {
    match requirement {
        TrustRequirement::DoubleConfirm => Decision::Ask(TrustRequirement::DoubleConfirm),
        TrustRequirement::Confirm => {
            if taint.is_tainted() || !always_allow.iter().any(|a| a == name) {
                Decision::Ask(TrustRequirement::Confirm)
            } else {
                Decision::Allow("always_allow")
            }
        }
        TrustRequirement::None => {
            if sends_data_out && taint.is_tainted() {
                Decision::Ask(TrustRequirement::Confirm)
            } else {
                Decision::Allow("read-only")
            }
        }
    }
}

/// At most `max` destructive calls in any 60 s.
#[derive(Debug)]
pub struct RateLimit {
    max: u32,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RateLimit {
    /// A limit of `max` per minute.
    pub fn per_minute(max: u32) -> Self {
        Self {
            max,
            window: Duration::from_secs(60),
            recent: VecDeque::new(),
        }
    }

    /// Takes one slot at `now`, or says how long until one frees up.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() as u32 >= self.max {
            let oldest = self.recent.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        self.recent.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TrustRequirement::{Confirm, DoubleConfirm, None as Free};

    fn tainted() -> Taint {
        let mut t = Taint::default();
        t.add(TrustLevel::WebContent, "/home/u/notes.txt".into());
        t
    }

    #[test]
    fn most_restrictive_wins() {
        let allow = vec!["volume".to_owned(), "file_delete".to_owned()];
        let clean = Taint::default();
        assert_eq!(
            decide("volume", Confirm, false, &allow, &clean),
            Decision::Allow("always_allow")
        );
        assert_eq!(
            decide("volume", Confirm, false, &allow, &tainted()),
            Decision::Ask(Confirm)
        );
        assert_eq!(
            decide("brightness", Confirm, false, &allow, &clean),
            Decision::Ask(Confirm)
        );
        // Destructive tools can never be allowed by the person's list.
        assert_eq!(
            decide("file_delete", DoubleConfirm, false, &allow, &clean),
            Decision::Ask(DoubleConfirm)
        );
        assert_eq!(
            decide("file_read", Free, false, &allow, &tainted()),
            Decision::Allow("read-only")
        );
        assert_eq!(
            decide("open_url", Free, true, &allow, &clean),
            Decision::Allow("read-only")
        );
        assert_eq!(
            decide("open_url", Free, true, &allow, &tainted()),
            Decision::Ask(Confirm)
        );
    }

    #[test]
    fn taint_keeps_the_worst_level_and_every_source_once() {
        let mut t = Taint::default();
        t.add(TrustLevel::User, "typed".into());
        assert!(!t.is_tainted());
        t.add(TrustLevel::Memory, "memory".into());
        t.add(TrustLevel::WebContent, "/a".into());
        t.add(TrustLevel::Memory, "memory".into());
        assert_eq!(t.trust(), TrustLevel::WebContent);
        assert_eq!(t.source_line().as_deref(), Some("memory, /a"));
    }

    #[test]
    fn rate_limit_is_a_sliding_minute() {
        let mut r = RateLimit::per_minute(3);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(r.take(t0 + Duration::from_secs(i)).is_ok());
        }
        let wait = r
            .take(t0 + Duration::from_secs(10))
            .expect_err("fourth in a minute");
        assert_eq!(wait, Duration::from_secs(50));
        assert!(
            r.take(t0 + Duration::from_secs(60)).is_ok(),
            "the first slot freed"
        );
        assert!(r.take(t0 + Duration::from_secs(60)).is_err());
    }
}
