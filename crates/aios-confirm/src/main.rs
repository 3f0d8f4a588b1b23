//! `aios-confirm`: started by `aios-agent`, one process per question.

fn main() -> std::process::ExitCode {
    aios_confirm::run()
}
