//! The never-rules of the crate layout, checked on the real dependency graph
//! (`cargo metadata`), so that a new dependency that breaks one fails the build's
//! tests rather than a review:
//! - GUIs, the CLI, confirm, voice, tools and the audit log never depend on
//!   `aios-agent`;
//! - only `aios-llm` depends on llama.cpp (`llama-cpp-2`), and the agent and the
//!   benches take `aios-llm` without its `engine` feature (the protocol types only);
//! - only `aios-voice` depends on whisper.cpp (`whisper-rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Workspace package name -> its normal (non-dev) dependencies' names.
fn graph() -> (Value, BTreeMap<String, BTreeSet<String>>) {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
            "x86_64-unknown-linux-gnu",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).expect("metadata json");
    let name = |id: &str| -> String {
        m["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["id"] == id)
            .and_then(|p| p["name"].as_str())
            .unwrap_or("?")
            .to_owned()
    };
    let mut g = BTreeMap::new();
    for node in m["resolve"]["nodes"].as_array().expect("nodes") {
        let deps: BTreeSet<String> = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|d| {
                d["dep_kinds"].as_array().is_some_and(|k| {
                    k.iter()
                        .any(|k| k["kind"].is_null() || k["kind"] == "build")
                })
            })
            .map(|d| name(d["pkg"].as_str().expect("pkg")))
            .collect();
        g.insert(name(node["id"].as_str().expect("id")), deps);
    }
    (m, g)
}

/// Everything `from` reaches through normal and build dependencies.
fn reach(g: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_owned()];
    while let Some(p) = todo.pop() {
        for d in g.get(&p).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn the_crate_layout_keeps_its_never_rules() {
    let (m, g) = graph();
    for front in [
        "aios-chat",
        "aios-dock",
        "aios-cli",
        "aios-audit",
        "aios-confirm",
        "aios-voice",
        "aios-mcp",
        "aios-memory",
    ] {
        assert!(g.contains_key(front), "{front} is in the workspace");
        assert!(
            !reach(&g, front).contains("aios-agent"),
            "{front} depends on aios-agent"
        );
    }
    for (lib, only) in [("llama-cpp-2", "aios-llm"), ("whisper-rs", "aios-voice")] {
        let users: Vec<&String> = g
            .iter()
            .filter(|(p, deps)| p.starts_with("aios") && deps.contains(lib))
            .map(|(p, _)| p)
            .collect();
        assert_eq!(users, [only], "only {only} may depend on {lib}");
    }
    // The agent and the benches use aios-llm's protocol types only.
    for user in ["aios-agent", "aios-benches"] {
        let pkg = m["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["name"] == user)
            .expect(user);
        let dep = pkg["dependencies"]
            .as_array()
            .expect("deps")
            .iter()
            .find(|d| d["name"] == "aios-llm")
            .expect("aios-llm");
        assert_eq!(
            dep["uses_default_features"], false,
            "{user} takes aios-llm's engine"
        );
        assert!(
            !dep["features"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f == "engine")),
            "{user} takes aios-llm's engine"
        );
    }
}
