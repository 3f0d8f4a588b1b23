//! The live image's files (`iso/config`) agree with the code they start, checked
//! without building an image: every unit starts a binary this workspace builds,
//! with a subcommand `aios` has; `aios.target` pulls in every AIOS unit and each
//! one stops with it; labwc starts the target and binds the documented keys; the
//! audit log the units name is the append-only one tmpfiles.d makes.
//! (`make qemu-test` boots the real image; this catches a rename before that.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chroot(rel: &str) -> PathBuf {
    repo().join("iso/config/includes.chroot").join(rel)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The binaries the workspace builds: `[[bin]] name`, else the package name of a
/// crate with a `src/main.rs`.
fn workspace_binaries() -> BTreeSet<String> {
    let mut bins = BTreeSet::new();
    for dir in std::fs::read_dir(repo().join("crates")).unwrap().flatten() {
        if !dir.path().join("src/main.rs").exists() {
            continue;
        }
        let manifest = read(&dir.path().join("Cargo.toml"));
        let name = |after: &str| {
            manifest.split(after).nth(1).and_then(|rest| {
                rest.lines()
                    .find_map(|l| l.strip_prefix("name = \""))
                    .map(|n| n.trim_end_matches('"').to_string())
            })
        };
        bins.insert(name("[[bin]]").or_else(|| name("[package]")).unwrap());
    }
    bins
}

fn user_units() -> Vec<(String, String)> {
    let dir = chroot("usr/lib/systemd/user");
    let mut units: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, read(&e.path()))
        })
        .collect();
    units.sort();
    units
}

#[test]
fn every_unit_starts_a_workspace_binary_with_a_real_subcommand() {
    let bins = workspace_binaries();
    assert!(
        bins.contains("aios-agent") && bins.contains("aios"),
        "{bins:?}"
    );
    let mut checked = 0;
    for (name, text) in user_units() {
        for exec in text.lines().filter_map(|l| l.strip_prefix("ExecStart=")) {
            let mut words = exec.split_whitespace();
            let bin = words.next().unwrap().strip_prefix("/usr/bin/").unwrap();
            assert!(
                bins.contains(bin),
                "{name} starts {bin}, which nothing builds"
            );
            let args: Vec<&str> = words.collect();
            if bin == "aios" && !args.is_empty() {
                // `aios <cmd> <sub> --help` fails on a subcommand clap does not know.
                let out = Command::new(env!("CARGO_BIN_EXE_aios"))
                    .args(&args[..args.len() - 1])
                    .arg("--help")
                    .output()
                    .unwrap();
                let help = String::from_utf8_lossy(&out.stdout);
                let last = args[args.len() - 1];
                assert!(
                    out.status.success() && help.contains(last),
                    "{name}: `aios {}` is not a command: {help}",
                    args.join(" ")
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} ExecStart lines");
}

#[test]
fn the_target_holds_every_aios_service_and_labwc_starts_it() {
    let units = user_units();
    let target = &units.iter().find(|(n, _)| n == "aios.target").unwrap().1;
    for (name, text) in units.iter().filter(|(n, _)| n.ends_with(".service")) {
        assert!(target.contains(name.as_str()), "aios.target misses {name}");
        assert!(
            text.contains("PartOf=aios.target"),
            "{name} outlives the target"
        );
        assert!(
            text.contains("Restart=on-failure"),
            "{name} is not restarted"
        );
    }
    let autostart = read(&chroot("etc/labwc/autostart"));
    assert!(autostart.contains("systemctl --user start aios.target"));
    assert!(autostart.contains("import-environment WAYLAND_DISPLAY"));
    let rc = read(&chroot("etc/labwc/rc.xml"));
    for key in ["W-Return", "W-b", "W-space"] {
        assert!(rc.contains(&format!("key=\"{key}\"")), "rc.xml lacks {key}");
    }
    // The chat window is found by its app id; the chat sets that id.
    assert!(rc.contains("identifier=\"aios-chat\""));
    let chat = read(&repo().join("crates/aios-chat/src/app.rs"));
    assert!(chat.contains("application_id: \"aios-chat\""));
}

#[test]
fn the_audit_log_the_units_name_is_the_append_only_one() {
    let log = "/var/log/aios/actions.log";
    let env = format!("{}={log}", aios_common::paths::AUDIT_LOG_ENV);
    let agent = read(&chroot("usr/lib/systemd/user/aios-agent.service"));
    assert!(agent.contains(&format!("Environment={env}")));
    assert!(read(&chroot("etc/labwc/environment")).contains(&env));
    let tmpfiles = read(&chroot("usr/lib/tmpfiles.d/aios.conf"));
    assert!(
        tmpfiles
            .lines()
            .any(|l| l.starts_with(&format!("h {log} ")) && l.ends_with("+a")),
        "{tmpfiles}"
    );
    assert!(
        tmpfiles
            .lines()
            .any(|l| l.starts_with(&format!("f {log} 0600 1000 1000")))
    );
}
