//! The question as a Wayland layer-shell overlay: layer Overlay (above every window,
//! the dock included), centred, with exclusive keyboard focus while it is up. Drawn
//! by Iced with tiny-skia; what it shows and when Allow works is [`Dialog`].
//!
//! A normal action is allowed by a click on Allow only (an Enter meant for another
//! window must not approve); a destructive one by typing `DELETE` exactly, then Enter
//! or Allow. Escape, Cancel, the countdown reaching zero or the overlay closing deny.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aios_common::types::ConfirmRequest;
use iced::widget::{Space, button, column, container, row, text, text_input};
use iced::{Background, Border, Color, Element, Length, Subscription, Task, Theme};
use iced_layershell::reexport::{Anchor, KeyboardInteractivity, Layer};
use iced_layershell::settings::{LayerShellSettings, StartMode};
use iced_layershell::to_layer_message;

use crate::Refusal;
use crate::dialog::Dialog;

/// The DELETE field's id.
pub const FIELD: &str = "delete";

type Answer = Arc<Mutex<Option<Result<(), Refusal>>>>;

struct Overlay {
    dialog: Dialog,
    answer: Answer,
}

/// What can happen in the overlay.
#[to_layer_message]
#[derive(Debug, Clone)]
pub enum Message {
    /// The DELETE field changed.
    Typed(String),
    /// Allow (the button, or Enter in the DELETE field).
    Allow,
    /// Cancel.
    Cancel,
    /// Escape.
    Escape,
    /// A second passed.
    Tick,
}

fn update(o: &mut Overlay, message: Message) -> Task<Message> {
    match message {
        Message::Typed(t) => o.dialog.typed = t,
        Message::Allow => o.dialog.allow(),
        Message::Cancel => o.dialog.cancel("the person pressed Cancel"),
        Message::Escape => o.dialog.cancel("the person pressed Escape"),
        Message::Tick => o.dialog.tick(),
        // The layer-shell requests the macro adds; this overlay sends none.
        _ => {}
    }
    match o.dialog.answer() {
        Some(answer) => {
            if let Ok(mut slot) = o.answer.lock() {
                *slot = Some(answer.clone());
            }
            iced::exit()
        }
        None => Task::none(),
    }
}

fn view(o: &Overlay) -> Element<'_, Message> {
    let d = &o.dialog;
    let accent = if d.critical() { RED } else { AMBER };
    let mut body = column![text(d.title()).size(20).color(accent)].spacing(8);
    for line in d.summary() {
        body = body.push(text(line).size(15));
    }
    body = body.push(text(format!("Tool: {}", d.tool())).size(13).color(GREY));
    for line in d.arguments() {
        body = body.push(text(line).size(13).font(iced::Font::MONOSPACE));
    }
    if let Some(source) = d.source() {
        body = body.push(
            text(format!(
                "This conversation holds text read from {source}. That text may have asked for this: allow it only if you asked for it yourself."
            ))
            .size(13)
            .color(AMBER),
        );
    }
    if let Some(target) = d.target() {
        body = body.push(text(target).size(15).font(iced::Font::MONOSPACE));
    }
    if d.critical() {
        body = body.push(
            text_input("Type DELETE to allow", &d.typed)
                .id(FIELD)
                .on_input(Message::Typed)
                .on_submit(Message::Allow)
                .padding(8),
        );
    }
    let allow = button(text("Allow"))
        .padding([8, 18])
        .on_press_maybe(d.allow_enabled().then_some(Message::Allow))
        .style(if d.critical() {
            button::danger
        } else {
            button::primary
        });
    body = body.push(
        row![
            text(format!("Cancels in {} s", d.remaining))
                .size(13)
                .color(GREY),
            Space::new().width(Length::Fill),
            button(text("Cancel"))
                .padding([8, 18])
                .on_press(Message::Cancel)
                .style(button::secondary),
            allow,
        ]
        .spacing(10)
        .align_y(iced::Alignment::Center),
    );
    container(body.padding(20))
        .width(Length::Fill)
        .height(Length::Fill)
        .style(move |_: &Theme| container::Style {
            background: Some(Background::Color(PANEL)),
            border: Border {
                color: accent,
                width: 2.0,
                radius: 12.0.into(),
            },
            text_color: Some(Color::WHITE),
            ..container::Style::default()
        })
        .into()
}

fn subscription(_: &Overlay) -> Subscription<Message> {
    let tick = iced::time::every(Duration::from_secs(1)).map(|_| Message::Tick);
    // Escape, even while the DELETE field has the keys.
    let escape = iced::event::listen_with(|event, _status, _window| match event {
        iced::Event::Keyboard(iced::keyboard::Event::KeyPressed {
            key: iced::keyboard::Key::Named(iced::keyboard::key::Named::Escape),
            ..
        }) => Some(Message::Escape),
        _ => None,
    });
    Subscription::batch([tick, escape])
}

