//! Where model files are found, the same way in every binary.
//!
//! Order: `$AIOS_MODELS_DIR`, then `models/` in the source tree the binary was built
//! from (so `make run` works from a checkout), then `$XDG_DATA_HOME/aios/models`, then
//! `/usr/share/aios/models` (the live ISO).

use std::path::{Path, PathBuf};

/// Environment variable naming a models directory searched first.
pub const MODELS_DIR_ENV: &str = "AIOS_MODELS_DIR";

/// The models directory of the source tree this crate was built from.
const SOURCE_TREE_MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models");

/// Where the live ISO installs the models.
pub const SYSTEM_MODELS: &str = "/usr/share/aios/models";

/// A model file is not where it should be.
#[derive(Debug, thiserror::Error)]
#[error(
    "model file {name} not found; looked in: {}. Run `make models` in the AIOS source tree to fetch it, or point {MODELS_DIR_ENV} at a directory holding it",
    .tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
)]
pub struct ModelNotFound {
    /// The file asked for, relative to a models directory.
    pub name: String,
    /// Every path tried, in order.
    pub tried: Vec<PathBuf>,
}

/// The directories searched, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::with_capacity(4);
    if let Some(d) = std::env::var_os(MODELS_DIR_ENV) {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(normalize(Path::new(SOURCE_TREE_MODELS)));
    if let Ok(d) = crate::paths::data_home() {
        dirs.push(d.join("aios").join("models"));
    }
    dirs.push(PathBuf::from(SYSTEM_MODELS));
    dirs
}

/// Finds `name` (e.g. `ggml-base.bin`) in the first directory that has it.
pub fn find_model(name: &str) -> Result<PathBuf, ModelNotFound> {
    find_in(name, &search_dirs())
}

fn find_in(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, ModelNotFound> {
    let tried: Vec<PathBuf> = dirs.iter().map(|d| d.join(name)).collect();
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(ModelNotFound {
            name: name.to_owned(),
            tried,
        }),
    }
}

/// Removes `..` lexically so messages show `/src/aios/models`, not `.../crates/x/../../models`.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_directory_holding_the_file_wins() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        std::fs::write(b.path().join("m.bin"), b"x").expect("write");
        let dirs = vec![a.path().to_owned(), b.path().to_owned()];
        assert_eq!(
            find_in("m.bin", &dirs).expect("found"),
            b.path().join("m.bin")
        );
        std::fs::write(a.path().join("m.bin"), b"x").expect("write");
        assert_eq!(
            find_in("m.bin", &dirs).expect("found"),
            a.path().join("m.bin")
        );
    }

    #[test]
    fn missing_model_names_every_path_and_the_fix() {
        let a = tempfile::tempdir().expect("tempdir");
        let err = find_in(
            "ggml-base.bin",
            &[a.path().to_owned(), PathBuf::from("/nowhere")],
        )
        .expect_err("missing");
        let msg = err.to_string();
        assert!(
            msg.contains(&a.path().join("ggml-base.bin").display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("/nowhere/ggml-base.bin"), "{msg}");
        assert!(msg.contains("make models"), "{msg}");
    }

    #[test]
    fn search_order_is_env_source_tree_data_system() {
        let dirs = search_dirs();
        let tree = dirs.iter().position(|d| {
            d.ends_with("models") && d.parent().is_some_and(|p| p.join("Cargo.toml").exists())
        });
        assert!(tree.is_some(), "source tree models dir in {dirs:?}");
        assert_eq!(
            dirs.last().map(PathBuf::as_path),
            Some(Path::new(SYSTEM_MODELS))
        );
        assert!(!dirs.iter().any(|d| d.to_string_lossy().contains("..")));
    }
}
