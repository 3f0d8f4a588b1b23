//! The browser tools the model sees, each mapped onto one of `@playwright/mcp`'s
//! tools here and nowhere else (the server's names and arguments change between
//! versions: 0.0.83 calls an element `target`, older ones `ref`).
//!
//! | AIOS tool | server tool | trust |
//! |---|---|---|
//! | `navigate` | `browser_navigate` | confirm (names the URL; sends data out) |
//! | `read_page` | `browser_snapshot` | read-only |
//! | `find_element` | `browser_find` | read-only |
//! | `click` | `browser_click` | confirm (names the element) |
//! | `type_text` | `browser_type` | confirm (shows the text) |
//! | `screenshot` | `browser_take_screenshot` | read-only (writes a new PNG file) |
//! | `get_page_text` | `browser_evaluate` (`document.body.innerText`) | read-only |
//!
//! Every action that changes what the page does (open, click, type) is confirmed,
//! as the plan says; reading the page the person already sees changes nothing.
//! Everything a page returns is content ([`Tool::output_is_content`]): it taints
//! the conversation and is cut to the output cap.

use std::sync::Arc;

use aios_common::types::{ToolDefinition, TrustRequirement};
use base64::Engine as _;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{Browser, Page};
use crate::tool::{Assessment, Tool, ToolContext, ToolError, definition_for, parse_args};
use crate::tools::url::UrlArgs;

/// Every browser tool, sharing one browser.
pub fn tools(browser: &Arc<Browser>) -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(Navigate(browser.clone())),
        Arc::new(ReadPage(browser.clone())),
        Arc::new(FindElement(browser.clone())),
        Arc::new(Click(browser.clone())),
        Arc::new(TypeText(browser.clone())),
        Arc::new(Screenshot(browser.clone())),
        Arc::new(GetPageText(browser.clone())),
    ]
}

/// Longest page title AIOS shows or says.
const TITLE_MAX: usize = 80;

/// "Page: Title (url)" for a reply: the line AIOS's browser tools start with,
/// which the agent reads the taint source from.
fn page_header(page: &Page) -> String {
    // A page chooses its title: one line, cut, so it cannot push text of its own
    // onto the line the taint source is read from.
    let title = page.title.as_deref().map(|t| one_line(t, TITLE_MAX));
    match (&title, &page.url) {
        (Some(t), Some(u)) => format!("Page: {t} ({u})"),
        (None, Some(u)) => format!("Page: {u} ({u})"),
        (Some(t), None) => format!("Page: {t}"),
        (None, None) => "Page: none open".into(),
    }
}

/// Whether a call to `name` can change the open page (another address, a form
/// sent by a click or an Enter in a field).
pub fn changes_page(name: &str) -> bool {
    matches!(name, "navigate" | "click" | "type_text")
}

/// Redacts in `shown` (a call's arguments as shown) what may be a secret once the
/// page has changed: after an earlier call of the same round changes the page, a
/// field's kind cannot be asked yet, so `type_text`'s text counts as a password
/// (fail closed; the agent asks the page again when the call's turn comes).
pub fn redact_unjudged(name: &str, shown: &mut Value) {
    if name == "type_text"
        && let Some(text) = shown.get_mut("text")
    {
        *text = Value::String(crate::schema::REDACTED.into());
    }
}

/// The title and address a browser tool's `output` names on its first line
/// ("Page: Title (url)", as [`page_header`] writes it). Only the first line: the
/// page's own text comes after it, and the address is last on it.
pub fn page_named(output: &str) -> Option<(&str, &str)> {
    let line = output.lines().next()?.strip_prefix("Page: ")?;
    let (title, url) = line.rsplit_once(" (")?;
    Some((title.trim(), url.strip_suffix(')')?))
}

/// `text` on one line (whitespace runs as one space), at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect()
}

/// Runs `function` in the open page (on the element `target` names, if any) and
/// returns its value as text (the server writes it as JSON: a string is unquoted),
/// with the page it ran in.
async fn evaluate(
    browser: &Browser,
    function: &str,
    target: Option<&str>,
) -> Result<(String, Page), ToolError> {
    let mut args = json!({ "function": function });
    if let Some(t) = target {
        args["target"] = t.into();
    }
    let r = browser.call("browser_evaluate", args).await?;
    let raw = result(&r.text);
    let value = serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_owned());
    Ok((value, r.page))
}

