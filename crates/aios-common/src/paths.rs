//! XDG locations and the agent socket path.
//!
//! Every binary resolves paths through here so that the agent and its clients always
//! agree on where the socket is, with or without a login session.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Environment variable overriding the socket path.
pub const SOCKET_ENV: &str = "AIOS_SOCKET";
/// Environment variable overriding the agent config file path.
pub const CONFIG_ENV: &str = "AIOS_CONFIG";
/// Environment variable naming the audit log when the config does not (the live
/// image sets it to `/var/log/aios/actions.log`, an append-only file the person
/// cannot rewrite).
pub const AUDIT_LOG_ENV: &str = "AIOS_AUDIT_LOG";
/// File name of the agent socket inside the runtime directory.
pub const SOCKET_NAME: &str = "aios-agent.sock";

/// A path could not be determined or is unsafe to use.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The private fallback directory exists but is not ours alone.
    #[error(
        "refusing to use {dir}: {why}; remove it, or set XDG_RUNTIME_DIR or AIOS_SOCKET to a private directory"
    )]
    UnsafeDir {
        /// The directory.
        dir: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// Neither the XDG variable nor `HOME` is set.
    #[error("cannot find the {what} directory: set {var} or HOME")]
    NoHome {
        /// Which directory.
        what: &'static str,
        /// The XDG variable that would name it.
        var: &'static str,
    },
    /// Creating or inspecting a directory failed.
    #[error("cannot create {dir}: {source}")]
    Io {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

fn xdg_dir(var: &'static str, home_rel: &str, what: &'static str) -> Result<PathBuf, PathError> {
    env_path(var)
        .or_else(|| env_path("HOME").map(|h| h.join(home_rel)))
        .ok_or(PathError::NoHome { what, var })
}

/// `$XDG_CONFIG_HOME`, else `$HOME/.config`.
pub fn config_home() -> Result<PathBuf, PathError> {
    xdg_dir("XDG_CONFIG_HOME", ".config", "config")
}

/// `$XDG_STATE_HOME`, else `$HOME/.local/state`.
pub fn state_home() -> Result<PathBuf, PathError> {
    xdg_dir("XDG_STATE_HOME", ".local/state", "state")
}

/// `$XDG_DATA_HOME`, else `$HOME/.local/share`.
pub fn data_home() -> Result<PathBuf, PathError> {
    xdg_dir("XDG_DATA_HOME", ".local/share", "data")
}

/// `$XDG_CACHE_HOME`, else `$HOME/.cache`.
pub fn cache_home() -> Result<PathBuf, PathError> {
    xdg_dir("XDG_CACHE_HOME", ".cache", "cache")
}

/// The audit log: `configured`, else `$AIOS_AUDIT_LOG`, else
/// `<state home>/aios/actions.log`.
pub fn audit_log_path(configured: Option<&Path>) -> Result<PathBuf, PathError> {
    if let Some(p) = configured {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = env_path(AUDIT_LOG_ENV) {
        return Ok(p);
    }
    Ok(state_home()?.join("aios").join("actions.log"))
}

/// The agent config file: `$AIOS_CONFIG`, else `<config home>/aios/agent.toml`.
pub fn agent_config_path() -> Result<PathBuf, PathError> {
    if let Some(p) = std::env::var_os(CONFIG_ENV) {
        return Ok(PathBuf::from(p));
    }
    Ok(config_home()?.join("aios").join("agent.toml"))
}

/// The per-user runtime directory: `$XDG_RUNTIME_DIR`, else a private
/// `/tmp/aios-<uid>` (mode 0700, owned by us) for machines without a login session.
pub fn runtime_dir() -> Result<PathBuf, PathError> {
    if let Some(dir) = env_path("XDG_RUNTIME_DIR") {
        return Ok(dir);
    }
    let uid = nix::unistd::getuid().as_raw();
    let dir = std::env::temp_dir().join(format!("aios-{uid}"));
    ensure_private_dir(&dir, uid)?;
    Ok(dir)
}

/// Creates `dir` with mode 0700 or checks that the existing one is a real directory
/// owned by `uid` and closed to others: in a shared `/tmp` another user could have
/// created it first to capture our socket.
pub fn ensure_private_dir(dir: &Path, uid: u32) -> Result<(), PathError> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(PathError::Io {
                dir: dir.to_owned(),
                source,
            });
        }
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|source| PathError::Io {
        dir: dir.to_owned(),
        source,
    })?;
    let unsafe_dir = |why: String| PathError::UnsafeDir {
        dir: dir.to_owned(),
        why,
    };
    if !meta.file_type().is_dir() {
        return Err(unsafe_dir("it is not a directory".into()));
    }
    if meta.uid() != uid {
        return Err(unsafe_dir(format!("it belongs to uid {}", meta.uid())));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_dir(format!("its mode is {mode:o}, not 700")));
    }
    Ok(())
}

/// The agent socket: `$AIOS_SOCKET`, else the config's `socket_path`, else
/// `<runtime dir>/aios-agent.sock`.
pub fn socket_path(configured: Option<&Path>) -> Result<PathBuf, PathError> {
    if let Some(p) = std::env::var_os(SOCKET_ENV) {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = configured {
        return Ok(p.to_owned());
    }
    Ok(runtime_dir()?.join(SOCKET_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dir_is_created_0700_and_rechecked() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("aios-test");
        let uid = nix::unistd::getuid().as_raw();
        ensure_private_dir(&dir, uid).expect("create");
        let mode = std::fs::metadata(&dir).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        ensure_private_dir(&dir, uid).expect("existing private dir is accepted");
    }

    #[test]
    fn open_or_foreign_dir_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("open");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let uid = nix::unistd::getuid().as_raw();
        let err = ensure_private_dir(&dir, uid).expect_err("0755 must be refused");
        assert!(err.to_string().contains("755"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let err = ensure_private_dir(&dir, uid.wrapping_add(1)).expect_err("foreign owner");
        assert!(err.to_string().contains("belongs to uid"), "{err}");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).expect("symlink");
        let err = ensure_private_dir(&link, uid).expect_err("symlink refused");
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}
