//! Benchmarks of AIOS live under `benches/`; run them with `make bench`.

use std::path::{Path, PathBuf};

/// The workspace's root folder (where `models/` and `benches/` are).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `$CARGO_TARGET_DIR` (a relative one taken from the workspace root), or the
/// workspace's `target/`: where the release binaries are and results go (`bench/`).
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_relative() { root.join(p) } else { p })
        .unwrap_or_else(|| root.join("target"))
}

/// One spoken command fixture (a line of `benches/fixtures/commands/commands.tsv`).
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The WAV's path.
    pub path: PathBuf,
    /// The WAV's file name, as the tables show it.
    pub file: String,
    /// `piper` or `espeak`.
    pub voice: String,
    /// What was said.
    pub words: String,
    /// What the command needs: `read` (one read-only tool), `confirm`, `open` or
    /// `none` (an answer, no tool).
    pub kind: String,
}

/// The spoken command fixtures, in their list's order.
pub fn fixtures() -> anyhow::Result<Vec<Fixture>> {
    use anyhow::Context;
    let dir = workspace_root().join("benches/fixtures/commands");
    let list = std::fs::read_to_string(dir.join("commands.tsv"))
        .context("benches/fixtures/commands/commands.tsv")?;
    list.lines()
        .skip(1)
        .map(|line| match line.split('\t').collect::<Vec<_>>()[..] {
            [file, voice, words, _secs, kind] => Ok(Fixture {
                path: dir.join(file),
                file: file.into(),
                voice: voice.into(),
                words: words.into(),
                kind: kind.into(),
            }),
            _ => anyhow::bail!(
                "bad line in commands.tsv (file, voice, words, seconds, kind): {line:?}"
            ),
        })
        .collect()
}