/// Shows the question until it is answered; `Err` when the overlay could not be
/// shown at all (no compositor, no layer-shell), so the caller can ask elsewhere.
pub fn ask(req: &ConfirmRequest) -> Result<Result<(), Refusal>, String> {
    let answer: Answer = Arc::default();
    let slot = answer.clone();
    let dialog = Dialog::new(req.clone());
    let height = 185
        + 22 * (dialog.arguments().len() + dialog.summary().len()) as u32
        + if dialog.critical() { 50 } else { 0 }
        + if dialog.source().is_some() { 60 } else { 0 };
    let shown = iced_layershell::application(
        move || {
            let overlay = Overlay {
                dialog: dialog.clone(),
                answer: slot.clone(),
            };
            // Keys typed before this moment went elsewhere; the field starts empty.
            (overlay, iced::widget::operation::focus(FIELD))
        },
        "aios-confirm",
        update,
        view,
    )
    .layer_settings(LayerShellSettings {
        // No anchor: centred on the output.
        anchor: Anchor::empty(),
        layer: Layer::Overlay,
        size: Some((620, height.min(560))),
        exclusive_zone: -1,
        keyboard_interactivity: KeyboardInteractivity::Exclusive,
        start_mode: StartMode::Active,
        ..LayerShellSettings::default()
    })
    .subscription(subscription)
    .theme(Theme::Dark)
    .run();
    // An answer given stands, even if the overlay then failed on its way out.
    let given = answer.lock().ok().and_then(|mut a| a.take());
    match (given, shown) {
        (Some(answer), _) => Ok(answer),
        (None, Err(e)) => Err(format!("the overlay could not be shown ({e})")),
        (None, Ok(())) => Ok(Err("the dialog closed without an answer".to_owned().into())),
    }
}

const GREY: Color = Color::from_rgb(0.62, 0.64, 0.68);
const AMBER: Color = Color::from_rgb(0.96, 0.70, 0.26);
const RED: Color = Color::from_rgb(0.93, 0.36, 0.36);
const PANEL: Color = Color::from_rgb(0.13, 0.14, 0.17);

#[cfg(test)]
mod tests {
    use super::*;
    use aios_common::types::{ToolCall, TrustRequirement};
    use iced_test::selector::id;
    use iced_test::simulator;

    fn overlay(requirement: TrustRequirement) -> Overlay {
        Overlay {
            dialog: Dialog::new(ConfirmRequest {
                request_id: uuid::Uuid::nil(),
                call: ToolCall {
                    id: "c".into(),
                    name: "file_delete".into(),
                    arguments: serde_json::json!({"path": "/home/ada/notes.txt"}),
                },
                summary: "Delete /home/ada/notes.txt".into(),
                requirement,
                content_source: Some("/home/ada/Downloads/page.html".into()),
                timeout_secs: 2,
            }),
            answer: Answer::default(),
        }
    }

    /// Clicks and keys in the simulator, then feeds the messages to `update`.
    fn drive(o: &mut Overlay, act: impl FnOnce(&mut iced_test::Simulator<'_, Message>)) {
        let messages: Vec<Message> = {
            let mut ui = simulator(view(o));
            act(&mut ui);
            ui.into_messages().collect()
        };
        for m in messages {
            let _ = update(o, m);
        }
    }

    #[test]
    fn allow_does_nothing_until_delete_is_typed_exactly() {
        let mut o = overlay(TrustRequirement::DoubleConfirm);
        drive(&mut o, |ui| {
            ui.click(id(FIELD)).expect("the DELETE field");
            let _ = ui.typewrite("DELET");
            let _ = ui.click("Allow");
        });
        assert_eq!(o.dialog.typed, "DELET");
        assert!(o.dialog.answer().is_none(), "Allow is disabled");
        drive(&mut o, |ui| {
            ui.click(id(FIELD)).expect("the DELETE field");
            let _ = ui.typewrite("E");
            let _ = ui.tap_key(iced::keyboard::key::Named::Enter);
        });
        assert_eq!(o.dialog.typed, "DELETE");
        assert!(matches!(o.dialog.answer(), Some(Ok(()))));
        assert!(matches!(*o.answer.lock().expect("lock"), Some(Ok(()))));
    }

    #[test]
    fn the_countdown_shows_and_cancels_and_the_source_is_named() {
        let mut o = overlay(TrustRequirement::Confirm);
        let mut ui = simulator(view(&o));
        assert!(ui.find("Cancels in 2 s").is_ok());
        assert!(
            ui.find(
                "This conversation holds text read from /home/ada/Downloads/page.html. That text may have asked for this: allow it only if you asked for it yourself."
            )
            .is_ok()
        );
        drop(ui);
        let _ = update(&mut o, Message::Tick);
        assert!(simulator(view(&o)).find("Cancels in 1 s").is_ok());
        let _ = update(&mut o, Message::Tick);
        let answer = o.answer.lock().expect("lock").clone();
        assert!(matches!(&answer, Some(Err(r)) if r.timed_out), "{answer:?}");
    }

    #[test]
    fn cancel_and_escape_deny() {
        for message in [Message::Cancel, Message::Escape] {
            let mut o = overlay(TrustRequirement::Confirm);
            let _ = update(&mut o, message);
            let answer = o.answer.lock().expect("lock").clone();
            assert!(
                matches!(&answer, Some(Err(r)) if !r.timed_out),
                "{answer:?}"
            );
        }
        let mut o = overlay(TrustRequirement::Confirm);
        drive(&mut o, |ui| {
            let _ = ui.click("Cancel");
        });
        assert!(matches!(o.dialog.answer(), Some(Err(_))));
    }
}
