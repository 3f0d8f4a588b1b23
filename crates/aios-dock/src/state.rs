//! The dock's state, apart from any widget: the link, the voice pipeline's state,
//! the microphone level, and what a press or release of the mic button sends.

use aios_common::config::PttMode;
use aios_common::ipc::{IpcMessage, PttRequest, VoiceState};
use uuid::Uuid;

/// Everything the dock shows.
#[derive(Debug, Clone)]
pub struct Dock {
    /// Connected to the agent; else why not.
    pub link: Result<(), String>,
    /// What the voice pipeline does.
    pub voice: VoiceState,
    /// Hands-free listening is on.
    pub hands_free: bool,
    /// Microphone level while listening, 0 to 1.
    pub level: f32,
    /// Hold to talk, or click to start and click to stop.
    pub mode: PttMode,
    /// The mic button is held down (hold), or listening was started by it (toggle).
    held: bool,
    /// The last thing a launcher or the agent said went wrong, shown briefly.
    pub note: Option<String>,
}

impl Default for Dock {
    fn default() -> Self {
        Self {
            link: Err("connecting".into()),
            voice: VoiceState::Idle,
            hands_free: false,
            level: 0.0,
            mode: PttMode::Hold,
            held: false,
            note: None,
        }
    }
}

fn ptt(start: bool) -> IpcMessage {
    let req = PttRequest {
        request_id: Uuid::new_v4(),
    };
    if start {
        IpcMessage::PttStart(req)
    } else {
        IpcMessage::PttStop(req)
    }
}

impl Dock {
    /// A dock whose mic button works as `mode` says, not yet connected.
    pub fn new(mode: PttMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    /// The mic button went down: listen (while speaking, this interrupts the reply:
    /// barge-in). In toggle mode a second click ends the utterance.
    pub fn press(&mut self) -> Option<IpcMessage> {
        if self.link.is_err() {
            return None;
        }
        match (self.mode, self.held) {
            (PttMode::Hold, true) => None,
            (PttMode::Toggle, true) => {
                self.held = false;
                Some(ptt(false))
            }
            (_, false) => {
                self.held = true;
                Some(ptt(true))
            }
        }
    }

    /// The mic button came up: with hold to talk, the utterance is complete.
    pub fn release(&mut self) -> Option<IpcMessage> {
        if self.mode == PttMode::Toggle || !std::mem::take(&mut self.held) {
            return None;
        }
        Some(ptt(false))
    }

    /// The microphone is open (listening, or hands-free and connected): the dock
    /// shows it, always.
    pub fn mic_open(&self) -> bool {
        self.voice == VoiceState::Listening || (self.hands_free && self.link.is_ok())
    }

    /// The mic button's words.
    pub fn label(&self) -> &'static str {
        match (&self.link, self.voice) {
            (Err(_), _) => "AIOS offline",
            (Ok(()), VoiceState::Listening) if self.mode == PttMode::Toggle && self.held => {
                "Listening: click to end"
            }
            (Ok(()), VoiceState::Listening) => "Listening",
            (Ok(()), VoiceState::Transcribing) => "Transcribing",
            (Ok(()), VoiceState::Thinking) => "Thinking",
            (Ok(()), VoiceState::Speaking) => "Speaking: press to stop",
            (Ok(()), VoiceState::Idle) if self.hands_free => "Listening for speech",
            (Ok(()), VoiceState::Idle) if self.mode == PttMode::Toggle => "Click to talk",
            (Ok(()), VoiceState::Idle) => "Hold to talk",
        }
    }

    /// The link is up.
    pub fn connected(&mut self) {
        self.link = Ok(());
    }

    /// The link is down; the button is let go.
    pub fn lost(&mut self, why: String) {
        self.link = Err(why);
        self.voice = VoiceState::Idle;
        self.level = 0.0;
        self.held = false;
    }

