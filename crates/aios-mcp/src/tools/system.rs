//! `system_info`: the local time, CPU, memory, disk, battery and uptime.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use aios_common::types::{ToolDefinition, TrustRequirement};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::tool::{Tool, ToolContext, ToolError, definition_for};
use crate::tools::spoken::{any, gigabytes, words};

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
    fn spoken(&self, request: &str, output: &str) -> Option<String> {
        spoken_report(request, output)
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

/// The lines of the report the person asked about, as sentences; `None` when the
/// request names none of them (the model then says what matters).
fn spoken_report(request: &str, output: &str) -> Option<String> {
    let w = words(request);
    let field = |label: &str| {
        output.lines().find_map(|l| {
            let (k, v) = l.split_once(": ")?;
            (k == label || k.starts_with(&format!("{label} ("))).then(|| v.trim())
        })
    };
    let long_on = any(&w, &["long"]) && any(&w, &["up", "on", "running"]);
    let slow = any(
        &w,
        &["slow", "sluggish", "laggy", "lagging", "busy", "load"],
    );
    let mut said = Vec::new();
    if any(
        &w,
        &[
            "time", "date", "day", "today", "clock", "month", "year", "weekday",
        ],
    ) && let Some(v) = field("Local time")
    {
        said.push(format!("It's {v}."));
    }
    if (slow || any(&w, &["cpu", "processor", "cores"]))
        && let Some(v) = field("CPU")
    {
        // "2 cores, load average 0.61 (1 min)"
        let cores = v.split(" cores").next().unwrap_or("?");
        let load = v
            .split("load average ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("?");
        said.push(format!(
            "The processor load is {load} on {cores} cores{}.",
            match (load.parse::<f64>(), cores.parse::<f64>()) {
                (Ok(l), Ok(c)) if l > c => ", so it is busy",
                (Ok(_), Ok(_)) => ", so it is not overloaded",
                _ => "",
            }
        ));
    }
    if (slow || any(&w, &["memory", "ram"]))
        && let Some((free, total)) = field("Memory").and_then(of_free)
    {
        said.push(format!(
            "{} of {} of memory is free.",
            gigabytes(free),
            gigabytes(total)
        ));
    }
    if any(
        &w,
        &["disk", "drive", "storage", "space", "full", "ssd", "hdd"],
    ) && let Some((free, total)) = field("Disk").and_then(of_free)
    {
        said.push(format!(
            "{} of {} of disk space is free.",
            gigabytes(free),
            gigabytes(total)
        ));
    }
    if any(
        &w,
        &[
            "battery",
            "power",
            "charge",
            "charged",
            "charging",
            "plugged",
            "unplugged",
        ],
    ) && let Some(v) = field("Battery")
    {
        said.push(match v.split_once(" (") {
            Some((pct, state)) => format!(
                "The battery is at {pct} and {}.",
                state.trim_end_matches(')')
            ),
            None if v == "none found" => "This computer has no battery.".to_owned(),
            None => format!("The battery is at {v}."),
        });
    }
    if (long_on
        || any(
            &w,
            &["uptime", "reboot", "rebooted", "restart", "restarted"],
        ))
        && let Some(v) = field("Uptime")
    {
        // "5h 46m"
        let hm: Vec<&str> = v.split_whitespace().collect();
        let (h, m) = match hm.as_slice() {
            [h, m] => (h.trim_end_matches('h'), m.trim_end_matches('m')),
            _ => (v, ""),
        };
        said.push(if m.is_empty() {
            format!("The computer has been up for {v}.")
        } else {
            format!("The computer has been up for {h} hours and {m} minutes.")
        });
    }
    (!said.is_empty()).then(|| said.join(" "))
}

/// "3.1 GiB of 7.7 GiB free" -> ("3.1 GiB", "7.7 GiB").
fn of_free(v: &str) -> Option<(&str, &str)> {
    let (free, rest) = v.split_once(" of ")?;
    Some((free, rest.strip_suffix(" free")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Local time: Saturday 5 December 2026, 17:20\nCPU: 2 cores, load average 0.61 (1 min)\nMemory: 3.1 GiB of 7.7 GiB free\nDisk (/home/ada): 41.6 GiB of 98.0 GiB free\nUptime: 5h 46m\nBattery: 87% (discharging)";

    #[test]
    fn the_part_asked_about_is_said() {
        let say = |q: &str| spoken_report(q, REPORT);
        assert_eq!(
            say("what day is it today").as_deref(),
            Some("It's Saturday 5 December 2026, 17:20.")
        );
        assert_eq!(
            say("am I going to run out of power soon").as_deref(),
            Some("The battery is at 87% and discharging.")
        );
        assert_eq!(
            say("is my hard drive getting full").as_deref(),
            Some("42 gigabytes of 98 gigabytes of disk space is free.")
        );
        assert_eq!(
            say("how long has this machine been up").as_deref(),
            Some("The computer has been up for 5 hours and 46 minutes.")
        );
        assert_eq!(
            say("why is this computer so slow right now").as_deref(),
            Some(
                "The processor load is 0.61 on 2 cores, so it is not overloaded. 3.1 gigabytes of 7.7 gigabytes of memory is free."
            )
        );
        // Nothing named: the model picks what matters.
        assert_eq!(say("give me a status report"), None);
    }

    #[test]
    fn no_battery_is_said_plainly() {
        let out = "Local time: Monday 1 June 2026, 09:00\nBattery: none found";
        assert_eq!(
            spoken_report("how much battery is left", out).as_deref(),
            Some("This computer has no battery.")
        );
    }
}
