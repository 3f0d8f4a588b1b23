//! Every built-in tool against the real thing: files in a temp dir, real processes,
//! NetworkManager and UPower from python-dbusmock on a private bus, a headless
//! PipeWire, a temp backlight tree, the real `xdg-open`.

#[allow(dead_code)] // the voice tests use the microphone half
mod support;

use std::path::Path;
use std::time::Duration;

use aios_common::types::TrustRequirement;
use aios_mcp::tools::builtin;
use aios_mcp::{ToolContext, ToolError, ToolExecutor, redact};
use serde_json::json;

fn executor(home: &Path) -> ToolExecutor {
    ToolExecutor::new(
        builtin(),
        ToolContext::new(home.to_path_buf()),
        Duration::from_secs(30),
    )
}

fn with_ctx(f: impl FnOnce(&mut ToolContext), home: &Path) -> ToolExecutor {
    let mut ctx = ToolContext::new(home.to_path_buf());
    f(&mut ctx);
    ToolExecutor::new(builtin(), ctx, Duration::from_secs(30))
}

#[test]
fn requirements_and_argument_names_follow_the_plan() {
    let reg = builtin();
    let req = |n: &str| reg.get(n).expect(n).trust_requirement();
    for n in [
        "file_read",
        "file_list",
        "file_search",
        "wifi_list",
        "system_info",
    ] {
        assert_eq!(req(n), TrustRequirement::None, "{n}");
    }
    for n in [
        "file_write",
        "wifi_connect",
        "brightness",
        "volume",
        "open_url",
    ] {
        assert_eq!(req(n), TrustRequirement::Confirm, "{n}");
    }
    for n in ["file_delete", "shell_exec"] {
        assert_eq!(req(n), TrustRequirement::DoubleConfirm, "{n}");
    }
    assert!(reg.get("open_url").expect("open_url").sends_data_out());
    let props = |n: &str| -> Vec<String> {
        let d = reg.get(n).expect(n).definition();
        d.parameters["properties"]
            .as_object()
            .expect("props")
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(props("file_write"), ["path", "content"]);
    assert_eq!(props("shell_exec"), ["command"]);
    assert_eq!(props("open_url"), ["url"]);
    assert_eq!(props("volume"), ["level"]);
    assert_eq!(props("brightness"), ["level"]);
    assert_eq!(reg.definitions().len(), 12);
}

#[tokio::test]
async fn invalid_arguments_never_run() {
    let home = tempfile::tempdir().expect("tempdir");
    let ex = executor(home.path());
    let target = home.path().join("x.txt");
    for bad in [
        json!({}),
        json!({"path": 5, "content": "a"}),
        json!({"path": target, "content": "a", "mode": "append"}),
        json!({"path": "", "content": "a"}),
    ] {
        let e = ex
            .execute("file_write", bad.clone())
            .await
            .expect_err("refused");
        assert!(
            matches!(e, ToolError::InvalidArguments { .. }),
            "{bad}: {e}"
        );
    }
    assert!(!target.exists(), "nothing was written");
    let e = ex
        .execute("volume", json!({"level": 150}))
        .await
        .expect_err("range");
    assert!(e.to_string().contains("at most 100"), "{e}");
    let e = ex.execute("battery", json!({})).await.expect_err("unknown");
    assert!(
        e.to_string().contains("unknown tool `battery`") && e.to_string().contains("system_info")
    );
}

#[tokio::test]
async fn file_tools_act_on_real_files() {
    let home = tempfile::tempdir().expect("tempdir");
    let ex = executor(home.path());
    let out = ex
        .execute(
            "file_write",
            json!({"path": "~/notes/todo.txt", "content": "buy milk\n"}),
        )
        .await
        .expect("write");
    assert!(out.starts_with("Created"), "{out}");
    let file = home.path().join("notes/todo.txt");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read back"),
        "buy milk\n"
    );
    let out = ex
        .execute(
            "file_write",
            json!({"path": file, "content": "buy bread\n"}),
        )
        .await
        .expect("replace");
    assert!(out.starts_with("Replaced"), "{out}");

    let text = ex
        .execute("file_read", json!({"path": "notes/todo.txt"}))
        .await
        .expect("read");
    assert_eq!(text, "buy bread\n");
    std::fs::write(home.path().join("bin.dat"), [0u8, 1, 2, 3]).expect("bin");
    let e = ex
        .execute("file_read", json!({"path": "~/bin.dat"}))
        .await
        .expect_err("binary");
    assert!(e.to_string().contains("binary"), "{e}");
    let e = ex
        .execute("file_read", json!({"path": "~/missing"}))
        .await
        .expect_err("missing");
    assert!(e.to_string().contains("missing"), "{e}");

    let list = ex
        .execute("file_list", json!({"path": "~"}))
        .await
        .expect("list");
    assert!(
        list.contains("notes/") && list.contains("bin.dat (4 bytes)"),
        "{list}"
    );

    std::fs::write(home.path().join("notes/shop.md"), "Remember the BREAD").expect("w");
    let found = ex
        .execute("file_search", json!({"path": "~", "query": "bread"}))
        .await
        .expect("search");
    assert!(
        found.contains("todo.txt") && found.contains("shop.md"),
        "{found}"
    );
    let found = ex
        .execute("file_search", json!({"path": "~", "query": "shop"}))
        .await
        .expect("by name");
    assert!(
        found.contains("shop.md") && !found.contains("todo.txt"),
        "{found}"
    );

    let out = ex
        .execute("file_delete", json!({"path": file}))
        .await
        .expect("delete");
    assert!(out.starts_with("Deleted"), "{out}");
    assert!(!file.exists());
    let out = ex
        .execute("file_delete", json!({"path": "~/notes"}))
        .await
        .expect("folder");
    assert!(out.contains("1 files"), "{out}");
    assert!(!home.path().join("notes").exists());
    let e = ex
        .execute("file_delete", json!({"path": "~"}))
        .await
        .expect_err("home");
    assert!(e.to_string().contains("refusing"), "{e}");
    assert!(home.path().exists());
}

