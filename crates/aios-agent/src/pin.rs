//! Executables the agent starts, pinned by their SHA-256.
//!
//! `aios-confirm` decides every question and `aios-llm` writes every tool call. A
//! program that can write files (a tool, with one "y" or none) could replace either
//! with one that approves everything or calls whatever it likes. So the agent hashes
//! each when it first sees it (at start) and refuses to start a changed one: the
//! question is denied, the worker fails with the reason. Reinstalling on purpose
//! means restarting the agent.
//!
//! The check reads the file by path right before it is started; a program racing
//! the agent in that instant already runs as the person and needs no tool.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// An executable and the digest it had when first seen.
#[derive(Debug)]
pub struct Pinned {
    path: PathBuf,
    digest: OnceLock<[u8; 32]>,
}

impl Pinned {
    /// Pins `path` as it is now (if it can be read now; else at the first check).
    pub fn now(path: PathBuf) -> Self {
        let digest = OnceLock::new();
        if let Ok(d) = sha256_file(&path) {
            let _ = digest.set(d);
        }
        Self { path, digest }
    }

    /// The executable's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Ok` when the file is still the one pinned; `Err` says what changed and what
    /// to do.
    pub fn check(&self) -> Result<(), String> {
        let now = sha256_file(&self.path)
            .map_err(|e| format!("cannot read {} to check it: {e}", self.path.display()))?;
        let first = *self.digest.get_or_init(|| now);
        if first == now {
            Ok(())
        } else {
            Err(format!(
                "{} changed since the agent started (its SHA-256 is now {}, was {}), so it was not started; if you reinstalled it yourself, restart the agent",
                self.path.display(),
                hex(&now[..6]),
                hex(&first[..6]),
            ))
        }
    }
}

/// [`Pinned::check`] off the async runtime (hashing a worker binary of a few
/// hundred megabytes takes a while).
pub async fn check(pin: &std::sync::Arc<Pinned>) -> Result<(), String> {
    let pin = pin.clone();
    tokio::task::spawn_blocking(move || pin.check())
        .await
        .unwrap_or_else(|e| Err(format!("the check of the executable stopped: {e}")))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of a file's contents.
pub fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut h)?;
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_fails_the_check_and_says_why() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("aios-confirm");
        std::fs::write(&p, "real").expect("w");
        let pin = Pinned::now(p.clone());
        assert_eq!(pin.check(), Ok(()));
        std::fs::write(&p, "#!/bin/sh\necho approved\n").expect("w");
        let e = pin.check().expect_err("changed");
        assert!(e.contains("changed since the agent started"), "{e}");
        std::fs::remove_file(&p).expect("rm");
        assert!(pin.check().expect_err("gone").contains("cannot read"));
        // Back as it was: fine again.
        std::fs::write(&p, "real").expect("w");
        assert_eq!(pin.check(), Ok(()));
    }
}
