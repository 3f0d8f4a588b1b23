//! The chat window as a person meets it: a real compositor (headless sway, drawing
//! in memory), the real agent with a scripted OpenAI-compatible model, the real
//! `aios-chat`; typed into with `wtype` (sway's virtual keyboard) and read back from
//! the screen with `grim` and `tesseract`. Real time: few tests, generous deadlines,
//! assertions on what reached the agent and what is on the screen.

mod common;
#[allow(dead_code)]
#[path = "../src/llm/tests/server.rs"]
mod server;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Env, wait_until};
use serde_json::json;
use server::{Server, openai_call as call, openai_text as text};

/// Longest wait for something to show: a debug build draws slowly on 2 cores.
const SHOW: Duration = Duration::from_secs(60);

/// Headless sway (as nobody), from `scripts/with-headless-sway.sh`; stopped with
/// its process group.
struct Sway {
    child: Child,
    display: PathBuf,
    ipc: PathBuf,
}

impl Sway {
    fn start() -> Self {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/with-headless-sway.sh");
        let mut child = Command::new(script)
            .args([
                "sh",
                "-c",
                // Until the test's end of the pipe closes: a killed test stops sway.
                "echo \"$WAYLAND_DISPLAY\"; echo \"$SWAYSOCK\"; exec cat >/dev/null",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("start scripts/with-headless-sway.sh (sway comes from `make setup`)");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("read the display");
        let display = PathBuf::from(line.trim());
        assert!(
            display.is_absolute(),
            "sway did not start (see the log above); got {line:?}"
        );
        line.clear();
        out.read_line(&mut line).expect("read the IPC socket");
        let ipc = PathBuf::from(line.trim());
        Self {
            child,
            display,
            ipc,
        }
    }

    /// Where windows go: the focused workspace's area (x, y, width, height), which
    /// layer-shell bars with an exclusive zone take room from.
    fn workspace_area(&self) -> (i64, i64, i64, i64) {
        let out = self.msg(&["-t", "get_workspaces", "-r"]);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("swaymsg JSON");
        let r = &v[0]["rect"];
        let n = |k: &str| r[k].as_i64().unwrap_or(-1);
        (n("x"), n("y"), n("width"), n("height"))
    }

    /// Every output's workspace area (output name, height), in output order.
    fn output_heights(&self) -> Vec<(String, i64)> {
        let out = self.msg(&["-t", "get_workspaces", "-r"]);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("swaymsg JSON");
        let mut all: Vec<(String, i64)> = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| {
                let name = w["output"].as_str().unwrap_or("?").to_owned();
                (name, w["rect"]["height"].as_i64().unwrap_or(-1))
            })
            .collect();
        all.sort();
        all
    }

    /// Starts `cmd` as a client of this compositor; killed when dropped.
    fn show(&self, mut cmd: Command, what: &str) -> Killed {
        Killed(
            cmd.env("WAYLAND_DISPLAY", &self.display)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| panic!("start {what}: {e}")),
        )
    }

    /// Runs `swaymsg ARGS`; its stdout.
    fn msg(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("swaymsg")
            .args(args)
            .env("SWAYSOCK", &self.ipc)
            .output()
            .expect("run swaymsg");
        assert!(out.status.success(), "swaymsg {args:?} failed");
        out.stdout
    }