    /// What the agent sent.
    pub fn apply(&mut self, msg: &IpcMessage) {
        match msg {
            IpcMessage::VoiceState(v) => {
                self.voice = v.state;
                self.hands_free = v.hands_free;
                if v.state != VoiceState::Listening {
                    self.level = 0.0;
                }
            }
            IpcMessage::InputLevel(l) if self.voice == VoiceState::Listening => {
                self.level = l.level.clamp(0.0, 1.0);
            }
            // A refused press (no microphone, voice off) says what to do.
            IpcMessage::Error(e) => {
                self.note = Some(aios_common::text::one_line(&e.message));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_common::ipc::{ErrorCode, ErrorReply, InputLevelEvent, VoiceStateEvent};

    fn voice(state: VoiceState) -> IpcMessage {
        IpcMessage::VoiceState(VoiceStateEvent {
            state,
            hands_free: false,
        })
    }

    #[test]
    fn hold_to_talk_sends_start_then_stop_once_each() {
        let mut d = Dock::default();
        assert_eq!(d.press(), None, "offline: nothing to send");
        d.connected();
        assert!(matches!(d.press(), Some(IpcMessage::PttStart(_))));
        assert_eq!(d.press(), None, "a second press while held sends nothing");
        assert!(matches!(d.release(), Some(IpcMessage::PttStop(_))));
        assert_eq!(d.release(), None, "a release without a press sends nothing");
    }

    #[test]
    fn toggle_mode_starts_on_one_click_and_ends_on_the_next() {
        let mut d = Dock {
            mode: PttMode::Toggle,
            ..Dock::default()
        };
        d.connected();
        assert_eq!(d.label(), "Click to talk");
        assert!(matches!(d.press(), Some(IpcMessage::PttStart(_))));
        assert_eq!(d.release(), None, "letting go does not end the utterance");
        d.apply(&voice(VoiceState::Listening));
        assert_eq!(d.label(), "Listening: click to end");
        assert!(matches!(d.press(), Some(IpcMessage::PttStop(_))));
        assert_eq!(d.release(), None);
    }

    #[test]
    fn the_button_follows_the_voice_states_and_the_meter_only_while_listening() {
        let mut d = Dock::default();
        assert_eq!(d.label(), "AIOS offline");
        d.connected();
        assert_eq!(d.label(), "Hold to talk");
        d.apply(&IpcMessage::InputLevel(InputLevelEvent { level: 0.5 }));
        assert_eq!(d.level, 0.0, "no level while not listening");
        d.apply(&voice(VoiceState::Listening));
        assert!(d.mic_open());
        assert_eq!(d.label(), "Listening");
        d.apply(&IpcMessage::InputLevel(InputLevelEvent { level: 1.7 }));
        assert_eq!(d.level, 1.0);
        for (state, label) in [
            (VoiceState::Transcribing, "Transcribing"),
            (VoiceState::Thinking, "Thinking"),
            (VoiceState::Speaking, "Speaking: press to stop"),
        ] {
            d.apply(&voice(state));
            assert_eq!(d.label(), label);
            assert!(!d.mic_open());
            assert_eq!(d.level, 0.0);
        }
        d.apply(&IpcMessage::VoiceState(VoiceStateEvent {
            state: VoiceState::Idle,
            hands_free: true,
        }));
        assert_eq!(d.label(), "Listening for speech");
        assert!(
            d.mic_open(),
            "hands-free, the microphone is open while idle"
        );
    }

    #[test]
    fn losing_the_agent_lets_go_of_the_button_and_errors_are_shown() {
        let mut d = Dock::default();
        d.connected();
        d.press();
        d.apply(&voice(VoiceState::Listening));
        d.lost("the agent stopped".into());
        assert!(!d.mic_open());
        assert_eq!(d.release(), None, "the press died with the link");
        d.connected();
        d.apply(&IpcMessage::Error(ErrorReply {
            request_id: None,
            code: ErrorCode::Voice,
            message: "no microphone\nfound".into(),
        }));
        assert!(d.note.as_deref().is_some_and(|n| !n.contains('\n')));
    }
}
