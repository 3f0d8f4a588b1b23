//! `aios-confirm`: the confirmation front end, always a separate process.
//!
//! The agent starts it from a fixed path beside its own executable, one child per
//! request, with one end of a socketpair as its stdin: the only channel. It reads one
//! [`ConfirmRequest`], asks the person, writes one [`ConfirmResponse`] and exits. So
//! nothing the model, a transcript or a client of the public socket says can approve a
//! tool call.
//!
//! `--tty` asks on the controlling terminal the agent runs in (`make run` without a
//! desktop starts the agent and `aios chat` in one terminal). It takes the terminal's
//! foreground for the question, drops anything typed before the question appeared, and
//! gives the terminal back afterwards. A destructive action needs `DELETE` typed
//! exactly; anything else, the end of the timeout, or a closed terminal is a denial.
//! With no terminal it denies at once and says why. There is no scripted or
//! auto-approving mode.
//!
//! `--wayland` (what the agent starts when it has a `WAYLAND_DISPLAY`) shows the
//! question as a layer-shell overlay above every window with the keyboard to itself
//! (see [`dialog`] for its rules); when no overlay can be shown it asks on the
//! terminal as `--tty` does.

mod channel;
pub mod dialog;
mod overlay;
mod tty;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aios_common::types::{ConfirmRequest, ConfirmResponse, TrustRequirement};

/// Runs the front end; the exit code is 0 when an answer (either way) was delivered.
pub fn run() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "aios-confirm --wayland | --tty\n\nStarted by aios-agent to ask before a tool call; not for use by hand."
        );
        return ExitCode::SUCCESS;
    }
    let wayland = args.iter().any(|a| a == "--wayland");
    if let Some(other) = args.iter().find(|a| *a != "--tty" && *a != "--wayland") {
        eprintln!(
            "aios-confirm: unknown argument {other:?}; the front ends are --wayland and --tty"
        );
    }
    let mut chan = match channel::Channel::from_stdin() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aios-confirm: {e}");
            return ExitCode::from(2);
        }
    };
    let req = match chan.read_request() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("aios-confirm: {e}");
            return ExitCode::from(2);
        }
    };
    let verdict = if wayland {
        let overlay_up = Arc::new(AtomicBool::new(true));
        exit_when_withdrawn(&chan, overlay_up.clone());
        let shown = overlay::ask(&req);
        // From here the terminal prompt (if any) watches the channel itself, and
        // must give the terminal back before it ends.
        overlay_up.store(false, Ordering::SeqCst);
        match shown {
            Ok(v) => v,
            Err(why) => {
                eprintln!("aios-confirm: {why}; asking on the terminal instead");
                tty::ask(&req, chan.fd())
            }
        }
    } else {
        tty::ask(&req, chan.fd())
    };
    let resp = ConfirmResponse {
        request_id: req.request_id,
        approved: verdict.is_ok(),
        timed_out: verdict.as_ref().is_err_and(|r| r.timed_out),
        reason: verdict.err().map(|r| r.why),
    };
    match chan.write_response(&resp) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aios-confirm: {e}");
            ExitCode::from(2)
        }
    }
}

/// The agent sends nothing after the question: when the channel becomes readable it
/// has hung up (the client that asked went away) and the question is withdrawn. The
/// overlay then goes at once (while `overlay_up`); the agent already took it as a
/// denial.
fn exit_when_withdrawn(chan: &channel::Channel, overlay_up: Arc<AtomicBool>) {
    let Ok(fd) = chan.fd().try_clone_to_owned() else {
        return;
    };
    std::thread::spawn(move || {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                Ok(n) if n > 0 && overlay_up.load(Ordering::SeqCst) => {
                    eprintln!("aios-confirm: the question was withdrawn by the agent");
                    std::process::exit(0);
                }
                _ => return,
            }
        }
    });
}

/// A denial: why, and whether it was the timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why, for the person, the model and the audit log.
    pub why: String,
    /// Nobody answered in time.
    pub timed_out: bool,
}

impl From<String> for Refusal {
    fn from(why: String) -> Self {
        Self {
            why,
            timed_out: false,
        }
    }
}

