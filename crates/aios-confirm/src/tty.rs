//! The terminal front end.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use aios_common::types::{ConfirmRequest, TrustRequirement};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::termios::{FlushArg, tcflush};
use nix::unistd::{Pid, getpgrp, setpgid, tcgetpgrp, tcsetpgrp};

use aios_common::text::{cut_middle, one_line};

use crate::{Refusal, judge};

/// Longest answer line read.
const MAX_LINE: usize = 256;

/// Asks on the controlling terminal; `Ok` approves, `Err` says why not.
/// `agent` is the channel: the agent sends nothing after the request, so when it
/// becomes readable the agent has hung up (the client that asked went away) and the
/// question is withdrawn.
pub fn ask(req: &ConfirmRequest, agent: BorrowedFd<'_>) -> Result<(), Refusal> {
    let mut tty = match OpenOptions::new().read(true).write(true).open("/dev/tty") {
        Ok(t) => t,
        Err(e) => {
            let why = format!(
                "no terminal to ask on ({e}) and no display for the dialog, so nobody could be asked"
            );
            eprintln!("aios-confirm: {why}; denied");
            return Err(why.into());
        }
    };
    let fg = Foreground::take(&tty);
    // Keys pressed before the question was on screen are not an answer to it.
    let _ = tcflush(tty.as_fd(), FlushArg::TCIFLUSH);
    let deadline = Instant::now() + Duration::from_secs(req.timeout_secs);
    let _ = tty.write_all(prompt(req, width(&tty)).as_bytes());
    let _ = tty.flush();
    let verdict = match read_line(&mut tty, agent, deadline) {
        Line::Typed(text) => judge(req, &text).map_err(Refusal::from),
        Line::Timeout => {
            let _ = tty.write_all(b"\n");
            Err(Refusal {
                why: format!("no answer within {} s", req.timeout_secs),
                timed_out: true,
            })
        }
        Line::Closed(why) => Err(format!("the terminal closed ({why})").into()),
        Line::Withdrawn => Err("the question was withdrawn by the agent".to_owned().into()),
    };
    let note = match &verdict {
        Ok(()) => "Allowed.\n".to_owned(),
        Err(r) => format!("Denied: {}.\n", r.why),
    };
    let _ = tty.write_all(note.as_bytes());
    drop(fg);
    verdict
}

/// Puts the terminal back in a known state before the question: plain attributes,
/// the ASCII character set (a line-drawing set would disguise letters), the whole
/// screen as the scroll region (cursor saved around it, since setting it moves the
/// cursor home), wrapping on, the cursor visible. Text printed before (a reply that
/// echoed a file) cannot hide or restyle the question.
pub(crate) const RESET: &str = "\x1b[0m\x1b(B\x1b7\x1b[r\x1b8\x1b[?7h\x1b[?25h";

/// Most argument lines shown; the prompt must fit a 24-line terminal.
const MAX_ARG_LINES: usize = 8;
/// Most summary lines shown (what the call does and up to three notes).
const MAX_SUMMARY_LINES: usize = 4;

/// Argument names that say what a call acts on, in the order they are looked for.
const TARGET_KEYS: &[&str] = &["path", "command", "ssid", "url"];

/// The terminal's width in columns (80 when it cannot be asked).
fn width(tty: &File) -> usize {
    match rustix::termios::tcgetwinsize(tty) {
        Ok(ws) if ws.ws_col >= 20 => usize::from(ws.ws_col),
        _ => 80,
    }
}

