//! The built-in tools.

mod audio;
mod display;
mod files;
mod guard;
mod shell;
mod spoken;
mod system;
pub(crate) mod url;
mod wifi;

pub use audio::Volume;
pub use display::Brightness;
pub use files::{FileDelete, FileList, FileRead, FileSearch, FileWrite};
pub use shell::ShellExec;
pub use system::SystemInfo;
pub use url::OpenUrl;
pub use wifi::{WifiConnect, WifiList};

use crate::ToolRegistry;

/// A registry with every built-in tool.
pub fn builtin() -> ToolRegistry {
    let mut r = ToolRegistry::new();
    r.register(FileRead);
    r.register(FileWrite);
    r.register(FileList);
    r.register(FileSearch);
    r.register(FileDelete);
    r.register(ShellExec);
    r.register(WifiList);
    r.register(WifiConnect);
    r.register(Brightness);
    r.register(Volume);
    r.register(SystemInfo);
    r.register(OpenUrl);
    r
}