    /// What the screen says, as tesseract reads it. The picture is inverted first:
    /// AIOS draws light text on dark, and tesseract reads dark on light far better
    /// (it read nothing of the dock's bar as it is). `shot` keeps the picture as
    /// shown.
    fn screen_text(&self, shot: &Path) -> String {
        let grabbed = Command::new("grim")
            .arg(shot)
            .env("WAYLAND_DISPLAY", &self.display)
            .status()
            .expect("run grim");
        assert!(grabbed.success(), "grim failed");
        let ppm = Command::new("grim")
            .args(["-t", "ppm", "-"])
            .env("WAYLAND_DISPLAY", &self.display)
            .output()
            .expect("run grim");
        let inverted = shot.with_extension("inverted.ppm");
        std::fs::write(&inverted, invert_ppm(&ppm.stdout)).expect("write the inverted picture");
        // Sparse text: a bar at the bottom of an empty screen is no page of prose.
        let out = Command::new("tesseract")
            .arg(&inverted)
            .args(["-", "--psm", "11"])
            .stderr(Stdio::null())
            .output()
            .expect("run tesseract");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `needle`; returns what it read.
    fn wait_for(&self, shot: &Path, needle: &str) -> String {
        let mut seen = String::new();
        let mut n = 0;
        let shown = wait_until(SHOW, || {
            seen = self.screen_text(shot);
            if std::env::var_os("AIOS_GUI_DEBUG").is_some() {
                n += 1;
                let _ = std::fs::copy(shot, std::env::temp_dir().join(format!("aios-gui-{n}.png")));
            }
            seen.contains(needle)
        });
        if !shown {
            let _ = std::fs::copy(shot, std::env::temp_dir().join("aios-gui-failed.png"));
        }
        assert!(
            shown,
            "the screen never showed {needle:?} (last picture: $TMPDIR/aios-gui-failed.png); it read:\n{seen}"
        );
        seen
    }

    /// Presses keys as wtype spells them (`-k Return`, text, ...), after the pause
    /// a new virtual keyboard needs (see `type_line`).
    fn keys(&self, args: &[&str]) {
        let typed = Command::new("wtype")
            .args(["-s", "300"])
            .args(args)
            .env("WAYLAND_DISPLAY", &self.display)
            .status()
            .expect("run wtype");
        assert!(typed.success(), "wtype failed");
    }

    /// Types `text`, then Enter, into the focused window.
    fn type_line(&self, text: &str) {
        // Each wtype run brings a new virtual keyboard with its own keymap; a key sent
        // right away can arrive before the window has the keymap (the first letter
        // went missing 1 run in 5). A real keyboard's keymap is there from the start.
        let typed = Command::new("wtype")
            .args(["-s", "300", text, "-k", "Return"])
            .env("WAYLAND_DISPLAY", &self.display)
            .status()
            .expect("run wtype");
        assert!(typed.success(), "wtype failed");
    }
}

impl Drop for Sway {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// A binary PPM (P6, maxval 255) with every colour inverted.
fn invert_ppm(ppm: &[u8]) -> Vec<u8> {
    // The header is four whitespace-separated fields: P6, width, height, maxval.
    let mut fields = 0;
    let mut i = 0;
    while fields < 4 && i < ppm.len() {
        while i < ppm.len() && ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        while i < ppm.len() && !ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        fields += 1;
    }
    let body = (i + 1).min(ppm.len());
    assert!(ppm.starts_with(b"P6"), "grim did not write a binary PPM");
    let mut out = ppm[..body].to_vec();
    out.extend(ppm[body..].iter().map(|b| 255 - b));
    out
}

/// The agent as a service starts it: no controlling terminal (`setsid`), and the
/// compositor at `display` if any. Returns once its socket is there.
fn service_agent(env: &Env, display: Option<&Path>) -> Killed {
    let mut cmd = env.cmd("setsid");
    cmd.arg("-w").arg(env!("CARGO_BIN_EXE_aios-agent"));
    if let Some(d) = display {
        cmd.env("WAYLAND_DISPLAY", d);
    }
    let agent = Killed(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aios-agent"),
    );
    assert!(
        wait_until(SHOW, || env.socket().exists()),
        "the agent did not start"
    );
    agent
}

/// Keeps `shot` as `docs/screenshots/NAME` when `make screenshots` asks
/// (`AIOS_SCREENSHOTS` names the folder).
fn save_screenshot(shot: &Path, name: &str) {
    if let Some(dir) = std::env::var_os("AIOS_SCREENSHOTS") {
        std::fs::copy(shot, Path::new(&dir).join(name)).expect("save the screenshot");
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The reply of the last turn: a heading, a list and a code block.
const MARKDOWN: &str = "## Listing files\n\nUse `os.listdir` from the standard library:\n\n```python\nimport os\n\nfor name in sorted(os.listdir(\".\")):\n    print(name)\n```\n\n- it lists any folder you name\n- it returns names only, not paths";

#[test]
fn typed_in_the_chat_window_and_answered_on_the_screen() {
    let chat_bin = common::sibling_bin("aios-chat", "aios-chat");
    common::sibling_bin("aios-confirm", "aios-confirm");
    let env = Env::new();
    let notes = env.dir.path().join("home/notes.txt");
    std::fs::write(&notes, "keep me").expect("write notes");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(Server::start(vec![
        call("c1", "system_info", json!({})),
        text("Your computer has been up for **three days**."),
        call("d1", "file_delete", json!({ "path": notes })),
        text("I left your notes alone: the deletion was not confirmed."),
        text(MARKDOWN),
    ]));
    env.write_config(&format!(
        "[provider]\ntype = \"openai\"\nbase_url = \"{}\"\napi_key = \"sk-test\"\ntimeout_secs = 10\n\n[agent]\nconfirm_timeout_secs = 5\n",
        server.base
    ));
    // No compositor for the agent and no terminal: the confirmation prompt has
    // nowhere to ask, so a destructive call is denied at once.
    let _agent = service_agent(&env, None);
    let sway = Sway::start();
    let _chat = sway.show(env.cmd(&chat_bin), "aios-chat");
    // The window is up when it has connected (the agent counts it).
    let connected = wait_until(SHOW, || {
        let out = env.aios(&["status", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .is_ok_and(|v| v["clients"].as_u64().is_some_and(|n| n >= 2))
    });
    assert!(connected, "the chat window never connected to the agent");

    let shot = env.dir.path().join("chat.png");
    // It draws its input field before it takes keys: wait for the placeholder.
    assert!(
        wait_until(SHOW, || sway.screen_text(&shot).contains("Enter sends")),
        "the window never showed its input field: {}",
        sway.screen_text(&shot)
    );
    // A read-only tool: its card, then the reply, Markdown rendered.
    sway.type_line("how long has this computer been up");
    let seen = sway.wait_for(&shot, "three days");
    assert!(seen.contains("system_info"), "no tool card:\n{seen}");
    assert!(!seen.contains("**"), "Markdown shown raw:\n{seen}");

    // A destructive one nobody can confirm: a red card, the file stays.
    sway.type_line("delete my old notes");
    sway.wait_for(&shot, "Denied: file_delete");
    assert!(notes.exists(), "a denied deletion deleted");

    // Markdown with a heading, a code block and a list.
    sway.type_line("how do I list files in python");
    let seen = sway.wait_for(&shot, "Listing files");
    save_screenshot(&shot, "chat.png");
    assert!(
        !seen.contains("```") && !seen.contains("## "),
        "Markdown shown raw:\n{seen}"
    );

    // Every typed line reached the model, in order.
    let said: Vec<String> = server
        .requests()
        .iter()
        .filter_map(|r| {
            r.json()["messages"]
                .as_array()?
                .iter()
                .rev()
                .find(|m| m["role"] == "user")
                .and_then(|m| m["content"].as_str().map(str::to_owned))
        })
        .collect();
    for line in [
        "how long has this computer been up",
        "delete my old notes",
        "how do I list files in python",
    ] {
        assert!(
            said.iter().any(|s| s == line),
            "{line:?} never reached the model: {said:?}"
        );
    }
}

/// `aios ask` in the background (the person's question); its output when it ends.
fn ask_in_background(env: &Env, question: &str) -> Child {
    env.cmd(common::aios_bin())
        .args(["ask", question])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run aios ask")
}

fn finished(child: Child) -> String {
    let out = child.wait_with_output().expect("aios ask");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_confirmation_overlay_takes_delete_typed_and_denies_everything_else() {
    common::sibling_bin("aios-confirm", "aios-confirm");
    let env = Env::new();
    let home = env.dir.path().join("home");
    let doomed = home.join("doomed.txt");
    let kept = home.join("kept.txt");
    let unwritten = home.join("unwritten.txt");
    std::fs::write(&doomed, "x").expect("write");
    std::fs::write(&kept, "x").expect("write");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(Server::start(vec![
        call("d1", "file_delete", json!({ "path": doomed })),
        text("Deleted."),
        call("d2", "file_delete", json!({ "path": kept })),
        text("Not deleted."),
        call(
            "w1",
            "file_write",
            json!({ "path": unwritten, "content": "hello" }),
        ),
        text("Not written."),
    ]));
    env.write_config(&format!(
        "[provider]\ntype = \"openai\"\nbase_url = \"{}\"\napi_key = \"sk-test\"\ntimeout_secs = 10\n\n[agent]\nconfirm_timeout_secs = 8\n",
        server.base
    ));
    let sway = Sway::start();
    // The agent of a desktop session: it has the compositor, no terminal.
    let _agent = service_agent(&env, Some(&sway.display));
    let shot = env.dir.path().join("overlay.png");

    // DELETE typed exactly, then Enter: approved, the file goes.
    let q = ask_in_background(&env, "delete doomed.txt");
    let seen = sway.wait_for(&shot, "Type DELETE to allow");
    assert!(seen.contains("doomed.txt"), "the target is shown:\n{seen}");
    save_screenshot(&shot, "confirm-critical.png");
    sway.keys(&["DELETE", "-k", "Return"]);
    let out = finished(q);
    assert!(
        !doomed.exists(),
        "DELETE typed in the overlay approves: {out}"
    );
    assert!(out.contains("[tool done]"), "{out}");

    // Nobody answers: the countdown denies, the file stays.
    let q = ask_in_background(&env, "delete kept.txt");
    sway.wait_for(&shot, "Type DELETE to allow");
    let out = finished(q);
    assert!(
        kept.exists(),
        "an unanswered overlay must not delete: {out}"
    );
    assert!(out.contains("[tool timed out]"), "{out}");

    // A normal action: Enter is not a click on Allow; Escape denies.
    let q = ask_in_background(&env, "write unwritten.txt");
    let seen = sway.wait_for(&shot, "asks before acting");
    assert!(seen.contains("file_write"), "{seen}");
    save_screenshot(&shot, "confirm.png");
    sway.keys(&["-k", "Return"]);
    sway.keys(&["-k", "Escape"]);
    let out = finished(q);
    assert!(
        !unwritten.exists(),
        "Enter or Escape approved a write: {out}"
    );
    assert!(out.contains("[tool denied]"), "{out}");
}

#[test]
fn the_dock_is_a_48_px_bar_at_the_bottom_that_windows_make_room_for() {
    let dock_bin = common::sibling_bin("aios-dock", "aios-dock");
    let env = Env::new();
    let _agent = Killed(env.agent());
    let sway = Sway::start();
    assert_eq!(sway.workspace_area(), (0, 0, 1280, 720), "no bar yet");
    let _dock = sway.show(env.cmd(&dock_bin), "aios-dock");
    // Its exclusive zone: windows now end 48 px above the bottom edge.
    let mut area = (0, 0, 0, 0);
    assert!(
        wait_until(SHOW, || {
            area = sway.workspace_area();
            area == (0, 0, 1280, 672)
        }),
        "the dock took no room at the bottom: {area:?}"
    );
    let shot = env.dir.path().join("dock.png");
    sway.wait_for(&shot, "Hold to talk");
    save_screenshot(&shot, "dock.png");
}

#[test]
fn the_dock_is_on_every_output_including_one_plugged_in_later() {
    let dock_bin = common::sibling_bin("aios-dock", "aios-dock");
    let env = Env::new();
    let sway = Sway::start();
    // A second screen (headless sway makes it 1920x1080) before the dock starts...
    sway.msg(&["create_output"]);
    let bare = vec![
        ("HEADLESS-1".to_owned(), 720),
        ("HEADLESS-2".to_owned(), 1080),
    ];
    assert_eq!(sway.output_heights(), bare, "no bar yet");
    let _dock = sway.show(env.cmd(&dock_bin), "aios-dock");
    let mut seen = Vec::new();
    let both = vec![
        ("HEADLESS-1".to_owned(), 672),
        ("HEADLESS-2".to_owned(), 1032),
    ];
    assert!(
        wait_until(SHOW, || {
            seen = sway.output_heights();
            seen == both
        }),
        "a bar did not take 48 px on each screen: {seen:?}"
    );
    // ... and a third plugged in while it runs gets a bar of its own.
    sway.msg(&["create_output"]);
    let mut all = both.clone();
    all.push(("HEADLESS-3".to_owned(), 1032));
    assert!(
        wait_until(SHOW, || {
            seen = sway.output_heights();
            seen == all
        }),
        "the screen plugged in later got no bar: {seen:?}"
    );
    // A screen switched off and on again: the dock survives and returns to it.
    sway.msg(&["output", "HEADLESS-2", "disable"]);
    sway.msg(&["output", "HEADLESS-2", "enable"]);
    assert!(
        wait_until(SHOW, || {
            seen = sway.output_heights();
            seen == all
        }),
        "the screen switched off and on lost its bar: {seen:?}"
    );
}