/// The requirement and prompt note a call gets before anyone is asked.
async fn assessed(
    ex: &ToolExecutor,
    name: &str,
    args: serde_json::Value,
) -> (TrustRequirement, String) {
    let (_, a) = ex.check(name, &args).await.expect(name);
    (a.requirement, a.notes.join("\n"))
}

#[tokio::test]
async fn writes_cannot_reach_aios_itself_and_session_files_or_overwrites_need_delete() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = std::fs::canonicalize(home.path()).expect("canon");
    let bin = h.join("opt/aios/bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::write(bin.join("aios-confirm"), "real approver").expect("w");
    std::fs::create_dir_all(h.join(".config/aios")).expect("mkdir");
    std::fs::write(h.join(".config/aios/agent.toml"), "[tools]\n").expect("w");
    std::fs::create_dir(h.join("Documents")).expect("mkdir");
    let ex = with_ctx(
        |c| {
            c.protected = vec![
                bin.join("aios-confirm"),
                h.join(".config/aios"),
                h.join(".local/state/aios"),
            ]
        },
        &h,
    );
    // AIOS's own files: refused before anyone is asked, by every route to them.
    std::os::unix::fs::symlink(&bin, h.join("innocent")).expect("ln");
    for path in [
        bin.join("aios-confirm").display().to_string(),
        "~/innocent/aios-confirm".into(),
        "~/.config/aios/agent.toml".into(),
        "~/Documents/../.config/aios/agent.toml".into(),
        "~/.local/state/aios/actions.log".into(),
        "~/.local/state/aios/actions.head".into(),
    ] {
        let e = ex
            .check(
                "file_write",
                &json!({"path": path, "content": "echo approved"}),
            )
            .await
            .err()
            .unwrap_or_else(|| panic!("{path} was not refused"));
        assert!(e.to_string().contains("AIOS's own"), "{path}: {e}");
        let e = ex
            .execute("file_write", json!({"path": path, "content": "x"}))
            .await
            .expect_err("refused at run time too");
        assert!(e.to_string().contains("refusing to write"), "{e}");
    }
    assert_eq!(
        std::fs::read_to_string(bin.join("aios-confirm")).expect("r"),
        "real approver"
    );
    let e = ex
        .check("file_delete", &json!({"path": "~/.config"}))
        .await
        .err()
        .expect("a folder holding AIOS's config");
    assert!(e.to_string().contains("AIOS's own"), "{e}");

    // Files that run code: DELETE, and the prompt says why.
    for path in [
        "~/.bashrc",
        "~/.config/autostart/x.desktop",
        "~/.local/bin/ls",
        "~/.ssh/authorized_keys",
        "~/.config/systemd/user/x.service",
    ] {
        let (req, note) = assessed(&ex, "file_write", json!({"path": path, "content": "x"})).await;
        assert_eq!(req, TrustRequirement::DoubleConfirm, "{path}");
        assert!(note.contains("runs code"), "{path}: {note}");
    }
    // A new file: a plain yes. Replacing one: DELETE, with its size.
    let (req, note) = assessed(
        &ex,
        "file_write",
        json!({"path": "~/new.txt", "content": "x"}),
    )
    .await;
    assert_eq!((req, note.as_str()), (TrustRequirement::Confirm, ""));
    std::fs::write(h.join("old.txt"), "812 bytes? no, 9").expect("w");
    let (req, note) = assessed(
        &ex,
        "file_write",
        json!({"path": "~/old.txt", "content": "x"}),
    )
    .await;
    assert_eq!(req, TrustRequirement::DoubleConfirm);
    assert!(
        note.contains("replaces an existing file of 16 bytes"),
        "{note}"
    );
    // Allowed as a new file, but it appeared before it ran: not run.
    std::fs::write(h.join("new.txt"), "someone else's").expect("w");
    let e = ex
        .execute_as(
            "file_write",
            json!({"path": "~/new.txt", "content": "x"}),
            TrustRequirement::Confirm,
        )
        .await
        .expect_err("changed since asked");
    assert!(e.to_string().contains("ask for it again"), "{e}");
    assert_eq!(
        std::fs::read_to_string(h.join("new.txt")).expect("r"),
        "someone else's"
    );
}

