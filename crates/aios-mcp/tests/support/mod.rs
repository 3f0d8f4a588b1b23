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

/// PipeWire + WirePlumber + its PulseAudio server on a private runtime dir and session bus, with a null sink
/// as the default output and (after [`PipeWire::with_mic`]) a virtual microphone.
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
        // AIOS's microphone and speaker talk to PipeWire through its PulseAudio
        // server when it runs (aios-voice/src/host.rs), as on a desktop.
        need("pipewire-pulse");
        procs.0.push(spawn("pipewire-pulse"));
        wait(
            || runtime.join("pulse/native").exists(),
            "pipewire-pulse socket",
        );
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
                    "{ factory.name=support.null-audio-sink node.name=aios-test-sink media.class=Audio/Sink object.linger=true audio.position=[FL FR] priority.session=3000 priority.driver=3000 }",
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

    /// The PipeWire a parent test started, from inside a child it runs with
    /// [`PipeWire::env`] (see `aios-voice/tests/audio_io.rs`).
    pub fn attach() -> Self {
        let env = ["XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "HOME"]
            .iter()
            .map(|k| (k.to_string(), std::env::var(k).unwrap_or_default()))
            .collect();
        Self {
            env,
            _procs: Procs(Vec::new()),
            _dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Adds a virtual microphone as the default source: what [`PipeWire::play`]
    /// plays comes out of it (a `pw-loopback` from a sink named `aios-mic-in` to a
    /// source named `aios-mic`), in real time.
    pub fn with_mic(mut self) -> Self {
        need("pw-play");
        self.loopback(&[
            "--capture-props=media.class=Audio/Sink node.name=aios-mic-in audio.position=[MONO] priority.session=100 priority.driver=100",
            "--playback-props=media.class=Audio/Source node.name=aios-mic audio.position=[MONO] priority.session=3000",
        ]);
        let env = self.env.clone();
        wait(
            || {
                let out = Command::new("wpctl")
                    .arg("inspect")
                    .arg("@DEFAULT_AUDIO_SOURCE@")
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .output()
                    .expect("wpctl");
                String::from_utf8_lossy(&out.stdout).contains("node.name = \"aios-mic\"")
            },
            "virtual microphone as the default source",
        );
        self
    }

    /// Starts a `pw-loopback` with `args`, stopped with this PipeWire.
    fn loopback(&mut self, args: &[&str]) {
        need("pw-loopback");
        let child = Command::new("pw-loopback")
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pw-loopback");
        self._procs.0.push(child);
    }

    /// A room: what the speaker (the null sink) plays also reaches the microphone,
    /// 30 ms later and at `volume` (wpctl's cubic scale: 0.6 is about -13 dB).
    pub fn with_room_echo(mut self, volume: f32) -> Self {
        self.loopback(&[
            "--delay=0.03",
            "--capture-props=stream.capture.sink=true target.object=aios-test-sink node.name=aios-room",
            "--playback-props=target.object=aios-mic-in node.name=aios-room-out",
        ]);
        let env = self.env.clone();
        let volume = volume.to_string();
        wait(
            || {
                let Some(id) = node_id(&env, "aios-room") else {
                    return false;
                };
                Command::new("wpctl")
                    .args(["set-volume", &id, &volume])
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .status()
                    .is_ok_and(|s| s.success())
            },
            "the room echo",
        );
        self
    }

    /// Plays `wav` into the virtual microphone at real-time pace; returns at once.
    pub fn play(&self, wav: &Path) -> Child {
        Command::new("pw-play")
            .arg("--target=aios-mic-in")
            .arg(wav)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pw-play")
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

/// The id of the PipeWire node named `name`, from `pw-cli ls Node` (an `id N, ...`
/// line, then the node's properties).
fn node_id(env: &[(String, String)], name: &str) -> Option<String> {
    let out = Command::new("pw-cli")
        .args(["ls", "Node"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut id = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("id ") {
            id = rest.split(',').next().map(str::to_owned);
        } else if line == format!("node.name = \"{name}\"") {
            return id;
        }
    }
    None
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