/// The question, at most 20 lines of at most `width - 1` columns:
/// every value from the call is escaped, put on one line and cut in the middle, and
/// the target (path, command, SSID, URL) gets its own line right above the input.
pub(crate) fn prompt(req: &ConfirmRequest, width: usize) -> String {
    let fit = |prefix: &str, text: &str| {
        let room = width.saturating_sub(prefix.chars().count() + 1).max(16);
        format!("{prefix}{}\n", cut_middle(&one_line(text), room))
    };
    let args = req.call.arguments.as_object();
    let target = args.and_then(|a| {
        TARGET_KEYS
            .iter()
            .find_map(|k| a.get(*k).and_then(|v| v.as_str()).map(|v| (*k, v)))
    });
    let mut p = String::from(RESET);
    p += "\n──────── AIOS asks before acting ────────\n";
    // The summary's lines are the agent's (each value in them already escaped);
    // a line is cut to the width like everything else.
    for line in req.summary.lines().take(MAX_SUMMARY_LINES) {
        p += &fit("  ", line);
    }
    p += &fit("  tool: ", &req.call.name);
    if let Some(a) = args {
        let shown: Vec<_> = a
            .iter()
            .filter(|(k, _)| target.is_none_or(|(t, _)| t != k.as_str()))
            .collect();
        for (k, v) in shown.iter().take(MAX_ARG_LINES) {
            let key = serde_json::to_string(k).unwrap_or_default();
            let value = serde_json::to_string(v).unwrap_or_default();
            p += &fit(&format!("  {key}: "), &value);
        }
        if shown.len() > MAX_ARG_LINES {
            p += &format!("  ({} more arguments)\n", shown.len() - MAX_ARG_LINES);
        }
    }
    if let Some(src) = &req.content_source {
        p += &fit("  ! This conversation contains text read from: ", src);
        p += "    That text may have asked for this. Allow it only if you asked for it yourself.\n";
    }
    if let Some((key, value)) = target {
        p += &fit(&format!("  → {key}: "), value);
    }
    p += &match req.requirement {
        TrustRequirement::DoubleConfirm => format!(
            "This cannot be undone. Type DELETE and press Enter to allow; anything else denies ({} s): ",
            req.timeout_secs
        ),
        _ => format!("Allow? [y/N] ({} s): ", req.timeout_secs),
    };
    p
}

enum Line {
    Typed(String),
    Timeout,
    Closed(String),
    Withdrawn,
}

fn read_line(tty: &mut File, agent: BorrowedFd<'_>, deadline: Instant) -> Line {
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Line::Timeout;
        }
        let ms = u16::try_from(left.as_millis().min(10_000)).unwrap_or(10_000);
        let mut fds = [
            PollFd::new(tty.as_fd(), PollFlags::POLLIN),
            PollFd::new(agent, PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Line::Closed(e.to_string()),
        }
        if fds[1].any().unwrap_or(true) {
            let _ = tty.write_all(b"\n");
            return Line::Withdrawn;
        }
        if !fds[0].any().unwrap_or(false) {
            continue;
        }
        let mut buf = [0u8; 128];
        match tty.read(&mut buf) {
            Ok(0) => return Line::Closed("end of input".into()),
            Ok(n) => {
                line.extend_from_slice(&buf[..n]);
                if let Some(pos) = line.iter().position(|&b| b == b'\n') {
                    line.truncate(pos);
                    return Line::Typed(String::from_utf8_lossy(&line).into_owned());
                }
                if line.len() > MAX_LINE {
                    return Line::Typed(String::from_utf8_lossy(&line).into_owned());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Line::Closed(e.to_string()),
        }
    }
}

/// Holds the terminal's foreground for the question and gives it back on drop.
///
/// The agent may run as a background job of the shell the person types into (`make
/// run`), and a background process reading the terminal is stopped by SIGTTIN. So the
/// prompt moves into a process group of its own and makes that the foreground, with
/// SIGTTOU blocked as shells do; afterwards the previous foreground group gets the
/// terminal back.
struct Foreground {
    tty: Option<File>,
    previous: Option<Pid>,
}

impl Foreground {
    fn take(tty: &File) -> Self {
        let mut block = SigSet::empty();
        block.add(Signal::SIGTTOU);
        let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&block), None);
        let previous = tcgetpgrp(tty.as_fd()).ok();
        if previous != Some(getpgrp()) {
            let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
            let _ = tcsetpgrp(tty.as_fd(), getpgrp());
        }
        Self {
            tty: tty.try_clone().ok(),
            previous,
        }
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        if let (Some(p), Some(tty)) = (self.previous, &self.tty)
            && p != getpgrp()
        {
            let _ = tcsetpgrp(tty.as_fd(), p);
        }
    }
}
