//! Where a write or a delete really lands, and what it may not touch.
//!
//! The model names a path; the file system decides where it leads (`~/..`, a link,
//! a trailing slash that follows a link to a folder). So writes and deletes act on
//! the resolved path, judge that path, and show it to the person. Blocking: call
//! from `spawn_blocking`.

use std::path::{Component, Path, PathBuf};

use crate::tool::{ToolContext, ToolError};

/// Places under the home that run code or change the session when written: shell
/// start-up files, autostart entries, user services, the compositor's config,
/// programs on `PATH`, SSH keys and their config. A write there needs `DELETE`.
const SESSION_PATHS: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".zlogin",
    ".xprofile",
    ".xinitrc",
    ".xsession",
    ".pam_environment",
    ".config/fish",
    ".config/autostart",
    ".config/systemd",
    ".config/environment.d",
    ".config/labwc",
    ".config/sway",
    ".local/bin",
    ".ssh",
    ".gnupg",
];

/// `path` as the file system resolves it. With `follow_last` a link in the last
/// place is followed (a write goes through it); without, the link itself is the
/// target (a delete removes the link). Parts that do not exist yet are appended as
/// written; a `..` among them is refused, since nothing says where it leads.
pub fn resolve(path: &Path, follow_last: bool) -> Result<PathBuf, ToolError> {
    // `components` drops a trailing slash: "link/" must not mean "where link points".
    let clean: PathBuf = path.components().collect();
    if !follow_last && let (Some(parent), Some(name)) = (clean.parent(), clean.file_name()) {
        return Ok(resolve(parent, true)?.join(name));
    }
    if let Ok(real) = std::fs::canonicalize(&clean) {
        return Ok(real);
    }
    // The deepest part that exists, then the rest as written.
    let mut base = clean.as_path();
    let mut rest = Vec::new();
    loop {
        let Some(parent) = base.parent() else {
            return Err(ToolError::failed(format!(
                "cannot resolve {}: no part of it exists",
                path.display()
            )));
        };
        rest.push(base.file_name().map(PathBuf::from).unwrap_or_default());
        if let Ok(real) = std::fs::canonicalize(parent) {
            let mut out = real;
            for part in rest.iter().rev() {
                if part.components().any(|c| matches!(c, Component::ParentDir))
                    || part.as_os_str().is_empty()
                {
                    return Err(ToolError::failed(format!(
                        "cannot resolve {}: it goes up (`..`) from a folder that does not exist",
                        path.display()
                    )));
                }
                out.push(part);
            }
            return Ok(out);
        }
        base = parent;
    }
}

/// The home folder as the file system resolves it.
pub fn real_home(ctx: &ToolContext) -> PathBuf {
    std::fs::canonicalize(&ctx.home).unwrap_or_else(|_| ctx.home.clone())
}

/// Refuses `target` when it is one of AIOS's own files or folders, lies inside one,
/// or holds one: replacing the approver, its config or the audit log would undo
/// every later question.
pub fn refuse_protected(ctx: &ToolContext, target: &Path, verb: &str) -> Result<(), ToolError> {
    for p in &ctx.protected {
        let real = resolve(p, true).unwrap_or_else(|_| p.clone());
        if target.starts_with(&real) || real.starts_with(target) {
            return Err(ToolError::failed(format!(
                "refusing to {verb} {}: it is or holds AIOS's own {} (its programs, config, history and audit log are never changed by a tool; edit them yourself if you must)",
                target.display(),
                real.display()
            )));
        }
    }
    Ok(())
}

/// The session path under the home that `target` is or lies in, if any.
pub fn session_path(ctx: &ToolContext, target: &Path) -> Option<&'static str> {
    let rel = target.strip_prefix(real_home(ctx)).ok()?;
    SESSION_PATHS.iter().copied().find(|s| rel.starts_with(s))
}

/// Counts the files under `dir` (links are counted, never followed), stopping at
/// `limit`; the flag says whether it stopped there.
pub fn count_files(dir: &Path, limit: usize) -> (usize, bool) {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                _ => n += 1,
            }
            if n >= limit {
                return (n, true);
            }
        }
    }
    (n, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_trailing_slashes_and_dots_resolve_as_the_file_system_does() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = std::fs::canonicalize(dir.path()).expect("canon");
        std::fs::create_dir(root.join("real")).expect("mkdir");
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).expect("ln");
        // A delete of "link/" is a delete of the link.
        assert_eq!(
            resolve(&root.join("link/"), false).expect("r"),
            root.join("link")
        );
        // A write through "link/x" lands in the real folder.
        assert_eq!(
            resolve(&root.join("link/x.txt"), true).expect("r"),
            root.join("real/x.txt")
        );
        assert_eq!(
            resolve(&root.join("real/../link/new/deeper.txt"), true).expect("r"),
            root.join("real/new/deeper.txt")
        );
        assert!(resolve(&root.join("missing/../../etc/passwd"), true).is_err());
        // "~/.." ends at the real parent of the home.
        assert_eq!(
            resolve(&root.join("real/.."), false).expect("r"),
            root.clone()
        );
    }

    #[test]
    fn protected_paths_refuse_themselves_their_insides_and_their_folders() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = std::fs::canonicalize(dir.path()).expect("canon");
        let mut ctx = ToolContext::new(root.clone());
        ctx.protected = vec![root.join(".config/aios"), root.join("bin/aios-confirm")];
        for bad in [
            ".config/aios",
            ".config/aios/agent.toml",
            ".config",
            "bin/aios-confirm",
            "bin",
        ] {
            assert!(
                refuse_protected(&ctx, &root.join(bad), "delete").is_err(),
                "{bad}"
            );
        }
        for ok in [".config/other.toml", "bin/aios-confirm2", "notes.txt"] {
            assert!(
                refuse_protected(&ctx, &root.join(ok), "write").is_ok(),
                "{ok}"
            );
        }
        assert_eq!(session_path(&ctx, &root.join(".bashrc")), Some(".bashrc"));
        assert_eq!(
            session_path(&ctx, &root.join(".config/autostart/x.desktop")),
            Some(".config/autostart")
        );
        assert_eq!(session_path(&ctx, &root.join(".bashrc.bak")), None);
        assert_eq!(session_path(&ctx, &root.join("notes/.bashrc")), None);
    }

    #[test]
    fn counting_stops_at_the_limit() {
        let dir = tempfile::tempdir().expect("tmp");
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("{i}")), "x").expect("w");
        }
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/a"), "x").expect("w");
        assert_eq!(count_files(dir.path(), 100), (6, false));
        assert_eq!(count_files(dir.path(), 3), (3, true));
    }
}
