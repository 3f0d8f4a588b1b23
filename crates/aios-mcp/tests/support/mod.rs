//! Real services for the tool tests: a private D-Bus with python-dbusmock templates
//! (NetworkManager, UPower) and a headless PipeWire with a null sink.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Child processes killed on drop.
pub struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn need(program: &str) {
    assert!(
        Path::new(program).exists() || which(program),
        "{program} is missing: run `make setup`"
    );
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// Starts a private bus daemon; returns it and its address.
pub fn bus(dir: &Path) -> (Child, String) {
    need("dbus-daemon");
    let sock = dir.join("bus");
    let mut child = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .arg(format!("--address=unix:path={}", sock.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dbus-daemon");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("bus address");
    (child, line.trim().to_owned())
}

/// A private "system bus" with the given dbusmock templates loaded.
pub struct MockBus {
    pub address: String,
    _procs: Procs,
    pub _dir: tempfile::TempDir,
}

impl MockBus {
    pub async fn start(templates: &[(&str, &str)]) -> Self {
        need("/usr/bin/python3");
        let dir = tempfile::tempdir().expect("tempdir");
        let (daemon, address) = bus(dir.path());
        let mut procs = Procs(vec![daemon]);
        for (template, name) in templates {
            let child = Command::new("/usr/bin/python3")
                .args(["-m", "dbusmock", "--system", "--template", template])
                .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start python3 -m dbusmock (install python3-dbusmock: `make setup`)");
            procs.0.push(child);
            let conn = Self::connect(&address).await;
            let dbus = zbus::fdo::DBusProxy::new(&conn).await.expect("bus proxy");
            let start = Instant::now();
            loop {
                let owned = dbus
                    .name_has_owner(zbus::names::BusName::try_from(*name).expect("name"))
                    .await
                    .unwrap_or(false);
                if owned {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "dbusmock {template} did not appear: is python3-dbusmock installed (`make setup`)?"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Self {
            address,
            _procs: procs,
            _dir: dir,
        }
    }

    pub async fn connect(address: &str) -> zbus::Connection {
        zbus::connection::Builder::address(address)
            .expect("address")
            .build()
            .await
            .expect("connect to the private bus")
    }
}

/// PipeWire + WirePlumber on a private runtime dir and session bus, with a null sink
/// as the default output.
pub struct PipeWire {
    pub env: Vec<(String, String)>,
    _procs: Procs,
    _dir: tempfile::TempDir,
}

impl PipeWire {
    pub fn start() -> Self {
        for p in ["pipewire", "wireplumber", "wpctl", "pw-cli"] {
            need(p);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = dir.path().join("run");
        std::fs::create_dir(&runtime).expect("runtime dir");
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod");
        let (daemon, address) = bus(dir.path());
        let env: Vec<(String, String)> = vec![
            ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
            ("DBUS_SESSION_BUS_ADDRESS".into(), address),
            ("HOME".into(), dir.path().display().to_string()),
        ];
        let spawn = |prog: &str| {
            Command::new(prog)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start {prog}: {e}"))
        };
        let mut procs = Procs(vec![daemon, spawn("pipewire")]);
        wait(|| runtime.join("pipewire-0").exists(), "pipewire socket");
        procs.0.push(spawn("wireplumber"));
        let run = |args: &[&str]| {
            Command::new(args[0])
                .args(&args[1..])
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        wait(
            || {
                run(&[
                    "pw-cli",
                    "create-node",
                    "adapter",
                    "{ factory.name=support.null-audio-sink node.name=aios-test-sink media.class=Audio/Sink object.linger=true audio.position=[FL FR] }",
                ])
            },
            "null sink",
        );
        // WirePlumber picks the default sink a moment after the node appears, and
        // `get-volume` answers before `set-volume` can: wait for five good sets in a row.
        let mut good = 0;
        wait(
            || {
                if run(&["wpctl", "set-volume", "@DEFAULT_AUDIO_SINK@", "1.0"]) {
                    good += 1;
                } else {
                    good = 0;
                }
                good >= 5
            },
            "default sink",
        );
        Self {
            env,
            _procs: procs,
            _dir: dir,
        }
    }

    /// `wpctl get-volume` of the default sink.
    pub fn volume(&self) -> String {
        let out = Command::new("wpctl")
            .args(["get-volume", "@DEFAULT_AUDIO_SINK@"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("wpctl");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

fn wait(mut f: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A script that records its arguments to `log`, for `BROWSER`.
pub fn recorder(dir: &Path, log: &Path) -> PathBuf {
    let script = dir.join("browser.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\n", log.display()),
    )
    .expect("write recorder");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    script
}
