//! File tools: read, write, list, search, delete. Paths may start with `~`; relative
//! paths are taken from the home folder.

use std::path::{Path, PathBuf};

use aios_common::types::{ToolDefinition, TrustRequirement};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::tool::{Assessment, Tool, ToolContext, ToolError, definition_for, parse_args};
use crate::tools::guard;
use crate::tools::spoken::{base, count, series};

/// Most files `file_search` reports.
const SEARCH_LIMIT: usize = 50;
/// Most entries `file_search` looks at, so a search of `/` ends.
const SEARCH_VISIT_LIMIT: usize = 20_000;
/// Longest file text read out as it is after `file_read` (characters).
const SPOKEN_READ_MAX: usize = 200;
/// Most names read out after a listing or a search.
const SPOKEN_NAMES: usize = 5;
/// Files larger than this are not opened by `file_search` for their text.
const SEARCH_TEXT_MAX: u64 = 1 << 20;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PathArgs {
    /// Absolute path (or starting with ~)
    #[schemars(length(min = 1))]
    path: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    /// Absolute path of the file (or starting with ~)
    #[schemars(length(min = 1))]
    path: String,
    /// The text to write
    content: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    /// Absolute path of the folder to search (or starting with ~)
    #[schemars(length(min = 1))]
    path: String,
    /// Words to look for
    #[schemars(length(min = 1))]
    query: String,
}

fn io_err(what: &str, path: &Path, e: &std::io::Error) -> ToolError {
    ToolError::failed(format!("cannot {what} {}: {e}", path.display()))
}

/// `file_read`: a text file's contents, cut at the output cap.
#[derive(Debug, Default)]
pub struct FileRead;

#[async_trait::async_trait]
impl Tool for FileRead {
    fn definition(&self) -> ToolDefinition {
        definition_for::<PathArgs>("file_read", "Read a text file and return its contents.")
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::None
    }
    fn describe(&self, args: &Value) -> String {
        format!("Read {}", args["path"].as_str().unwrap_or("?"))
    }
    fn spoken(&self, _request: &str, output: &str) -> Option<String> {
        // A short text is read out as it is; a longer one needs the model to say
        // what the person wants to know from it.
        let text = output.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return Some("The file is empty.".into());
        }
        (text.chars().count() <= SPOKEN_READ_MAX && !output.contains("\n[output cut"))
            .then(|| format!("It says: {text}"))
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: PathArgs = parse_args("file_read", args)?;
        let path = ctx.resolve(&a.path);
        let cap = ctx.read_cap;
        let (bytes, size) = tokio::task::spawn_blocking({
            let path = path.clone();
            move || read_regular(&path, cap)
        })
        .await
        .map_err(|e| ToolError::failed(format!("reading {} stopped: {e}", path.display())))?
        .map_err(|e| match e {
            ReadError::Io(e) => io_err("read", &path, &e),
            ReadError::NotRegular(kind) => ToolError::failed(format!(
                "{} is {kind}, not a file; only regular files are read",
                path.display()
            )),
        })?;
        if bytes.iter().take(8192).any(|&b| b == 0) {
            return Err(ToolError::failed(format!(
                "{} is a binary file ({size} bytes), not text",
                path.display(),
            )));
        }
        // A file cut at the read cap gets the output cap's marker with its real
        // size, so the spoken summary and the model both see it is not whole.
        Ok(ctx.cap_of(&String::from_utf8_lossy(&bytes), size))
    }
}

enum ReadError {
    Io(std::io::Error),
    NotRegular(&'static str),
}

/// At most `cap` bytes of the regular file at `path`, with its size. Opened without
/// blocking, so a FIFO cannot hold the thread; devices (`/dev/zero`), FIFOs and
/// sockets are refused before a byte is read.
fn read_regular(path: &Path, cap: usize) -> Result<(Vec<u8>, u64), ReadError> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    let t = meta.file_type();
    if !t.is_file() {
        return Err(ReadError::NotRegular(if t.is_dir() {
            "a folder"
        } else if t.is_fifo() {
            "a pipe (FIFO)"
        } else if t.is_socket() {
            "a socket"
        } else {
            "a device"
        }));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(cap as u64) as usize);
    file.take(cap as u64)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    Ok((bytes, meta.len()))
}

