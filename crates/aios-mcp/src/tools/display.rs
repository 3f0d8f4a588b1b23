//! `brightness`: the backlight through sysfs when it is writable, else logind's
//! `SetBrightness` (which lets a desktop user change it without root).

use std::path::{Path, PathBuf};

use aios_common::types::{ToolDefinition, TrustRequirement};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::tool::{Tool, ToolContext, ToolError, definition_for, parse_args};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LevelArgs {
    /// Percent
    #[schemars(range(min = 0, max = 100))]
    pub(crate) level: u8,
}

/// `brightness`: sets the screen brightness in percent.
#[derive(Debug, Default)]
pub struct Brightness;

#[async_trait::async_trait]
impl Tool for Brightness {
    fn definition(&self) -> ToolDefinition {
        definition_for::<LevelArgs>("brightness", "Set the screen brightness.")
    }
    fn output_is_content(&self) -> bool {
        false
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::Confirm
    }
    fn describe(&self, args: &Value) -> String {
        format!("Set the screen brightness to {}%", args["level"])
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: LevelArgs = parse_args("brightness", args)?;
        let dev = first_device(&ctx.backlight_root)?;
        let name = dev
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let max: u32 = std::fs::read_to_string(dev.join("max_brightness"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|&m| m > 0)
            .ok_or_else(|| {
                ToolError::failed(format!("{} has no readable max_brightness", dev.display()))
            })?;
        let raw = (u32::from(a.level) * max).div_ceil(100);
        match std::fs::write(dev.join("brightness"), raw.to_string()) {
            Ok(()) => Ok(format!(
                "Brightness set to {}% ({raw} of {max} on {name})",
                a.level
            )),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                logind_set(ctx, &name, raw).await?;
                Ok(format!(
                    "Brightness set to {}% through logind ({raw} of {max} on {name})",
                    a.level
                ))
            }
            Err(e) => Err(ToolError::failed(format!(
                "cannot set {}: {e}",
                dev.display()
            ))),
        }
    }
}

fn first_device(root: &Path) -> Result<PathBuf, ToolError> {
    let mut devs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| ToolError::failed(format!("no backlight here ({}: {e})", root.display())))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("max_brightness").exists())
        .collect();
    devs.sort();
    devs.into_iter()
        .next()
        .ok_or_else(|| ToolError::failed("this screen has no adjustable backlight"))
}

async fn logind_set(ctx: &ToolContext, name: &str, raw: u32) -> Result<(), ToolError> {
    let conn = ctx.system_bus().await?;
    conn.call_method(
        Some("org.freedesktop.login1"),
        "/org/freedesktop/login1/session/auto",
        Some("org.freedesktop.login1.Session"),
        "SetBrightness",
        &("backlight", name, raw),
    )
    .await
    .map(|_| ())
    .map_err(|e| {
        ToolError::failed(format!(
            "the backlight is not writable and logind refused: {e}"
        ))
    })
}
