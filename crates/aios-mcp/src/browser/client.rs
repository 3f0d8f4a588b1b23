//! The MCP client of the browser: `@playwright/mcp` over stdio, driving Debian's
//! Chromium. Started on the first browser call (node and a browser cost ~150 MB
//! that a person who never browses should not pay), started again when it died,
//! and killed with its whole process group (node's browser children included) when
//! AIOS stops.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use process_wrap::tokio::{CommandWrap, ProcessGroup};
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock, JsonObject};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use crate::ToolError;

/// The pinned `@playwright/mcp` (`make setup` installs it into `.local/playwright-mcp`):
/// 0.0.83 starts the system Chromium given `--executable-path`, offline.
pub const PLAYWRIGHT_MCP_VERSION: &str = "0.0.83";

/// Where the browser's MCP server and the browser are, and how they start.
#[derive(Debug, Clone)]
pub struct BrowserConfig {
    /// Node.js.
    pub node: PathBuf,
    /// `@playwright/mcp`'s `cli.js`.
    pub server: PathBuf,
    /// The browser the server drives.
    pub chromium: PathBuf,
    /// No window (set when there is no display, and in tests).
    pub headless: bool,
    /// Where the server writes screenshots and page snapshots.
    pub output_dir: PathBuf,
    /// Longest wait for one browser call (a page load included).
    pub call_timeout: Duration,
    /// Run Chromium without its sandbox: only for tests that run as root (CI),
    /// where Chromium refuses its sandbox; set by `AIOS_BROWSER_NO_SANDBOX=1`.
    pub no_sandbox: bool,
}

impl BrowserConfig {
    /// The standard places: `node` and `chromium` on the PATH (else Debian's
    /// paths), the server under `$AIOS_PLAYWRIGHT_MCP` or the installed
    /// `/usr/share/aios/playwright-mcp`, else the checkout's `.local/playwright-mcp`;
    /// headless without a Wayland or X display.
    pub fn detect() -> Self {
        let root = std::env::var_os("AIOS_PLAYWRIGHT_MCP")
            .map(PathBuf::from)
            .or_else(|| {
                let shared = PathBuf::from("/usr/share/aios/playwright-mcp");
                shared.is_dir().then_some(shared)
            })
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local/playwright-mcp")
            });
        let display =
            std::env::var_os("WAYLAND_DISPLAY").is_some() || std::env::var_os("DISPLAY").is_some();
        Self {
            node: which("node").unwrap_or_else(|| "/usr/bin/node".into()),
            server: root.join("node_modules/@playwright/mcp/cli.js"),
            chromium: which("chromium").unwrap_or_else(|| "/usr/bin/chromium".into()),
            headless: !display,
            // Screenshots and snapshots of pages the person may be logged in to:
            // a folder of the person's own (created 0700 on start).
            output_dir: std::env::var_os("XDG_RUNTIME_DIR")
                .map_or_else(std::env::temp_dir, PathBuf::from)
                .join(format!("aios-browser-{}", std::process::id())),
            call_timeout: Duration::from_secs(60),
            no_sandbox: std::env::var_os("AIOS_BROWSER_NO_SANDBOX").is_some_and(|v| v == "1"),
        }
    }

    /// Why the browser cannot start, with the command that fixes it; `None` when
    /// everything it needs is there.
    pub fn missing(&self) -> Option<String> {
        if !self.node.is_file() {
            return Some(format!(
                "Node.js is missing ({}); install it (`make setup` or `apt install nodejs`)",
                self.node.display()
            ));
        }
        if !self.server.is_file() {
            return Some(format!(
                "the browser's MCP server is missing ({}); install it with `make setup`",
                self.server.display()
            ));
        }
        if !self.chromium.is_file() {
            return Some(format!(
                "Chromium is missing ({}); install it (`make setup` or `apt install chromium`)",
                self.chromium.display()
            ));
        }
        None
    }
}