#[tokio::test]
async fn deletes_show_what_they_remove_and_never_follow_a_link() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = std::fs::canonicalize(home.path()).expect("canon");
    let ex = executor(&h);
    std::fs::create_dir_all(h.join("Photos/2024")).expect("mkdir");
    for i in 0..3 {
        std::fs::write(h.join(format!("Photos/2024/{i}.jpg")), "x").expect("w");
    }
    std::os::unix::fs::symlink(h.join("Photos"), h.join("pics")).expect("ln");
    // A trailing slash on a link to a folder: the link goes, the photos stay.
    let (req, note) = assessed(&ex, "file_delete", json!({"path": "~/pics/"})).await;
    assert_eq!(req, TrustRequirement::DoubleConfirm);
    assert!(
        note.contains(&format!("removes the link {}", h.join("pics").display())),
        "{note}"
    );
    ex.execute("file_delete", json!({"path": "~/pics/"}))
        .await
        .expect("delete link");
    assert!(!h.join("pics").exists() && h.join("Photos/2024/2.jpg").exists());
    // A folder: its resolved path and how many files go with it.
    let (_, note) = assessed(&ex, "file_delete", json!({"path": "~/Photos/./2024/"})).await;
    assert!(
        note.contains(&format!(
            "removes the folder {} and the 3 files in it",
            h.join("Photos/2024").display()
        )),
        "{note}"
    );
    // The home, its ancestors and the root: refused unasked, whatever the spelling.
    for path in [
        "~",
        "~/",
        "~/..",
        "~/Photos/..",
        "/",
        "//",
        h.parent().expect("parent").to_str().expect("utf8"),
    ] {
        let e = ex
            .check("file_delete", &json!({"path": path}))
            .await
            .err()
            .unwrap_or_else(|| panic!("{path} was not refused"));
        assert!(e.to_string().contains("refusing to delete"), "{path}: {e}");
    }
    assert!(h.join("Photos/2024/0.jpg").exists());
}

