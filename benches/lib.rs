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