/// Judges a typed answer: `Ok` approves, `Err` says why not.
pub fn judge(req: &ConfirmRequest, typed: &str) -> Result<(), String> {
    let typed = typed.trim_end_matches(['\r', '\n']).trim();
    match req.requirement {
        TrustRequirement::DoubleConfirm if typed == "DELETE" => Ok(()),
        TrustRequirement::DoubleConfirm if typed.is_empty() => Err("nothing was typed".into()),
        TrustRequirement::DoubleConfirm => Err(format!(
            "\"{}\" was typed instead of DELETE",
            printable(&typed.chars().take(40).collect::<String>())
        )),
        _ if typed.eq_ignore_ascii_case("y") || typed.eq_ignore_ascii_case("yes") => Ok(()),
        _ => Err("the person said no".into()),
    }
}

/// `s` with control characters, bidi overrides and zero-width characters shown as
/// escapes, so that text from a file cannot move the cursor, clear the line,
/// recolour the prompt or reorder what it says.
pub fn printable(s: &str) -> String {
    aios_common::text::printable(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_common::types::ToolCall;

    fn req(requirement: TrustRequirement) -> ConfirmRequest {
        ConfirmRequest {
            request_id: uuid::Uuid::nil(),
            call: ToolCall {
                id: "c".into(),
                name: "file_delete".into(),
                arguments: serde_json::json!({}),
            },
            summary: "Delete x".into(),
            requirement,
            content_source: None,
            timeout_secs: 5,
        }
    }

    #[test]
    fn only_exact_delete_approves_a_destructive_call() {
        let r = req(TrustRequirement::DoubleConfirm);
        assert_eq!(judge(&r, "DELETE\n"), Ok(()));
        for bad in ["delete", "DELETE!", "y", "yes", "DELET", " D E L E T E", ""] {
            assert!(judge(&r, bad).is_err(), "{bad:?} must not approve");
        }
        assert!(judge(&r, "yes").unwrap_err().contains("instead of DELETE"));
    }

    #[test]
    fn yes_approves_a_confirm_call_and_anything_else_denies() {
        let r = req(TrustRequirement::Confirm);
        for ok in ["y", "Y", "yes", "YES\n"] {
            assert_eq!(judge(&r, ok), Ok(()));
        }
        for bad in ["", "n", "no", "yess", "sure"] {
            assert!(judge(&r, bad).is_err());
        }
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(printable("a\x1b[2Kb"), "a\\u{1b}[2Kb");
    }

    #[test]
    fn the_prompt_fits_24_lines_and_shows_the_target_last() {
        let mut r = req(TrustRequirement::Confirm);
        r.call.name = "file_write".into();
        let padded = format!("~/notes.txt{}", " ".repeat(3000));
        r.call.arguments = serde_json::json!({
            "content": format!("\x1b[2J\u{202E}{}\n{}", "A".repeat(2000), "\n".repeat(200)),
            "path": padded,
            "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9,
        });
        r.summary = format!("Write 2000 bytes to {padded}: replaces an existing file of 9 bytes");
        r.content_source = Some("/home/u/x.txt".into());
        // A classic 80x24 terminal and wider ones.
        for width in [80, 120, 200] {
            let p = tty::prompt(&r, width);
            let lines: Vec<&str> = p.lines().collect();
            // Rows on screen, wrapped lines counted; the answer and the verdict
            // need two more.
            let rows: usize = lines
                .iter()
                .map(|l| l.chars().count().div_ceil(width).max(1))
                .sum();
            assert!(rows <= 22, "{rows} rows at {width}:\n{p}");
            // Only the reset at the start acts on the terminal.
            let body = p.strip_prefix(tty::RESET).expect("reset first");
            assert!(
                !body
                    .chars()
                    .any(|c| c != '\n' && aios_common::text::is_hidden(c)),
                "{body:?}"
            );
            assert!(body.contains("more characters"), "{body}");
            let target = lines[lines.len() - 2];
            assert!(target.starts_with("  → path: ~/notes.txt"), "{target}");
            assert!(lines[lines.len() - 1].starts_with("Allow? [y/N]"));
        }
    }
}
