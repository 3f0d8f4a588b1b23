//! `system_info`: the local time, CPU, memory, disk, battery and uptime.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use aios_common::types::{ToolDefinition, TrustRequirement};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::tool::{Tool, ToolContext, ToolError, definition_for};

const UPOWER: &str = "org.freedesktop.UPower";
const DISPLAY_DEVICE: &str = "/org/freedesktop/UPower/devices/DisplayDevice";
const UPOWER_DEVICE: &str = "org.freedesktop.UPower.Device";
/// A system bus that does not answer must not hold up the report.
const UPOWER_WAIT: Duration = Duration::from_secs(2);

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// `system_info`: reads /proc, statvfs and UPower (sysfs when UPower is absent).
#[derive(Debug, Default)]
pub struct SystemInfo;

#[async_trait::async_trait]
impl Tool for SystemInfo {
    fn definition(&self) -> ToolDefinition {
        definition_for::<NoArgs>(
            "system_info",
            "Report the local date and time, CPU load, memory, disk space, battery and uptime of this computer.",
        )
    }
    fn output_is_content(&self) -> bool {
        false
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::None
    }
    fn describe(&self, _args: &Value) -> String {
        "Report system information".into()
    }
    async fn execute(&self, _args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let battery = match tokio::time::timeout(UPOWER_WAIT, upower_battery(ctx)).await {
            Ok(Some(b)) => Some(b),
            _ => sysfs_battery(&ctx.power_supply_root),
        };
        let home = ctx.home.clone();
        let mut out = tokio::task::spawn_blocking(move || basics(&home))
            .await
            .map_err(|e| ToolError::failed(format!("system_info stopped: {e}")))?;
        // Said outright: a small model told nothing about a battery makes one up.
        let _ = writeln!(
            out,
            "Battery: {}",
            battery.as_deref().unwrap_or("none found")
        );
        let out = out.trim_end().to_owned();
        if out.is_empty() {
            return Err(ToolError::failed("no system information is readable here"));
        }
        Ok(out)
    }
}

/// "87% (discharging)" from UPower's display device, if there is a battery.
async fn upower_battery(ctx: &ToolContext) -> Option<String> {
    let conn = ctx.system_bus().await.ok()?;
    let p = ToolContext::proxy(&conn, UPOWER, DISPLAY_DEVICE.into(), UPOWER_DEVICE)
        .await
        .ok()?;
    if !p.get_property::<bool>("IsPresent").await.ok()? {
        return None;
    }
    let pct: f64 = p.get_property("Percentage").await.ok()?;
    let state = match p.get_property::<u32>("State").await.unwrap_or(0) {
        1 => "charging",
        2 => "discharging",
        3 => "empty",
        4 => "fully charged",
        5 => "pending charge",
        6 => "pending discharge",
        _ => "unknown",
    };
    Some(format!("{pct:.0}% ({state})"))
}

fn sysfs_battery(root: &Path) -> Option<String> {
    for entry in std::fs::read_dir(root).ok()?.flatten() {
        let p = entry.path();
        let read = |f: &str| std::fs::read_to_string(p.join(f)).map(|s| s.trim().to_owned());
        if read("type").is_ok_and(|t| t == "Battery")
            && let (Ok(cap), Ok(status)) = (read("capacity"), read("status"))
        {
            return Some(format!("{cap}% ({})", status.to_lowercase()));
        }
    }
    None
}

fn basics(home: &Path) -> String {
    let mut out = String::new();
    // Models do not know the time: asked, they make one up.
    let _ = writeln!(
        out,
        "Local time: {}",
        chrono::Local::now().format("%A %-d %B %Y, %H:%M")
    );
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
    if let Ok(fs) = nix::sys::statvfs::statvfs(home) {
        let block = fs.fragment_size();
        let _ = writeln!(
            out,
            "Disk ({}): {} of {} free",
            home.display(),
            gib(fs.blocks_available() * block),
            gib(fs.blocks() * block)
        );
    }
    if let Some(secs) = std::fs::read_to_string("/proc/uptime").ok().and_then(|u| {
        u.split_whitespace()
            .next()
            .and_then(|s| s.parse::<f64>().ok())
    }) {
        let d = Duration::from_secs_f64(secs).as_secs();
        let _ = writeln!(out, "Uptime: {}h {}m", d / 3600, (d % 3600) / 60);
    }
    out
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}