/// The server's `### Snapshot` section (the page's ARIA tree with element refs),
/// without its code fence.
fn snapshot(text: &str) -> &str {
    let s = text.split("### Snapshot").nth(1).unwrap_or(text);
    let s = s.split("\n### ").next().unwrap_or(s).trim();
    let s = s.strip_prefix("```yaml").unwrap_or(s);
    s.strip_suffix("```").unwrap_or(s).trim()
}

/// The server's `### Result` section.
fn result(text: &str) -> &str {
    let s = text.split("### Result").nth(1).unwrap_or("");
    s.split("\n### ").next().unwrap_or(s).trim()
}

/// `navigate`: opens a page in AIOS's browser.
pub struct Navigate(Arc<Browser>);

#[async_trait::async_trait]
impl Tool for Navigate {
    fn definition(&self) -> ToolDefinition {
        definition_for::<UrlArgs>(
            "navigate",
            "Open a web page in the assistant's browser, to read it or act on it.",
        )
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
    fn spoken(&self, _request: &str, output: &str) -> Option<String> {
        // The page is named, never read out.
        let title = page_named(output)
            .map(|(title, _)| title)
            .filter(|t| !t.is_empty() && !t.starts_with("http"));
        Some(match title {
            Some(t) => format!("I opened {t}."),
            None => "I opened the page.".into(),
        })
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: UrlArgs = parse_args("navigate", args)?;
        let url = crate::tools::url::web_address(&a.url)?;
        let r = self.0.call("browser_navigate", json!({"url": url})).await?;
        Ok(ctx.cap(&page_header(&r.page)))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// `read_page`: the open page's structure with element refs.
pub struct ReadPage(Arc<Browser>);

#[async_trait::async_trait]
impl Tool for ReadPage {
    fn definition(&self) -> ToolDefinition {
        definition_for::<NoArgs>(
            "read_page",
            "The open web page's links, buttons and fields, each with a ref (e12) for click and type_text.",
        )
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::None
    }
    fn describe(&self, _args: &Value) -> String {
        "Read the open web page".into()
    }
    async fn execute(&self, _args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let r = self.0.call("browser_snapshot", json!({})).await?;
        Ok(ctx.cap(&format!("{}\n{}", page_header(&r.page), snapshot(&r.text))))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FindArgs {
    /// Words on or near the element, e.g. "Sign in"
    #[schemars(length(min = 1, max = 200))]
    text: String,
}

/// `find_element`: the elements of the open page that show some text.
pub struct FindElement(Arc<Browser>);

#[async_trait::async_trait]
impl Tool for FindElement {
    fn definition(&self) -> ToolDefinition {
        definition_for::<FindArgs>(
            "find_element",
            "Find elements on the open web page by their text; gives each one's ref for click and type_text.",
        )
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::None
    }
    fn describe(&self, args: &Value) -> String {
        format!(
            "Find \"{}\" on the web page",
            args["text"].as_str().unwrap_or("?")
        )
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: FindArgs = parse_args("find_element", args)?;
        let r = self.0.call("browser_find", json!({"text": a.text})).await?;
        let found = result(&r.text);
        let found = if found.is_empty() {
            snapshot(&r.text)
        } else {
            found
        };
        Ok(ctx.cap(&format!("{}\n{found}", page_header(&r.page))))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ClickArgs {
    /// What the element is, in words, e.g. "the Sign in button"
    #[schemars(length(min = 1, max = 200))]
    element: String,
    /// The element's ref from read_page or find_element, e.g. e12
    #[schemars(length(min = 1, max = 200))]
    target: String,
}

/// What the page itself calls the element `target` names (its role and
/// accessible name or text), for the confirmation prompt: the model's words for
/// it (`element`) are not what decides what is clicked. A target the page cannot
/// find is refused before anyone is asked.
async fn element_as_the_page_names_it(
    browser: &Browser,
    target: &str,
) -> Result<String, ToolError> {
    let (said, _) = evaluate(
        browser,
        "(e) => [e.getAttribute('role') || e.tagName.toLowerCase(), e.type || '', (e.getAttribute('aria-label') || e.innerText || e.value || e.placeholder || e.name || e.id || '').trim()].join(' | ')",
        Some(target),
    )
    .await
    .map_err(|e| ToolError::failed(format!("the page has no element {target}: {e}")))?;
    Ok(one_line(&said, 120))
}

/// `click`: clicks an element of the open page.
pub struct Click(Arc<Browser>);

#[async_trait::async_trait]
impl Tool for Click {
    fn definition(&self) -> ToolDefinition {
        definition_for::<ClickArgs>("click", "Click an element of the open web page.")
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::Confirm
    }
    fn sends_data_out(&self) -> bool {
        true
    }
    fn describe(&self, args: &Value) -> String {
        format!(
            "Click {} ({}) on the web page",
            args["element"].as_str().unwrap_or("?"),
            args["target"].as_str().unwrap_or("?")
        )
    }
    async fn assess(&self, args: &Value, _ctx: &ToolContext) -> Result<Assessment, ToolError> {
        let target = args["target"].as_str().unwrap_or_default();
        let named = element_as_the_page_names_it(&self.0, target).await?;
        Ok(Assessment {
            requirement: TrustRequirement::Confirm,
            notes: vec![format!("the page calls {target}: {named}")],
        })
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: ClickArgs = parse_args("click", args)?;
        let r = self
            .0
            .call(
                "browser_click",
                json!({"element": a.element, "target": a.target}),
            )
            .await?;
        Ok(ctx.cap(&format!("{}\nClicked {}.", page_header(&r.page), a.element)))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TypeArgs {
    /// What the field is, in words, e.g. "the search box"
    #[schemars(length(min = 1, max = 200))]
    element: String,
    /// The field's ref from read_page or find_element, e.g. e12
    #[schemars(length(min = 1, max = 200))]
    target: String,
    /// The text to type
    #[schemars(length(max = 2000))]
    text: String,
    /// Press Enter afterwards (submits a search)
    #[serde(default)]
    submit: bool,
}

/// `type_text`: types into a field of the open page.
pub struct TypeText(Arc<Browser>);

#[async_trait::async_trait]
impl Tool for TypeText {
    fn definition(&self) -> ToolDefinition {
        definition_for::<TypeArgs>("type_text", "Type text into a field of the open web page.")
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::Confirm
    }
    fn sends_data_out(&self) -> bool {
        true
    }
    fn describe(&self, args: &Value) -> String {
        format!(
            "Type \"{}\" into {} ({}){}",
            args["text"].as_str().unwrap_or("?"),
            args["element"].as_str().unwrap_or("?"),
            args["target"].as_str().unwrap_or("?"),
            if args["submit"].as_bool() == Some(true) {
                " and press Enter"
            } else {
                ""
            }
        )
    }
    async fn assess(&self, args: &Value, _ctx: &ToolContext) -> Result<Assessment, ToolError> {
        let target = args["target"].as_str().unwrap_or_default();
        let named = element_as_the_page_names_it(&self.0, target).await?;
        Ok(Assessment {
            requirement: TrustRequirement::Confirm,
            notes: vec![format!("the page calls {target}: {named}")],
        })
    }
    async fn secret_arguments(&self, args: &Value, _ctx: &ToolContext) -> Vec<String> {
        // What the page says the field is; a field it cannot be asked about counts
        // as a password (fail closed: the person sees "[redacted]" at worst).
        let Some(target) = args["target"].as_str() else {
            return vec!["text".into()];
        };
        let kind = evaluate(
            &self.0,
            "(element) => element.type || element.tagName.toLowerCase()",
            Some(target),
        )
        .await
        .map(|(k, _)| k.to_ascii_lowercase());
        // Only a field the page says is a plain kind shows its text; a password,
        // an unknown kind or no answer is a secret.
        match kind {
            Ok(k)
                if [
                    "text", "search", "email", "url", "tel", "number", "textarea",
                ]
                .contains(&k.as_str()) =>
            {
                Vec::new()
            }
            _ => vec!["text".into()],
        }
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: TypeArgs = parse_args("type_text", args)?;
        let r = self
            .0
            .call(
                "browser_type",
                json!({"element": a.element, "target": a.target, "text": a.text, "submit": a.submit}),
            )
            .await?;
        Ok(ctx.cap(&format!(
            "{}\nTyped into {}.",
            page_header(&r.page),
            a.element
        )))
    }
}

/// `screenshot`: a PNG of the open page, saved under ~/Pictures.
pub struct Screenshot(Arc<Browser>);

#[async_trait::async_trait]
impl Tool for Screenshot {
    fn definition(&self) -> ToolDefinition {
        definition_for::<NoArgs>(
            "screenshot",
            "Save a picture of the open web page in ~/Pictures.",
        )
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::None
    }
    fn describe(&self, _args: &Value) -> String {
        "Take a picture of the web page".into()
    }
    fn spoken(&self, _request: &str, _output: &str) -> Option<String> {
        Some("I saved a picture of the page in your Pictures folder.".into())
    }
    async fn execute(&self, _args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let r = self
            .0
            .call(
                "browser_take_screenshot",
                json!({"type": "png", "scale": "css"}),
            )
            .await?;
        let (_, data) = r
            .images
            .iter()
            .find(|(mime, _)| mime == "image/png")
            .ok_or_else(|| ToolError::failed("the browser returned no picture"))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| ToolError::failed(format!("the browser's picture is not base64: {e}")))?;
        let dir = ctx.home.join("Pictures");
        let name = format!(
            "web-page-{}.png",
            chrono::Local::now().format("%Y-%m-%d-%H%M%S%.3f")
        );
        let path = dir.join(name);
        let saved = match tokio::fs::create_dir_all(&dir).await {
            Ok(()) => tokio::fs::write(&path, &png).await,
            Err(e) => Err(e),
        };
        saved.map_err(|e| ToolError::failed(format!("cannot save {}: {e}", path.display())))?;
        Ok(format!(
            "{}\nSaved a picture of the page to {} ({} bytes).",
            page_header(&r.page),
            path.display(),
            png.len()
        ))
    }
}

/// `get_page_text`: the open page's visible text.
pub struct GetPageText(Arc<Browser>);

#[async_trait::async_trait]
impl Tool for GetPageText {
    fn definition(&self) -> ToolDefinition {
        definition_for::<NoArgs>("get_page_text", "The visible text of the open web page.")
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::None
    }
    fn describe(&self, _args: &Value) -> String {
        "Read the web page's text".into()
    }
    async fn execute(&self, _args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let (text, page) = evaluate(
            &self.0,
            "() => document.body ? document.body.innerText : ''",
            None,
        )
        .await?;
        Ok(ctx.cap(&format!("{}\n{}", page_header(&page), text.trim())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_after_the_page_changes_is_redacted_until_judged() {
        assert!(changes_page("navigate") && changes_page("click") && changes_page("type_text"));
        assert!(!changes_page("read_page") && !changes_page("screenshot"));
        let mut shown = serde_json::json!({"target": "e12", "text": "hunter2"});
        redact_unjudged("type_text", &mut shown);
        assert_eq!(shown["text"], crate::schema::REDACTED);
        assert_eq!(shown["target"], "e12");
        let mut other = serde_json::json!({"url": "https://example.org/"});
        redact_unjudged("navigate", &mut other);
        assert_eq!(other["url"], "https://example.org/");
    }

    fn berlin() -> Page {
        Page {
            url: Some("http://127.0.0.1:8000/".into()),
            title: Some("Weather in Berlin".into()),
        }
    }

    #[test]
    fn the_page_is_named_in_the_first_line() {
        assert_eq!(
            page_header(&berlin()),
            "Page: Weather in Berlin (http://127.0.0.1:8000/)"
        );
        assert_eq!(page_header(&Page::default()), "Page: none open");
    }

    #[test]
    fn the_snapshot_and_result_sections_are_cut_out() {
        let t = "### Page\n- Page URL: x\n### Snapshot\n```yaml\n- button \"Go\" [ref=e3]\n```\n### Events\n- none";
        assert_eq!(snapshot(t), "- button \"Go\" [ref=e3]");
        let t = "### Result\n\"Hello\\nworld\"\n### Page\n- Page URL: x";
        assert_eq!(result(t), "\"Hello\\nworld\"");
    }

    #[test]
    fn navigate_names_the_page_it_opened_and_never_reads_it() {
        let b = Browser::new(super::super::BrowserConfig::detect());
        let n = Navigate(b);
        let said = n.spoken("open the weather for Berlin", &page_header(&berlin()));
        assert_eq!(said.as_deref(), Some("I opened Weather in Berlin."));
        assert_eq!(
            n.describe(&json!({"url": "https://example.com"})),
            "Open https://example.com in the browser"
        );
    }
}