/// Removes the `aios-browser-<pid>` folders beside `ours` that an agent which
/// could not clean up (killed, crashed) left: page snapshots and screenshots of
/// what it browsed. Only folders of this user whose process is gone.
fn remove_stale_output_dirs(ours: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Some(parent) = ours.parent() else { return };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let uid = nix::unistd::geteuid().as_raw();
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("aios-browser-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        let mine = e
            .metadata()
            .is_ok_and(|m| m.is_dir() && !m.file_type().is_symlink() && m.uid() == uid);
        if path != ours && mine && !alive {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// What a browser call returned: its text (the server's markdown sections) and
/// any images (base64 with their MIME type), and the page it concerns.
#[derive(Debug, Default)]
pub struct PageResult {
    /// The text parts, joined.
    pub text: String,
    /// `(mime type, base64 data)` of each image part.
    pub images: Vec<(String, String)>,
    /// The open page's address and title: from this reply, else the last reply
    /// that named them (a script's result does not).
    pub page: Page,
}

/// The page the browser shows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Page {
    /// Its address.
    pub url: Option<String>,
    /// Its title.
    pub title: Option<String>,
}

impl Page {
    /// The `- Page URL:` and `- Page Title:` lines of a server reply's `### Page`
    /// section (only there: the page's console messages come earlier and say what
    /// the page wants).
    fn from_reply(text: &str) -> Self {
        let section = text
            .split("### Page\n")
            .nth(1)
            .map_or("", |s| s.split("\n### ").next().unwrap_or(s));
        let line = |key: &str| {
            section
                .lines()
                .find_map(|l| l.trim().strip_prefix(key))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Self {
            url: line("- Page URL:"),
            title: line("- Page Title:"),
        }
    }
}

/// The browser's MCP server, started on first use.
pub struct Browser {
    config: BrowserConfig,
    session: Mutex<Option<RunningService<RoleClient, ()>>>,
    /// The page the last reply named.
    page: std::sync::Mutex<Page>,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// A browser that starts on its first call.
    pub fn new(config: BrowserConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            session: Mutex::new(None),
            page: std::sync::Mutex::new(Page::default()),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &BrowserConfig {
        &self.config
    }

    async fn start(&self) -> Result<RunningService<RoleClient, ()>, ToolError> {
        if let Some(why) = self.config.missing() {
            return Err(ToolError::failed(why));
        }
        let c = &self.config;
        if nix::unistd::geteuid().is_root() && !c.no_sandbox {
            return Err(ToolError::failed(
                "the browser does not run as root: Chromium's sandbox refuses root, and untrusted pages must not run without it; run AIOS as your user",
            ));
        }
        remove_stale_output_dirs(&c.output_dir);
        {
            use std::os::unix::fs::DirBuilderExt;
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&c.output_dir);
        }
        let mut cmd = tokio::process::Command::new(&c.node);
        cmd.arg(&c.server)
            .args(["--browser", "chromium", "--executable-path"])
            .arg(&c.chromium)
            // A fresh profile in memory: no cookies or logins of the person's own
            // browser reach a page the model opened.
            .args(["--isolated", "--codegen", "none", "--output-dir"])
            .arg(&c.output_dir)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        if c.headless {
            cmd.arg("--headless");
        }
        if c.no_sandbox {
            cmd.arg("--no-sandbox");
        }
        let mut wrapped = CommandWrap::from(cmd);
        // Its own process group: stopping it stops node and every browser process.
        wrapped.wrap(ProcessGroup::leader());
        let (transport, _stderr) = TokioChildProcess::builder(wrapped)
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| {
                ToolError::failed(format!(
                    "cannot start the browser's MCP server ({}): {e}",
                    c.node.display()
                ))
            })?;
        let session = tokio::time::timeout(Duration::from_secs(30), ().serve(transport))
            .await
            .map_err(|_| ToolError::failed("the browser's MCP server did not answer within 30 s"))?
            .map_err(|e| {
                ToolError::failed(format!(
                    "the browser's MCP server stopped while starting ({e}); run `make setup`"
                ))
            })?;
        info!(server = %c.server.display(), "browser MCP server started");
        Ok(session)
    }

    /// Calls one of the server's tools, starting the server first when it is not
    /// running (or died). A result the server marks as an error is a failure with
    /// its message.
    pub async fn call(&self, tool: &str, args: Value) -> Result<PageResult, ToolError> {
        let mut guard = self.session.lock().await;
        if guard.as_ref().is_some_and(|s| s.is_transport_closed()) {
            warn!("the browser's MCP server had stopped; starting it again");
            *guard = None;
        }
        if guard.is_none() {
            *guard = Some(self.start().await?);
            // A new browser shows no page yet.
            *self.page.lock().unwrap_or_else(|e| e.into_inner()) = Page::default();
        }
        let session = guard
            .as_ref()
            .ok_or_else(|| ToolError::failed("no browser"))?;
        let arguments: JsonObject = match args {
            Value::Object(m) => m,
            _ => JsonObject::new(),
        };
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        debug!(tool, "browser call");
        let Ok(result) =
            tokio::time::timeout(self.config.call_timeout, session.call_tool(params)).await
        else {
            // A page that hangs the browser (a script that never ends) would make
            // every later call wait as long: the next one starts a fresh browser.
            *guard = None;
            return Err(ToolError::failed(format!(
                "the browser did not finish `{tool}` within {} s; it was stopped",
                self.config.call_timeout.as_secs()
            )));
        };
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                // The server is gone or confused: the next call starts a new one.
                *guard = None;
                return Err(ToolError::failed(format!("the browser stopped: {e}")));
            }
        };
        drop(guard);
        let mut r = page_result(tool, result)?;
        let named = Page::from_reply(&r.text);
        let mut last = self.page.lock().unwrap_or_else(|e| e.into_inner());
        if named.url.is_some() {
            *last = named;
        }
        r.page = last.clone();
        Ok(r)
    }

    /// Stops the server and its browser (also done when AIOS exits: the process
    /// group is killed when the transport drops).
    pub async fn stop(&self) {
        if let Some(s) = self.session.lock().await.take() {
            let _ = s.cancel().await;
        }
        let _ = std::fs::remove_dir_all(&self.config.output_dir);
    }
}

fn page_result(tool: &str, r: CallToolResult) -> Result<PageResult, ToolError> {
    let mut out = PageResult::default();
    for c in r.content {
        match c {
            ContentBlock::Text(t) => {
                if !out.text.is_empty() {
                    out.text.push('\n');
                }
                out.text.push_str(&t.text);
            }
            ContentBlock::Image(i) => out.images.push((i.mime_type, i.data)),
            _ => {}
        }
    }
    if r.is_error == Some(true) {
        let msg = out
            .text
            .trim()
            .trim_start_matches("### Error")
            .trim()
            .to_owned();
        return Err(ToolError::failed(format!(
            "the browser's `{tool}` failed: {msg}"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_of_agents_that_are_gone_are_removed_and_no_others() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = |n: &str| {
            let p = tmp.path().join(n);
            std::fs::create_dir(&p).expect("mkdir");
            std::fs::write(p.join("page.yml"), "snapshot").expect("write");
            p
        };
        // Above any pid_max: never a running process.
        let gone = dir("aios-browser-999999999");
        let running = dir(&format!("aios-browser-{}", std::process::id()));
        let other = dir("aios-browser-notes");
        let ours = tmp.path().join("aios-browser-1");
        remove_stale_output_dirs(&ours);
        assert!(!gone.exists());
        assert!(running.exists() && other.exists());
    }
}