/// `file_write`: creates or replaces a file (and its missing parent folders).
#[derive(Debug, Default)]
pub struct FileWrite;

#[async_trait::async_trait]
impl Tool for FileWrite {
    fn definition(&self) -> ToolDefinition {
        definition_for::<WriteArgs>(
            "file_write",
            "Write text to a file, creating it or replacing its contents.",
        )
    }
    fn output_is_content(&self) -> bool {
        false
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::Confirm
    }
    fn describe(&self, args: &Value) -> String {
        let n = args["content"].as_str().map_or(0, str::len);
        format!(
            "Write {n} bytes to {}",
            args["path"].as_str().unwrap_or("?")
        )
    }
    async fn assess(&self, args: &Value, ctx: &ToolContext) -> Result<Assessment, ToolError> {
        let a: WriteArgs = parse_args("file_write", args.clone())?;
        Ok(blocking(ctx, move |ctx| write_plan(ctx, &a.path))
            .await?
            .assessment())
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: WriteArgs = parse_args("file_write", args)?;
        let plan = blocking(ctx, {
            let path = a.path.clone();
            move |ctx| write_plan(ctx, &path)
        })
        .await?;
        let path = plan.target;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| io_err("create the folder", parent, &e))?;
        }
        tokio::fs::write(&path, a.content.as_bytes())
            .await
            .map_err(|e| io_err("write", &path, &e))?;
        Ok(format!(
            "{} {} ({} bytes)",
            if plan.replaces.is_some() {
                "Replaced"
            } else {
                "Created"
            },
            path.display(),
            a.content.len()
        ))
    }
}

/// Runs a blocking file-system judgement off the async runtime.
async fn blocking<T: Send + 'static>(
    ctx: &ToolContext,
    f: impl FnOnce(&ToolContext) -> Result<T, ToolError> + Send + 'static,
) -> Result<T, ToolError> {
    let ctx = ctx.clone();
    tokio::task::spawn_blocking(move || f(&ctx))
        .await
        .map_err(|e| ToolError::failed(format!("the file check stopped: {e}")))?
}

/// Where a write lands and what it changes.
struct WritePlan {
    /// The resolved file (a link is written through, so this is where it points).
    target: PathBuf,
    /// Size of the file it replaces.
    replaces: Option<u64>,
    /// The session path it is in (`.bashrc`, `.config/autostart`).
    session: Option<&'static str>,
    /// The path as the model wrote it resolves elsewhere (a link, `..`).
    moved: bool,
}

impl WritePlan {
    fn assessment(&self) -> Assessment {
        let mut notes = Vec::new();
        if self.moved {
            notes.push(format!("writes {}", self.target.display()));
        }
        if let Some(s) = self.session {
            notes.push(format!("~/{s} runs code or changes your session"));
        }
        if let Some(n) = self.replaces {
            notes.push(format!("replaces an existing file of {n} bytes"));
        }
        let requirement = if self.session.is_some() || self.replaces.is_some() {
            TrustRequirement::DoubleConfirm
        } else {
            TrustRequirement::Confirm
        };
        Assessment { requirement, notes }
    }
}