#[tokio::test]
async fn file_read_reads_regular_files_only_and_stops_at_the_cap() {
    let home = tempfile::tempdir().expect("tempdir");
    let ex = with_ctx(|c| c.read_cap = 1000, home.path());
    // /dev/zero would fill the memory; a FIFO with no writer would hold the thread.
    let e = ex
        .execute("file_read", json!({"path": "/dev/zero"}))
        .await
        .expect_err("device");
    assert!(e.to_string().contains("only regular files"), "{e}");
    let fifo = home.path().join("pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let e = tokio::time::timeout(
        Duration::from_secs(20),
        ex.execute("file_read", json!({"path": fifo})),
    )
    .await
    .expect("a FIFO does not block the read")
    .expect_err("fifo");
    assert!(e.to_string().contains("pipe"), "{e}");
    std::fs::write(home.path().join("big.txt"), "a".repeat(5000)).expect("w");
    let out = ex
        .execute("file_read", json!({"path": "~/big.txt"}))
        .await
        .expect("read");
    assert!(
        out.ends_with("[output cut: 1000 of 5000 bytes shown]"),
        "{}",
        &out[out.len() - 60..]
    );
}

#[tokio::test]
async fn shell_exec_refuses_a_command_nobody_could_read() {
    let home = tempfile::tempdir().expect("tempdir");
    let ex = executor(home.path());
    let padded = format!("echo hi{}; rm -rf ~/x", " ".repeat(5000));
    let e = ex
        .check("shell_exec", &json!({"command": padded}))
        .await
        .err()
        .expect("too long");
    assert!(e.to_string().contains("at most 4096"), "{e}");
    let (req, _) = assessed(&ex, "shell_exec", json!({"command": "echo hi"})).await;
    assert_eq!(req, TrustRequirement::DoubleConfirm);
}

#[tokio::test]
async fn shell_exec_runs_a_real_process_with_timeout_and_cap() {
    let home = tempfile::tempdir().expect("tempdir");
    let ex = with_ctx(
        |c| {
            c.shell_timeout = Duration::from_millis(500);
            c.output_cap = 1000;
        },
        home.path(),
    );
    let out = ex
        .execute(
            "shell_exec",
            json!({"command": "pwd; echo hi >&2; touch made"}),
        )
        .await
        .expect("runs");
    assert!(out.starts_with("exit code 0"), "{out}");
    assert!(
        out.contains(&home.path().display().to_string()) && out.contains("errors:\nhi"),
        "{out}"
    );
    assert!(home.path().join("made").exists(), "ran in the home folder");

    let e = ex
        .execute("shell_exec", json!({"command": "exit 3"}))
        .await
        .expect_err("fails");
    assert!(e.to_string().contains("exit code 3"), "{e}");

    let out = ex
        .execute(
            "shell_exec",
            json!({"command": "head -c 100000 /dev/zero | tr '\\0' a"}),
        )
        .await
        .expect("big output");
    assert!(
        out.contains("[output cut: 1000 of 100000 bytes shown]"),
        "{}",
        &out[out.len() - 80..]
    );
    assert!(out.len() < 1200);

    // The timeout kills the whole process group, grandchildren included.
    let pidfile = home.path().join("pid");
    let e = ex
        .execute(
            "shell_exec",
            json!({"command": format!("sleep 30 & echo $! > {}; wait", pidfile.display())}),
        )
        .await
        .expect_err("timeout");
    assert!(e.to_string().contains("did not finish"), "{e}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid")
        .trim()
        .parse()
        .expect("num");
    let alive =
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "));
    for _ in 0..50 {
        if !alive() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(), "the background sleep was killed with its group");
}

#[tokio::test]
async fn brightness_writes_the_backlight_tree() {
    let home = tempfile::tempdir().expect("tempdir");
    let root = home.path().join("backlight");
    let dev = root.join("intel_backlight");
    std::fs::create_dir_all(&dev).expect("mkdir");
    std::fs::write(dev.join("max_brightness"), "1200\n").expect("max");
    std::fs::write(dev.join("brightness"), "1200\n").expect("cur");
    let ex = with_ctx(|c| c.backlight_root = root.clone(), home.path());
    let out = ex
        .execute("brightness", json!({"level": 40}))
        .await
        .expect("set");
    assert_eq!(
        std::fs::read_to_string(dev.join("brightness")).expect("read"),
        "480"
    );
    assert!(
        out.contains("40%") && out.contains("intel_backlight"),
        "{out}"
    );
    ex.execute("brightness", json!({"level": 0}))
        .await
        .expect("zero");
    assert_eq!(
        std::fs::read_to_string(dev.join("brightness")).expect("read"),
        "0"
    );

    let empty = with_ctx(|c| c.backlight_root = home.path().join("none"), home.path());
    let e = empty
        .execute("brightness", json!({"level": 10}))
        .await
        .expect_err("no device");
    assert!(e.to_string().contains("no backlight"), "{e}");
}

