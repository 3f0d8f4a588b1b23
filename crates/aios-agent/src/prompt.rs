//! The system prompt: `system_prompt.txt` (built in), or the file the config names.

use std::path::Path;

/// The built-in prompt, installed with the binaries.
pub const DEFAULT_SYSTEM_PROMPT: &str = include_str!("../system_prompt.txt");

/// Loads the prompt and fills in `{home}`. The result stays the same for the
/// agent's whole run, so the local model's KV cache keeps it.
pub fn load(path: Option<&Path>) -> Result<String, std::io::Error> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p)?,
        None => DEFAULT_SYSTEM_PROMPT.to_owned(),
    };
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    Ok(text
        .replace("{home}", home.trim_end_matches('/'))
        .trim()
        .to_owned())
}
