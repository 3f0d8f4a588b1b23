//! The dock driven in Iced's simulator: its states, the meter, the mic button.

use aios_common::ipc::link::LinkEvent;
use aios_common::ipc::{
    InputLevelEvent, IpcMessage, PROTOCOL_VERSION, VoiceState, VoiceStateEvent, Welcome,
};
use aios_dock::app::{Bar, Launcher, Message};
use iced::futures::channel::mpsc;
use iced_test::simulator;

fn bar() -> (Bar, mpsc::Receiver<IpcMessage>) {
    let mut bar = Bar::new(
        "/nonexistent/aios.sock".into(),
        aios_common::config::PttMode::Hold,
        vec![Launcher {
            label: "Chat",
            command: vec!["/nonexistent/aios-chat".into()],
        }],
    );
    let (tx, rx) = mpsc::channel(16);
    let _ = bar.update(Message::Link(LinkEvent::Connected(
        Welcome {
            protocol_version: PROTOCOL_VERSION,
            agent_version: "0.1.0".into(),
            max_frame: 1 << 20,
        },
        tx,
    )));
    (bar, rx)
}

fn agent(bar: &mut Bar, msg: IpcMessage) {
    let _ = bar.update(Message::Link(LinkEvent::Received(msg)));
}

fn shows(bar: &Bar, text: &str) -> bool {
    simulator(bar.view()).find(text).is_ok()
}

#[test]
fn the_mic_button_follows_the_voice_state_with_a_mark_and_a_meter() {
    let (mut bar, _rx) = bar();
    assert!(shows(&bar, "Hold to talk") && shows(&bar, "Chat"));
    assert!(!shows(&bar, "●"), "no open-microphone mark while idle");
    agent(
        &mut bar,
        IpcMessage::VoiceState(VoiceStateEvent {
            state: VoiceState::Listening,
            hands_free: false,
        }),
    );
    agent(
        &mut bar,
        IpcMessage::InputLevel(InputLevelEvent { level: 0.7 }),
    );
    assert!(shows(&bar, "Listening") && shows(&bar, "●"));
    assert_eq!(bar.dock.level, 0.7);
    agent(
        &mut bar,
        IpcMessage::VoiceState(VoiceStateEvent {
            state: VoiceState::Speaking,
            hands_free: false,
        }),
    );
    assert!(shows(&bar, "Speaking: press to stop") && !shows(&bar, "●"));
}

#[test]
fn pressing_and_releasing_the_mic_sends_ptt_start_and_stop() {
    let (mut bar, mut rx) = bar();
    let messages: Vec<Message> = {
        let mut ui = simulator(bar.view());
        ui.click("Hold to talk").expect("the mic button");
        ui.into_messages().collect()
    };
    for m in messages {
        let _ = bar.update(m);
    }
    let mut sent = Vec::new();
    while let Ok(m) = rx.try_recv() {
        sent.push(m.type_name());
    }
    assert_eq!(sent, ["ptt_start", "ptt_stop"]);
}

#[test]
fn offline_the_dock_says_so_and_a_launcher_error_is_shown() {
    let (mut bar, _rx) = bar();
    let _ = bar.update(Message::Link(LinkEvent::Lost("the agent stopped".into())));
    assert!(shows(&bar, "AIOS offline"));
    let _ = bar.update(Message::Launch(0));
    assert!(
        bar.dock
            .note
            .as_deref()
            .is_some_and(|n| n.starts_with("cannot start Chat")),
        "{:?}",
        bar.dock.note
    );
}