#[tokio::test]
async fn open_url_goes_through_xdg_open_to_the_browser() {
    let home = tempfile::tempdir().expect("tempdir");
    let log = home.path().join("opened.txt");
    let browser = support::recorder(home.path(), &log);
    let ex = with_ctx(
        |c| {
            c.child_env = vec![
                ("BROWSER".into(), browser.display().to_string()),
                ("HOME".into(), home.path().display().to_string()),
            ];
        },
        home.path(),
    );
    let out = ex
        .execute(
            "open_url",
            json!({"url": "https://example.com/search?q=aios"}),
        )
        .await
        .expect("opens");
    assert_eq!(out, "Opened https://example.com/search?q=aios");
    assert_eq!(
        std::fs::read_to_string(&log).expect("recorded"),
        "https://example.com/search?q=aios\n"
    );
    for bad in ["file:///etc/passwd", "javascript:alert(1)", "https://a b"] {
        let e = ex
            .execute("open_url", json!({"url": bad}))
            .await
            .expect_err(bad);
        assert!(e.to_string().contains("only http"), "{e}");
    }
    assert_eq!(
        std::fs::read_to_string(&log)
            .expect("recorded")
            .lines()
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_sets_the_default_pipewire_sink() {
    let pw = tokio::task::spawn_blocking(support::PipeWire::start)
        .await
        .expect("pipewire");
    let home = tempfile::tempdir().expect("tempdir");
    let ex = with_ctx(|c| c.child_env = pw.env.clone(), home.path());
    let out = ex
        .execute("volume", json!({"level": 40}))
        .await
        .expect("set");
    assert!(out.contains("Volume: 0.40"), "{out}");
    assert_eq!(pw.volume(), "Volume: 0.40");
    ex.execute("volume", json!({"level": 0}))
        .await
        .expect("mute");
    assert_eq!(pw.volume(), "Volume: 0.00 [MUTED]");
    ex.execute("volume", json!({"level": 75}))
        .await
        .expect("unmute");
    assert_eq!(pw.volume(), "Volume: 0.75");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wifi_lists_and_connects_through_networkmanager() {
    let bus =
        support::MockBus::start(&[("networkmanager", "org.freedesktop.NetworkManager")]).await;
    let conn = support::MockBus::connect(&bus.address).await;
    let dev: String = conn
        .call_method(
            Some("org.freedesktop.NetworkManager"),
            "/org/freedesktop",
            Some("org.freedesktop.DBus.Mock"),
            "AddWiFiDevice",
            &("wlan0", "wlan0", 100u32),
        )
        .await
        .expect("add a Wi-Fi device")
        .body()
        .deserialize()
        .expect("device path");
    for (name, ssid, strength, security) in [
        ("ap1", "HomeNet", 80u8, 0x100u32),
        ("ap2", "CafeFree", 45, 0),
        ("ap3", "Neighbour", 20, 0x100),
    ] {
        conn.call_method(
            Some("org.freedesktop.NetworkManager"),
            "/org/freedesktop",
            Some("org.freedesktop.DBus.Mock"),
            "AddAccessPoint",
            &(
                dev.as_str(),
                name,
                ssid,
                "00:11:22:33:44:55",
                2u32,
                2437u32,
                5400u32,
                strength,
                security,
            ),
        )
        .await
        .expect("add access point");
    }
    let home = tempfile::tempdir().expect("tempdir");
    let ex = with_ctx(|c| c.system_bus = Some(bus.address.clone()), home.path());

    let list = ex.execute("wifi_list", json!({})).await.expect("list");
    assert_eq!(
        list,
        "3 networks:\nHomeNet (80%, password)\nCafeFree (45%, open)\nNeighbour (20%, password)"
    );

    let e = ex
        .execute("wifi_connect", json!({"ssid": "HomeNet"}))
        .await
        .expect_err("no password");
    assert!(e.to_string().contains("needs a password"), "{e}");
    let e = ex
        .execute("wifi_connect", json!({"ssid": "Nowhere", "password": "x"}))
        .await
        .expect_err("absent");
    assert!(
        e.to_string()
            .contains("no Wi-Fi network called \"Nowhere\""),
        "{e}"
    );

    let out = ex
        .execute(
            "wifi_connect",
            json!({"ssid": "HomeNet", "password": "hunter2-secret"}),
        )
        .await
        .expect("connect");
    assert_eq!(out, "Connected to \"HomeNet\"");
    assert!(!out.contains("hunter2"));
    let nm = zbus::Proxy::new(
        &conn,
        "org.freedesktop.NetworkManager",
        "/org/freedesktop/NetworkManager",
        "org.freedesktop.NetworkManager",
    )
    .await
    .expect("nm");
    let active: Vec<zbus::zvariant::OwnedObjectPath> =
        nm.get_property("ActiveConnections").await.expect("active");
    assert_eq!(active.len(), 1, "one connection is up");

    // The password is marked secret in the schema, so everything but the tool sees it
    // redacted.
    let def = builtin().get("wifi_connect").expect("tool").definition();
    let shown = redact(
        &def.parameters,
        &json!({"ssid": "HomeNet", "password": "hunter2-secret"}),
    );
    assert_eq!(shown, json!({"ssid": "HomeNet", "password": "[redacted]"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_info_reads_the_battery_from_upower() {
    let bus = support::MockBus::start(&[("upower", "org.freedesktop.UPower")]).await;
    let conn = support::MockBus::connect(&bus.address).await;
    // type 2 = battery, state 2 = discharging, 87 %.
    conn.call_method(
        Some("org.freedesktop.UPower"),
        "/org/freedesktop/UPower",
        Some("org.freedesktop.DBus.Mock"),
        "SetupDisplayDevice",
        &(
            2u32,
            2u32,
            87.0f64,
            40.0f64,
            46.0f64,
            10.0f64,
            3600i64,
            0i64,
            true,
            "battery-good",
            1u32,
        ),
    )
    .await
    .expect("set up the battery");
    let home = tempfile::tempdir().expect("tempdir");
    let ex = with_ctx(|c| c.system_bus = Some(bus.address.clone()), home.path());
    let out = ex.execute("system_info", json!({})).await.expect("info");
    for part in [
        "Local time: ",
        "CPU:",
        "Disk (",
        "Uptime:",
        "Battery: 87% (discharging)",
    ] {
        assert!(out.contains(part), "{part} missing in {out}");
    }

    // No UPower on the bus: the sysfs tree answers instead.
    let psu = home.path().join("power_supply/BAT0");
    std::fs::create_dir_all(&psu).expect("mkdir");
    for (f, v) in [
        ("type", "Battery"),
        ("capacity", "55"),
        ("status", "Charging"),
    ] {
        std::fs::write(psu.join(f), v).expect("write");
    }
    let empty = support::MockBus::start(&[]).await;
    let without_upower = |power_supply: &str| {
        let root = home.path().join(power_supply);
        with_ctx(
            |c| {
                c.system_bus = Some(empty.address.clone());
                c.power_supply_root = root;
            },
            home.path(),
        )
    };
    let ex = without_upower("power_supply");
    let out = ex.execute("system_info", json!({})).await.expect("info");
    assert!(out.contains("Battery: 55% (charging)"), "{out}");

    // Neither: said outright, so a model does not make one up.
    let ex = without_upower("no-power-supply");
    let out = ex.execute("system_info", json!({})).await.expect("info");
    assert!(out.contains("Battery: none found"), "{out}");
    // The time, as a person reads it: "Thursday 26 November 2026, 14:05".
    let time = out
        .lines()
        .find_map(|l| l.strip_prefix("Local time: "))
        .expect("the local time");
    let (date, clock) = time.rsplit_once(", ").expect("date, time");
    assert_eq!(date.split(' ').count(), 4, "{time}");
    assert!(clock.len() == 5 && clock.as_bytes()[2] == b':', "{time}");
}
