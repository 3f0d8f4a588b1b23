//! `aios-chat`: the chat window. Everything is in the library ([`aios_chat::run`]).

fn main() -> anyhow::Result<()> {
    aios_chat::run()
}