fn write_plan(ctx: &ToolContext, path: &str) -> Result<WritePlan, ToolError> {
    let asked = ctx.resolve(path);
    let target = guard::resolve(&asked, true)?;
    guard::refuse_protected(ctx, &target, "write")?;
    let replaces = match std::fs::metadata(&target) {
        Ok(m) if m.is_dir() => {
            return Err(ToolError::failed(format!(
                "{} is a folder; give the path of a file in it",
                target.display()
            )));
        }
        Ok(m) if !m.is_file() => {
            return Err(ToolError::failed(format!(
                "{} is not a regular file (a device, pipe or socket); refusing to write it",
                target.display()
            )));
        }
        Ok(m) => Some(m.len()),
        Err(_) => None,
    };
    let plain: PathBuf = asked.components().collect();
    Ok(WritePlan {
        session: guard::session_path(ctx, &target),
        moved: plain != target && guard::resolve(&plain, false).ok().as_ref() != Some(&target),
        target,
        replaces,
    })
}

/// `file_list`: the entries of a folder, folders first.
#[derive(Debug, Default)]
pub struct FileList;

#[async_trait::async_trait]
impl Tool for FileList {
    fn definition(&self) -> ToolDefinition {
        definition_for::<PathArgs>("file_list", "List the files and folders inside a folder.")
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::None
    }
    fn describe(&self, args: &Value) -> String {
        format!("List {}", args["path"].as_str().unwrap_or("?"))
    }
    fn spoken(&self, _request: &str, output: &str) -> Option<String> {
        if let Some(path) = output.strip_suffix(" is empty") {
            return Some(format!("{} is empty.", base(path)));
        }
        let (head, rest) = output.split_once(":\n")?;
        let (path, n) = head.rsplit_once(" (")?;
        let n: usize = n.split_whitespace().next()?.parse().ok()?;
        let names: Vec<String> = rest
            .lines()
            .take_while(|l| !l.starts_with("[output cut"))
            .map(|l| match l.strip_suffix('/') {
                Some(dir) => format!("the folder {dir}"),
                None => l.rsplit_once(" (").map_or(l, |(name, _)| name).to_owned(),
            })
            .collect();
        Some(format!(
            "{} has {}: {}.",
            base(path),
            count(n, "item", "items"),
            series(&names, SPOKEN_NAMES)
        ))
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: PathArgs = parse_args("file_list", args)?;
        let path = ctx.resolve(&a.path);
        let mut dir = tokio::fs::read_dir(&path)
            .await
            .map_err(|e| io_err("list", &path, &e))?;
        let mut entries = Vec::new();
        while let Some(e) = dir
            .next_entry()
            .await
            .map_err(|e| io_err("list", &path, &e))?
        {
            let meta = e.metadata().await.ok();
            let is_dir = meta.as_ref().is_some_and(std::fs::Metadata::is_dir);
            let size = meta.map_or(0, |m| m.len());
            entries.push((!is_dir, e.file_name().to_string_lossy().into_owned(), size));
        }
        entries.sort();
        if entries.is_empty() {
            return Ok(format!("{} is empty", path.display()));
        }
        let mut out = format!("{} ({} entries):\n", path.display(), entries.len());
        for (is_file, name, size) in entries {
            if is_file {
                out.push_str(&format!("{name} ({size} bytes)\n"));
            } else {
                out.push_str(&format!("{name}/\n"));
            }
        }
        Ok(ctx.cap(out.trim_end()))
    }
}

/// `file_search`: files under a folder whose name or text contains the query
/// (case-insensitive).
#[derive(Debug, Default)]
pub struct FileSearch;

