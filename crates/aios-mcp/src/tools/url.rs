//! `open_url`: a web address in the person's browser through `xdg-open`.

use aios_common::types::{ToolDefinition, TrustRequirement};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::tool::{Tool, ToolContext, ToolError, definition_for, parse_args};

/// A web address (`open_url`, the browser's `navigate`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UrlArgs {
    /// Full address, e.g. https://example.com
    #[schemars(length(min = 1, max = 2048))]
    pub(crate) url: String,
}

/// `url` trimmed, when it is an http or https address with no whitespace in it;
/// anything else (file:, javascript:, a program handler) is refused.
pub(crate) fn web_address(url: &str) -> Result<&str, ToolError> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://"))
        || url.chars().any(char::is_whitespace)
    {
        return Err(ToolError::failed(format!(
            "only http:// and https:// addresses can be opened, not \"{url}\""
        )));
    }
    Ok(url)
}

/// `open_url`: http and https only; anything else (file:, javascript:, a program
/// handler) is refused, because `xdg-open` would hand it to whatever claims it.
#[derive(Debug, Default)]
pub struct OpenUrl;

#[async_trait::async_trait]
impl Tool for OpenUrl {
    fn definition(&self) -> ToolDefinition {
        definition_for::<UrlArgs>("open_url", "Open a web page in the browser.")
    }
    fn output_is_content(&self) -> bool {
        false
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::Confirm
    }
    fn sends_data_out(&self) -> bool {
        true
    }
    fn describe(&self, args: &Value) -> String {
        format!(
            "Open {} in the browser",
            args["url"].as_str().unwrap_or("?")
        )
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: UrlArgs = parse_args("open_url", args)?;
        let url = web_address(&a.url)?;
        let out = ctx
            .command("xdg-open")
            .arg(url)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| {
                ToolError::failed(format!(
                    "cannot run xdg-open ({e}); install xdg-utils (`make setup`)"
                ))
            })?;
        if out.status.success() {
            Ok(format!("Opened {url}"))
        } else {
            Err(ToolError::failed(format!(
                "xdg-open could not open {url}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}
