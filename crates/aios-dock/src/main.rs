//! `aios-dock`: the dock. Everything is in the library ([`aios_dock::run`]).

fn main() -> anyhow::Result<()> {
    aios_dock::run()
}
