//! `volume`: the default PipeWire sink through `wpctl`.

use aios_common::types::{ToolDefinition, TrustRequirement};
use serde_json::Value;

use super::display::LevelArgs;
use crate::tool::{Tool, ToolContext, ToolError, definition_for, parse_args};

const SINK: &str = "@DEFAULT_AUDIO_SINK@";

/// `volume`: sets the output volume in percent; 0 mutes.
#[derive(Debug, Default)]
pub struct Volume;

async fn wpctl(ctx: &ToolContext, args: &[&str]) -> Result<String, ToolError> {
    let out = ctx
        .command("wpctl")
        .args(args)
        .output()
        .await
        .map_err(|e| {
            ToolError::failed(format!(
                "cannot run wpctl ({e}); install wireplumber (`make setup`)"
            ))
        })?;
    if !out.status.success() {
        return Err(ToolError::failed(format!(
            "wpctl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[async_trait::async_trait]
impl Tool for Volume {
    fn definition(&self) -> ToolDefinition {
        let mut d = definition_for::<LevelArgs>("volume", "Set the sound volume.");
        d.parameters["properties"]["level"]["description"] = "Percent; 0 mutes".into();
        d
    }
    fn output_is_content(&self) -> bool {
        false
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::Confirm
    }
    fn describe(&self, args: &Value) -> String {
        format!("Set the volume to {}%", args["level"])
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: LevelArgs = parse_args("volume", args)?;
        let vol = format!("{:.2}", f32::from(a.level) / 100.0);
        wpctl(ctx, &["set-volume", SINK, &vol]).await?;
        wpctl(
            ctx,
            &["set-mute", SINK, if a.level == 0 { "1" } else { "0" }],
        )
        .await?;
        // Read back what PipeWire now reports, so the answer is the real state.
        let now = wpctl(ctx, &["get-volume", SINK]).await?;
        Ok(format!(
            "Volume set to {}% (PipeWire reports \"{now}\")",
            a.level
        ))
    }
}
