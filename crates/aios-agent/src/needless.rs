//! Calls that need nothing of this computer.
//!
//! The 1.5B model answers some questions about the world with a call: "what's 15
//! times 4" became `shell_exec` `echo 15 * 4` in every run of `llm_bench` (0.62-0.80
//! of the first token's probability on the call, so no threshold stops it). Such a
//! command only prints what it was given, or arithmetic on it: it reads nothing of
//! the computer and changes nothing, so the answer never needed a tool, and running
//! it would put a DoubleConfirm shell prompt in front of a sum (and `*` unquoted is
//! a glob). The agent asks the model again for words instead (`words_only`, with
//! the same cached prompt).
//!
//! Deliberately narrow: a command counts only when every part of it is `echo`,
//! `printf`, `expr` or `bc` with literal arguments and `$((…))` arithmetic on digits.
//! Anything that could read the system (a variable, a command substitution, a
//! redirection, a file argument, a second command) keeps the call.

use serde_json::Value;

/// Programs whose output depends only on their arguments (or their piped input).
const PRINTERS: &[&str] = &["echo", "printf", "expr", "bc"];

/// Whether calling `name` with `arguments` would need nothing of this computer:
/// a `shell_exec` whose command only prints or computes its own literal text.
pub fn needs_no_computer(name: &str, arguments: &Value) -> bool {
    if name != "shell_exec" {
        return false;
    }
    let Some(command) = arguments.get("command").and_then(Value::as_str) else {
        return false;
    };
    let Some(plain) = without_arithmetic(command) else {
        return false;
    };
    // A second command, a redirection, a substitution, a background job: all of
    // them can read or change the system.
    if plain.contains(['`', ';', '&', '<', '>', '\n', '$']) || plain.contains("||") {
        return false;
    }
    plain.split('|').all(|part| {
        let mut words = part.split_whitespace().map(unquoted);
        match words.next() {
            // `bc FILE` reads a file; only its options are allowed.
            Some("bc") => words.all(|w| w.starts_with('-')),
            Some(first) => PRINTERS.contains(&first),
            None => false,
        }
    })
}

/// Whether a reply's `calls` (name and arguments each) are there and none of them
/// needs the computer: the reply should have been words.
pub fn all_need_no_computer<'a>(calls: impl IntoIterator<Item = (&'a str, &'a Value)>) -> bool {
    let mut any = false;
    for (name, arguments) in calls {
        if !needs_no_computer(name, arguments) {
            return false;
        }
        any = true;
    }
    any
}

/// `command` with each `$((…))` of digits and operators replaced by `0`; `None`
/// when one holds anything else (a variable, a command).
fn without_arithmetic(command: &str) -> Option<String> {
    let mut out = String::with_capacity(command.len());
    let mut rest = command;
    while let Some(at) = rest.find("$((") {
        out.push_str(&rest[..at]);
        let inner = &rest[at + 3..];
        let end = inner.find("))")?;
        if !inner[..end]
            .chars()
            .all(|c| c.is_ascii_digit() || " \t+-*/%().".contains(c))
        {
            return None;
        }
        out.push('0');
        rest = &inner[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

fn unquoted(word: &str) -> &str {
    word.trim_matches(|c| c == '"' || c == '\'')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shell(command: &str) -> bool {
        needs_no_computer("shell_exec", &json!({ "command": command }))
    }

    #[test]
    fn printing_or_computing_its_own_text_needs_no_computer() {
        for c in [
            "echo 15 * 4",
            "echo $((15 * 4))",
            "echo \"7 * 8\" | bc",
            "echo '2^10' | bc -l",
            "expr 7 \\* 8",
            "printf '%d\\n' 56",
            "echo 'seven times eight is 56'",
        ] {
            assert!(shell(c), "{c:?}");
        }
    }

    #[test]
    fn anything_that_can_read_or_change_the_system_keeps_the_call() {
        for c in [
            "echo $HOME",
            "echo ${USER}",
            "echo $(whoami)",
            "echo `date`",
            "echo $((RANDOM % 6))",
            "echo hi > notes.txt",
            "bc < numbers.txt",
            "bc numbers.txt",
            "echo hi; rm -rf ~",
            "echo hi && ls",
            "false || echo hi",
            "echo hi &",
            "ls | wc -l",
            "uname -a",
            "cat /etc/hostname",
            "",
        ] {
            assert!(!shell(c), "{c:?}");
        }
        assert!(!needs_no_computer("shell_exec", &json!({})));
        // A whole reply: only when it has calls and every one is like that.
        let (sum, home) = (
            json!({ "command": "echo 15 * 4" }),
            json!({ "command": "echo $HOME" }),
        );
        assert!(all_need_no_computer([("shell_exec", &sum)]));
        assert!(!all_need_no_computer([
            ("shell_exec", &sum),
            ("shell_exec", &home)
        ]));
        assert!(!all_need_no_computer([]));
        assert!(!needs_no_computer(
            "file_read",
            &json!({ "command": "echo 1" })
        ));
    }
}
