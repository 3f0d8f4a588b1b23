//! The tools the agent can run today. The full tool set with its trust pipeline
//! (policy, confirmation, audit) comes with the tools-and-trust issue in `aios-mcp`;
//! until then only read-only `system_info` is offered, which needs no confirmation.

use std::fmt::Write as _;
use std::time::Duration;

use aios_common::types::{ToolCall, ToolResult};
use serde_json::json;

use crate::llm::ToolDefinition;

/// Tools offered to the model and how to run them.
#[derive(Debug, Clone)]
pub struct Tools {
    defs: Vec<ToolDefinition>,
}

impl Default for Tools {
    fn default() -> Self {
        Self {
            defs: vec![ToolDefinition {
                name: "system_info".into(),
                description:
                    "Report CPU load, memory, disk space, battery and uptime of this computer."
                        .into(),
                parameters: json!({"type": "object", "properties": {}, "additionalProperties": false}),
            }],
        }
    }
}

impl Tools {
    /// Definitions for the model.
    pub fn definitions(&self) -> &[ToolDefinition] {
        &self.defs
    }

    /// Runs a call. Unknown tools and bad arguments are errors for the model to read,
    /// never executed.
    pub async fn execute(&self, call: &ToolCall) -> ToolResult {
        let result = |content: String, is_error: bool| ToolResult {
            call_id: call.id.clone(),
            content,
            is_error,
        };
        if !self.defs.iter().any(|d| d.name == call.name) {
            let names: Vec<&str> = self.defs.iter().map(|d| d.name.as_str()).collect();
            return result(
                format!(
                    "unknown tool `{}`; the available tools are: {}",
                    call.name,
                    names.join(", ")
                ),
                true,
            );
        }
        match call.arguments.as_object() {
            Some(o) if o.is_empty() => {}
            _ => {
                return result(
                    format!("system_info takes no arguments, got {}", call.arguments),
                    true,
                );
            }
        }
        match tokio::task::spawn_blocking(system_info).await {
            Ok(text) => result(text, false),
            Err(e) => result(format!("system_info failed: {e}"), true),
        }
    }
}

/// Reads /proc and /sys; each part that cannot be read is left out.
fn system_info() -> String {
    let mut out = String::new();
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let one = load.split_whitespace().next().unwrap_or("?");
        let _ = writeln!(out, "CPU: {cpus} cores, load average {one} (1 min)");
    }
    if let Ok(mem) = std::fs::read_to_string("/proc/meminfo") {
        let kib = |key: &str| {
            mem.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let (Some(total), Some(avail)) = (kib("MemTotal:"), kib("MemAvailable:")) {
            let _ = writeln!(
                out,
                "Memory: {} of {} free",
                gib(avail * 1024),
                gib(total * 1024)
            );
        }
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
    if let Ok(fs) = nix::sys::statvfs::statvfs(home.as_os_str()) {
        let block = fs.fragment_size();
        let _ = writeln!(
            out,
            "Disk ({}): {} of {} free",
            std::path::Path::new(&home).display(),
            gib(fs.blocks_available() * block),
            gib(fs.blocks() * block)
        );
    }
    if let Ok(dir) = std::fs::read_dir("/sys/class/power_supply") {
        for entry in dir.flatten() {
            let p = entry.path();
            let read = |f: &str| std::fs::read_to_string(p.join(f)).map(|s| s.trim().to_owned());
            if read("type").is_ok_and(|t| t == "Battery")
                && let (Ok(cap), Ok(status)) = (read("capacity"), read("status"))
            {
                let _ = writeln!(out, "Battery: {cap}% ({status})");
            }
        }
    }
    if let Some(secs) = std::fs::read_to_string("/proc/uptime").ok().and_then(|u| {
        u.split_whitespace()
            .next()
            .and_then(|s| s.parse::<f64>().ok())
    }) {
        let d = Duration::from_secs_f64(secs).as_secs();
        let _ = writeln!(out, "Uptime: {}h {}m", d / 3600, (d % 3600) / 60);
    }
    if out.is_empty() {
        out.push_str("no system information is readable here");
    }
    out.trim_end().to_owned()
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, arguments: serde_json::Value) -> ToolCall {
        ToolCall {
            id: "c1".into(),
            name: name.into(),
            arguments,
        }
    }

    #[tokio::test]
    async fn system_info_reads_the_real_machine() {
        let r = Tools::default()
            .execute(&call("system_info", json!({})))
            .await;
        assert!(!r.is_error, "{}", r.content);
        assert!(
            r.content.contains("CPU:")
                && r.content.contains("Memory:")
                && r.content.contains("Uptime:"),
            "{}",
            r.content
        );
    }

    #[tokio::test]
    async fn unknown_tools_and_bad_arguments_are_refused() {
        let r = Tools::default().execute(&call("battery", json!({}))).await;
        assert!(
            r.is_error
                && r.content.contains("unknown tool `battery`")
                && r.content.contains("system_info")
        );
        let r = Tools::default()
            .execute(&call("system_info", json!({"type": "object"})))
            .await;
        assert!(r.is_error && r.content.contains("no arguments"));
    }
}