#[async_trait::async_trait]
impl Tool for FileSearch {
    fn definition(&self) -> ToolDefinition {
        definition_for::<SearchArgs>(
            "file_search",
            "Find files under a folder whose name or text contains a query.",
        )
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::None
    }
    fn spoken(&self, _request: &str, output: &str) -> Option<String> {
        if let Some(rest) = output.strip_prefix("nothing under ") {
            let (path, query) = rest.split_once(" matches ")?;
            return Some(format!("Nothing in {} matches {query}.", base(path)));
        }
        let (head, rest) = output.split_once(":\n")?;
        let n: usize = head.strip_suffix(" matches")?.parse().ok()?;
        let names: Vec<String> = rest
            .lines()
            .take_while(|l| !l.starts_with("[output cut"))
            .map(|l| base(l).to_owned())
            .collect();
        Some(format!(
            "I found {}: {}.",
            count(n, "match", "matches"),
            series(&names, SPOKEN_NAMES)
        ))
    }
    fn describe(&self, args: &Value) -> String {
        format!(
            "Search {} for \"{}\"",
            args["path"].as_str().unwrap_or("?"),
            args["query"].as_str().unwrap_or("?")
        )
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: SearchArgs = parse_args("file_search", args)?;
        let root = ctx.resolve(&a.path);
        let query = a.query.to_lowercase();
        let found = tokio::task::spawn_blocking({
            let root = root.clone();
            move || search(&root, &query)
        })
        .await
        .map_err(|e| ToolError::failed(format!("search stopped: {e}")))??;
        if found.is_empty() {
            return Ok(format!(
                "nothing under {} matches \"{}\"",
                root.display(),
                a.query
            ));
        }
        let lines: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
        Ok(ctx.cap(&format!("{} matches:\n{}", lines.len(), lines.join("\n"))))
    }
}

fn search(root: &Path, query: &str) -> Result<Vec<PathBuf>, ToolError> {
    if !root.is_dir() {
        return Err(ToolError::failed(format!(
            "{} is not a folder",
            root.display()
        )));
    }
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    let mut visited = 0;
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<_> = rd.flatten().collect();
        names.sort_by_key(std::fs::DirEntry::file_name);
        for e in names {
            visited += 1;
            if visited > SEARCH_VISIT_LIMIT || found.len() >= SEARCH_LIMIT {
                return Ok(found);
            }
            let Ok(ft) = e.file_type() else { continue };
            let path = e.path();
            let name_hit = e
                .file_name()
                .to_string_lossy()
                .to_lowercase()
                .contains(query);
            if ft.is_dir() {
                if name_hit {
                    found.push(path.clone());
                }
                stack.push(path);
            } else if ft.is_file() {
                let text_hit = || {
                    e.metadata().is_ok_and(|m| m.len() <= SEARCH_TEXT_MAX)
                        && std::fs::read(&path).is_ok_and(|b| {
                            !b.contains(&0)
                                && String::from_utf8_lossy(&b).to_lowercase().contains(query)
                        })
                };
                if name_hit || text_hit() {
                    found.push(path);
                }
            }
        }
    }
    Ok(found)
}

/// `file_delete`: removes a file, or a folder with everything in it. The home folder
/// and `/` are never removed.
#[derive(Debug, Default)]
pub struct FileDelete;

#[async_trait::async_trait]
impl Tool for FileDelete {
    fn definition(&self) -> ToolDefinition {
        definition_for::<PathArgs>("file_delete", "Delete a file or a folder.")
    }
    fn output_is_content(&self) -> bool {
        false
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::DoubleConfirm
    }
    fn describe(&self, args: &Value) -> String {
        format!("Delete {}", args["path"].as_str().unwrap_or("?"))
    }
    async fn assess(&self, args: &Value, ctx: &ToolContext) -> Result<Assessment, ToolError> {
        let a: PathArgs = parse_args("file_delete", args.clone())?;
        let plan = blocking(ctx, move |ctx| delete_plan(ctx, &a.path)).await?;
        Ok(Assessment {
            requirement: TrustRequirement::DoubleConfirm,
            notes: vec![plan.to_string()],
        })
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: PathArgs = parse_args("file_delete", args)?;
        let plan = blocking(ctx, move |ctx| delete_plan(ctx, &a.path)).await?;
        let path = &plan.target;
        match plan.kind {
            Doomed::Folder { .. } => {
                // `remove_dir_all` removes links inside, never what they point to.
                tokio::fs::remove_dir_all(path)
                    .await
                    .map_err(|e| io_err("delete", path, &e))?;
            }
            Doomed::File { .. } | Doomed::Link { .. } => {
                tokio::fs::remove_file(path)
                    .await
                    .map_err(|e| io_err("delete", path, &e))?;
            }
        }
        Ok(format!("Deleted {plan}").replacen("removes ", "", 1))
    }
}

