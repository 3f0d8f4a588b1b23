//! `shell_exec`: one command line through `sh -c`, in its own process group so that
//! a timeout stops everything it started.

use std::process::Stdio;

use aios_common::types::{ToolDefinition, TrustRequirement};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::tool::{Assessment, Tool, ToolContext, ToolError, definition_for, parse_args};

/// Longest command line `shell_exec` runs (bytes).
const MAX_COMMAND: usize = 4096;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ShellArgs {
    /// The command line to run
    #[schemars(length(min = 1))]
    command: String,
}

/// `shell_exec`: runs a command in the home folder, with a time limit and an output cap.
#[derive(Debug, Default)]
pub struct ShellExec;

#[async_trait::async_trait]
impl Tool for ShellExec {
    fn definition(&self) -> ToolDefinition {
        definition_for::<ShellArgs>("shell_exec", "Run a shell command and return its output.")
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::DoubleConfirm
    }
    fn describe(&self, args: &Value) -> String {
        format!(
            "Run the command: {}",
            args["command"].as_str().unwrap_or("?")
        )
    }
    async fn assess(&self, args: &Value, _ctx: &ToolContext) -> Result<Assessment, ToolError> {
        let a: ShellArgs = parse_args("shell_exec", args.clone())?;
        // Nobody reads a longer command line before typing DELETE; padding can also
        // push what it really does out of sight.
        if a.command.len() > MAX_COMMAND {
            return Err(ToolError::failed(format!(
                "refused: the command is {} bytes long; at most {MAX_COMMAND} are run, so that the person can read what they allow",
                a.command.len()
            )));
        }
        Ok(Assessment::plain(TrustRequirement::DoubleConfirm))
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: ShellArgs = parse_args("shell_exec", args)?;
        let mut child = ctx
            .command("sh")
            .arg("-c")
            .arg(&a.command)
            .current_dir(&ctx.home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| ToolError::failed(format!("cannot start sh: {e}")))?;
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let cap = ctx.output_cap;
        let out = tokio::spawn(read_capped(child.stdout.take(), cap));
        let err = tokio::spawn(read_capped(child.stderr.take(), cap));
        let status = match tokio::time::timeout(ctx.shell_timeout, child.wait()).await {
            Ok(s) => s.map_err(|e| ToolError::failed(format!("waiting for the command: {e}")))?,
            Err(_) => {
                if let Some(pg) = pgid {
                    let _ = killpg(pg, Signal::SIGKILL);
                }
                let _ = child.wait().await;
                return Err(ToolError::failed(format!(
                    "the command did not finish within {} s and was stopped",
                    ctx.shell_timeout.as_secs()
                )));
            }
        };
        // The shell is gone; children it left behind must not keep the pipes open.
        if let Some(pg) = pgid {
            let _ = killpg(pg, Signal::SIGKILL);
        }
        let (stdout, out_total) = out.await.unwrap_or_default();
        let (stderr, err_total) = err.await.unwrap_or_default();
        let mut text = match status.code() {
            Some(c) => format!("exit code {c}"),
            None => "killed by a signal".to_owned(),
        };
        for (name, body, total) in [("output", stdout, out_total), ("errors", stderr, err_total)] {
            if total == 0 {
                continue;
            }
            text.push_str(&format!(
                "\n{name}:\n{}",
                String::from_utf8_lossy(&body).trim_end()
            ));
            if total > body.len() {
                text.push_str(&format!(
                    "\n[{name} cut: {} of {total} bytes shown]",
                    body.len()
                ));
            }
        }
        if status.success() {
            Ok(text)
        } else {
            Err(ToolError::Failed(text))
        }
    }
}

/// Keeps the first `cap` bytes and counts the rest, reading to the end so the child
/// never blocks on a full pipe.
async fn read_capped(r: Option<impl AsyncRead + Unpin>, cap: usize) -> (Vec<u8>, usize) {
    let Some(mut r) = r else {
        return (Vec::new(), 0);
    };
    let mut kept = Vec::new();
    let mut total = 0;
    let mut buf = [0u8; 8192];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        total += n;
        let room = cap.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    (kept, total)
}
