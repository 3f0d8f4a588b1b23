//! The browser tools against the real thing: `@playwright/mcp` (installed by
//! `make setup`) driving Debian's Chromium, headless, on a page served on
//! 127.0.0.1 by this test.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aios_mcp::browser::{self, Browser, BrowserConfig};
use aios_mcp::{ToolContext, ToolExecutor, ToolRegistry};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PAGE: &str = r#"<!doctype html>
<html><head><title>AIOS test page</title></head>
<body style="background:#fff">
<h1 style="color:#036">Weather in Berlin</h1>
<p>Sunny, twenty-one degrees.</p>
<button onclick="document.getElementById('said').textContent = 'The button was pressed.'">Say hello</button>
<p id="said">Nobody pressed it yet.</p>
<label for="name">Your name</label>
<input id="name" oninput="document.getElementById('echo').textContent = 'You typed: ' + this.value">
<p id="echo">You typed nothing.</p>
<label for="pw">Password</label>
<input id="pw" type="password">
</body></html>"#;

/// Serves `PAGE` on 127.0.0.1 to any request; returns its address.
async fn serve_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let body = PAGE.as_bytes();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body).await;
            });
        }
    });
    format!("http://{addr}/")
}

fn config(out: &std::path::Path) -> BrowserConfig {
    let mut c = BrowserConfig::detect();
    c.headless = true;
    c.output_dir = out.join("browser-out");
    c.call_timeout = Duration::from_secs(90);
    // Chromium refuses its sandbox as root (CI); the agent never runs as root.
    c.no_sandbox = nix::unistd::geteuid().is_root();
    c
}

fn executor(browser: &Arc<Browser>, home: PathBuf) -> ToolExecutor {
    let mut reg = ToolRegistry::new();
    browser::register(&mut reg, browser);
    ToolExecutor::new(reg, ToolContext::new(home), Duration::from_secs(120))
}

