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

/// The bar in each voice state, drawn by Iced's own renderer (tiny-skia, as on the
/// screen) at the size sway gives it; `make screenshots` keeps the pictures.
#[test]
fn each_voice_state_draws_differently() {
    use aios_dock::status::{Battery, Status, Volume, Wifi};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pictures = Vec::new();
    for (name, state, hands_free) in [
        ("idle", VoiceState::Idle, false),
        ("listening", VoiceState::Listening, false),
        ("transcribing", VoiceState::Transcribing, false),
        ("thinking", VoiceState::Thinking, false),
        ("speaking", VoiceState::Speaking, false),
    ] {
        let (mut bar, _rx) = bar();
        let _ = bar.update(Message::Status(Status {
            wifi: Some(Wifi::Connected {
                ssid: "HomeNet".into(),
                strength: 72,
            }),
            volume: Some(Volume {
                percent: 40,
                muted: false,
            }),
            battery: Some(Battery {
                percent: 57,
                charging: true,
            }),
        }));
        agent(
            &mut bar,
            IpcMessage::VoiceState(VoiceStateEvent { state, hands_free }),
        );
        if state == VoiceState::Listening {
            agent(
                &mut bar,
                IpcMessage::InputLevel(InputLevelEvent { level: 0.6 }),
            );
        }
        let mut ui =
            iced_test::Simulator::with_size(iced::Settings::default(), (1280.0, 48.0), bar.view());
        let shot = ui.snapshot(&iced::Theme::Dark).expect("draw the bar");
        // Iced names the file after the renderer too (`dock-idle-tiny-skia.png`).
        let stem = format!("dock-{name}");
        assert!(
            shot.matches_image(dir.path().join(&stem))
                .expect("write the picture")
        );
        let path = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{stem}-")))
            })
            .expect("the picture");
        let png = std::fs::read(&path).expect("read the picture");
        if let Some(out) = std::env::var_os("AIOS_SCREENSHOTS") {
            std::fs::write(
                std::path::Path::new(&out).join(format!("dock-{name}.png")),
                &png,
            )
            .expect("keep the picture");
        }
        pictures.push((name, png));
    }
    for (i, (a, pa)) in pictures.iter().enumerate() {
        for (b, pb) in &pictures[i + 1..] {
            assert_ne!(pa, pb, "the {a} and {b} bars look the same");
        }
    }
}