/// Most files counted for the prompt of a folder delete.
const DELETE_COUNT_LIMIT: usize = 100_000;

/// What a delete removes.
struct DeletePlan {
    target: PathBuf,
    kind: Doomed,
}

enum Doomed {
    File { bytes: u64 },
    Link { to: PathBuf },
    Folder { files: usize, more: bool },
}

impl std::fmt::Display for DeletePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.target.display();
        match &self.kind {
            Doomed::File { bytes } => write!(f, "removes the file {t} ({bytes} bytes)"),
            Doomed::Link { to } => write!(
                f,
                "removes the link {t} itself, not {} it points to",
                to.display()
            ),
            Doomed::Folder { files, more } => write!(
                f,
                "removes the folder {t} and the {}{files} files in it",
                if *more { "more than " } else { "" }
            ),
        }
    }
}

/// Resolves a delete: the link itself (never followed, trailing slash or not),
/// refusing the home, its ancestors, `/` and AIOS's own files.
fn delete_plan(ctx: &ToolContext, path: &str) -> Result<DeletePlan, ToolError> {
    let target = guard::resolve(&ctx.resolve(path), false)?;
    let home = guard::real_home(ctx);
    if home.starts_with(&target) {
        return Err(ToolError::failed(format!(
            "refusing to delete {}: it is the home folder, a folder that holds it, or the root",
            target.display()
        )));
    }
    guard::refuse_protected(ctx, &target, "delete")?;
    let meta = std::fs::symlink_metadata(&target).map_err(|e| io_err("find", &target, &e))?;
    let kind = if meta.file_type().is_symlink() {
        Doomed::Link {
            to: std::fs::read_link(&target).unwrap_or_default(),
        }
    } else if meta.is_dir() {
        let (files, more) = guard::count_files(&target, DELETE_COUNT_LIMIT);
        Doomed::Folder { files, more }
    } else {
        Doomed::File { bytes: meta.len() }
    };
    Ok(DeletePlan { target, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_and_searches_are_said_in_one_sentence() {
        let list = "/home/ada/Documents (7 entries):\nphotos/\na.txt (3 bytes)\nb (2).pdf (9 bytes)\nc.md (1 bytes)\nd.txt (1 bytes)\ne.txt (1 bytes)\nf.txt (1 bytes)";
        assert_eq!(
            FileList.spoken("", list).as_deref(),
            Some(
                "Documents has 7 items: the folder photos, a.txt, b (2).pdf, c.md, d.txt and 2 more."
            )
        );
        assert_eq!(
            FileList.spoken("", "/home/ada/Music is empty").as_deref(),
            Some("Music is empty.")
        );
        assert_eq!(
            FileSearch
                .spoken("", "2 matches:\n/home/ada/Documents/budget 2026.ods\n/home/ada/Documents/old/budget.txt")
                .as_deref(),
            Some("I found 2 matches: budget 2026.ods and budget.txt.")
        );
        assert_eq!(
            FileSearch
                .spoken("", "nothing under /home/ada/Pictures matches \"beach\"")
                .as_deref(),
            Some("Nothing in Pictures matches \"beach\".")
        );
    }

    #[test]
    fn a_short_file_is_read_out_a_long_one_left_to_the_model() {
        assert_eq!(
            FileRead.spoken("", "Milk, eggs,\nbread.\n").as_deref(),
            Some("It says: Milk, eggs, bread.")
        );
        assert_eq!(FileRead.spoken("", &"word ".repeat(100)), None);
        assert_eq!(
            FileRead.spoken("", "abc\n[output cut: 3 of 9000 bytes shown]"),
            None
        );
    }
}