/// The `[ref=eN]` of the first line of `found` that mentions `what`.
fn ref_of(found: &str, what: &str) -> String {
    let line = found
        .lines()
        .find(|l| l.contains(what) && l.contains("[ref="))
        .unwrap_or_else(|| panic!("no element with {what:?} and a ref in:\n{found}"));
    let at = line.find("[ref=").expect("ref") + 5;
    line[at..].split(']').next().expect("ref end").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_navigates_reads_clicks_types_and_takes_a_picture() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let browser = Browser::new(config(tmp.path()));
    assert_eq!(
        browser.config().missing(),
        None,
        "the browser's parts are installed by `make setup`"
    );
    let ex = executor(&browser, tmp.path().to_path_buf());
    let url = serve_page().await;

    let opened = ex
        .execute("navigate", json!({"url": url}))
        .await
        .expect("navigate");
    assert!(opened.contains("AIOS test page"), "{opened}");
    assert!(opened.contains(&url), "{opened}");

    let text = ex.execute("get_page_text", json!({})).await.expect("text");
    assert!(text.contains("Sunny, twenty-one degrees."), "{text}");
    assert!(text.contains("Nobody pressed it yet."), "{text}");

    let page = ex.execute("read_page", json!({})).await.expect("read");
    assert!(page.contains("Weather in Berlin"), "{page}");
    let found = ex
        .execute("find_element", json!({"text": "Say hello"}))
        .await
        .expect("find");
    let button = ref_of(&found, "Say hello");
    // The prompt says what the page calls the target, whatever the model called it.
    let click = json!({"element": "the Close button", "target": button});
    let (_, assessed) = ex.check("click", &click).await.expect("assess");
    assert!(
        assessed.notes.iter().any(|n| n.contains("Say hello")),
        "{assessed:?}"
    );
    let Err(e) = ex
        .check("click", &json!({"element": "x", "target": "e999"}))
        .await
    else {
        panic!("a click on an element the page lacks was assessed");
    };
    assert!(e.to_string().contains("no element e999"), "{e}");
    ex.execute("click", click).await.expect("click");
    let text = ex.execute("get_page_text", json!({})).await.expect("text");
    assert!(text.contains("The button was pressed."), "{text}");

    let field = ref_of(&page, "Your name");
    ex.execute(
        "type_text",
        json!({"element": "the name field", "target": field, "text": "Ada Lovelace"}),
    )
    .await
    .expect("type");
    let text = ex.execute("get_page_text", json!({})).await.expect("text");
    assert!(text.contains("You typed: Ada Lovelace"), "{text}");

    // A password field's text is a secret for everything but the tool; the name
    // field's is not.
    let pw = ref_of(&page, "Password");
    let typed = json!({"element": "the password field", "target": pw, "text": "hunter2"});
    let shown = ex.redacted("type_text", &typed).await;
    assert_eq!(shown["text"], aios_mcp::REDACTED, "{shown}");
    let named = json!({"element": "the name field", "target": field, "text": "Ada"});
    assert_eq!(ex.redacted("type_text", &named).await["text"], "Ada");
    ex.execute("type_text", typed)
        .await
        .expect("type the password");

    let shot = ex
        .execute("screenshot", json!({}))
        .await
        .expect("screenshot");
    let path = shot
        .split_whitespace()
        .find(|w| w.ends_with(".png"))
        .unwrap_or_else(|| panic!("no path in {shot:?}"));
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("the picture"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert!(info.width >= 300 && info.height >= 200, "{info:?}");
    let pixels = &buf[..info.buffer_size()];
    let distinct: std::collections::HashSet<&[u8]> =
        pixels.chunks(info.color_type.samples()).collect();
    assert!(
        distinct.len() > 10,
        "the picture is blank ({} colours)",
        distinct.len()
    );

    // The server dies (node killed): the next calls start a new one.
    let me = std::process::id();
    let node = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                let after = st.rsplit_once(") ").map_or("", |(_, rest)| rest);
                st.contains("(node)")
                    && after.split_whitespace().nth(1) == Some(me.to_string().as_str())
            })
        })
        .expect("the browser's node server is our child");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(node as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill node");
    let mut again = None;
    for _ in 0..3 {
        match ex.execute("navigate", json!({"url": url})).await {
            Ok(o) => {
                again = Some(o);
                break;
            }
            // The first call may still meet the dead one.
            Err(e) => assert!(e.to_string().contains("browser"), "{e}"),
        }
    }
    let again = again.expect("a new browser after the old one died");
    assert!(again.contains("AIOS test page"), "{again}");

    browser.stop().await;
}

#[tokio::test]
async fn a_missing_browser_is_a_clear_error_naming_the_fix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut c = config(tmp.path());
    c.chromium = tmp.path().join("no-chromium");
    let ex = executor(&Browser::new(c), tmp.path().to_path_buf());
    let e = ex
        .execute("navigate", json!({"url": "http://127.0.0.1:9/"}))
        .await
        .expect_err("no browser");
    let e = e.to_string();
    assert!(
        e.contains("Chromium is missing") && e.contains("make setup"),
        "{e}"
    );

    let mut c = config(tmp.path());
    c.node = tmp.path().join("no-node");
    let ex = executor(&Browser::new(c), tmp.path().to_path_buf());
    let e = ex
        .execute("get_page_text", json!({}))
        .await
        .expect_err("no node")
        .to_string();
    assert!(
        e.contains("Node.js is missing") && e.contains("make setup"),
        "{e}"
    );
}

#[tokio::test]
async fn only_web_addresses_are_opened() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ex = executor(&Browser::new(config(tmp.path())), tmp.path().to_path_buf());
    for url in [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "chrome://settings",
    ] {
        let e = ex
            .execute("navigate", json!({"url": url}))
            .await
            .expect_err(url)
            .to_string();
        assert!(e.contains("only http:// and https://"), "{url}: {e}");
    }
}
