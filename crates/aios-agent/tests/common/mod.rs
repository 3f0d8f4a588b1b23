//! Helpers shared by the integration tests: a private process environment and the
//! real binaries.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A process environment of its own: temp HOME and XDG dirs, no login session.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["home", "config/aios", "state", "data"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let env = Self { dir };
        env.write_config("[provider]\ntype = \"echo\"\n");
        env
    }
    /// Writes the config; voice is off unless `text` has a `[voice]` section (loading
    /// whisper and Piper in every test agent would only cost time).
    pub fn write_config(&self, text: &str) {
        let text = if text.contains("[voice]") {
            text.to_owned()
        } else {
            format!("{text}\n[voice]\nenabled = false\n")
        };
        std::fs::write(self.config(), text).expect("write config");
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("agent.sock")
    }
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config/aios/agent.toml")
    }
    pub fn cmd(&self, bin: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(bin);
        let d = self.dir.path();
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", d.join("home"))
            .env("XDG_CONFIG_HOME", d.join("config"))
            .env("XDG_STATE_HOME", d.join("state"))
            .env("XDG_DATA_HOME", d.join("data"))
            .env("AIOS_SOCKET", self.socket())
            .env(
                "RUST_LOG",
                std::env::var("AIOS_TEST_LOG").unwrap_or_else(|_| "info,ort=warn".into()),
            );
        c
    }
    pub fn agent(&self) -> Child {
        let child = self
            .cmd(env!("CARGO_BIN_EXE_aios-agent"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn aios-agent");
        for _ in 0..500 {
            if self.socket().exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child
    }
    pub fn aios(&self, args: &[&str]) -> std::process::Output {
        self.cmd(aios_bin()).args(args).output().expect("run aios")
    }
}

/// A binary of another workspace package, built beside `aios-agent` (a test build
/// makes only its own package's binaries; `make test` builds these first).
pub fn sibling_bin(name: &str, package: &str) -> PathBuf {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_aios-agent")).with_file_name(name);
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p {package}` (make test does)",
        bin.display()
    );
    bin
}

/// The `aios` command line (crate `aios-cli`).
pub fn aios_bin() -> PathBuf {
    sibling_bin("aios", "aios-cli")
}

pub fn stop(child: &mut Child, sig: nix::sys::signal::Signal) -> String {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, sig).expect("signal");
    wait_output(child)
}

/// Sends `sig` to a process that is not our child.
pub fn stop_pid(pid: u32, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid"));
    nix::sys::signal::kill(pid, sig).expect("signal");
}

pub fn wait_output(child: &mut Child) -> String {
    let status = child.wait().expect("wait");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut err).expect("stderr");
    }
    format!("{status}\n{err}")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Pids of the live processes whose parent is `parent` and whose name is `name`.
pub fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().unwrap_or("");
        let ppid = rest.next().and_then(|p| p.parse::<u32>().ok());
        if comm == name && ppid == Some(parent) && state != "Z" {
            found.push(pid);
        }
    }
    found
}

/// Waits (up to `limit`) until `f` holds; a guard against hangs, not a timing check.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Serves one HTML page (`title`, `body`) on 127.0.0.1 to every request, on a
/// thread of its own; returns its address.
pub fn serve_page(title: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let html = format!(
        "<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"
    );
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { break };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                html.len()
            );
        }
    });
    format!("http://{addr}/")
}

/// The variables a test agent needs to start Chromium: as root (CI) Chromium
/// refuses its sandbox, and AIOS runs it without only when told (never in use).
pub fn browser_vars() -> Vec<(String, String)> {
    if nix::unistd::geteuid().is_root() {
        vec![("AIOS_BROWSER_NO_SANDBOX".to_owned(), "1".to_owned())]
    } else {
        Vec::new()
    }
}
