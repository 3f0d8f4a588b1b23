//! The dock as a layer-shell bar: anchored bottom, left and right, 48 px tall, an
//! exclusive zone of 48 so windows end above it, on the Top layer. Left: launchers.
//! Centre: the mic button (hold to talk) with the level meter and a red mark while
//! the microphone is open. Right: Wi-Fi, volume (scroll to change, click to mute),
//! battery and the clock.

use std::path::PathBuf;
use std::time::Duration;

use aios_common::config::PttMode;
use aios_common::ipc::link::{LinkEvent, OUTBOX, run};
use aios_common::ipc::{ClientKind, IpcMessage};
use iced::futures::Stream;
use iced::futures::channel::mpsc;
use iced::widget::{Space, button, container, mouse_area, progress_bar, row, text};
use iced::{Alignment, Background, Border, Color, Element, Length, Subscription, Task, Theme};
use iced_layershell::reexport::{Anchor, KeyboardInteractivity, Layer};
use iced_layershell::settings::{LayerShellSettings, StartMode};
use iced_layershell::to_layer_message;

use crate::state::Dock;
use crate::status::{Sources, Status};

/// The bar's height, and the room it keeps for itself.
pub const HEIGHT: u32 = 48;

/// What a launcher starts.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// Its label.
    pub label: &'static str,
    /// The program and its arguments.
    pub command: Vec<String>,
}

/// The dock window.
pub struct Bar {
    /// What it shows.
    pub dock: Dock,
    outbox: Option<mpsc::Sender<IpcMessage>>,
    socket: PathBuf,
    launchers: Vec<Launcher>,
    clock: String,
    /// Wi-Fi, volume, battery.
    pub status: Status,
    sources: Sources,
}

/// What can happen in the dock.
// The macro adds the layer-shell request variants, undocumented.
#[allow(missing_docs)]
#[to_layer_message(multi)]
#[derive(Debug, Clone)]
pub enum Message {
    /// The link to the agent.
    Link(LinkEvent),
    /// The mic button went down.
    Press,
    /// ... and up.
    Release,
    /// A launcher was clicked.
    Launch(usize),
    /// A second passed.
    Tick,
    /// Wi-Fi, volume or battery changed.
    Status(Status),
    /// The wheel over the volume: up louder, in 5% steps.
    Scroll(i32),
    /// A click on the volume: mute or unmute.
    ToggleMute,
    /// The volume after a change.
    Volume(Option<crate::status::Volume>),
}

impl Bar {
    /// A dock for the agent at `socket`, its mic button working as `mode` says.
    pub fn new(socket: PathBuf, mode: PttMode, launchers: Vec<Launcher>) -> Self {
        Self {
            dock: Dock::new(mode),
            outbox: None,
            socket,
            launchers,
            clock: now(),
            status: Status::default(),
            sources: Sources::default(),
        }
    }

    /// Reads Wi-Fi, volume and battery from `sources` instead of this session's.
    pub fn with_sources(mut self, sources: Sources) -> Self {
        self.sources = sources;
        self
    }

    fn send(&mut self, msg: IpcMessage) {
        let sent = self
            .outbox
            .as_mut()
            .is_some_and(|tx| tx.try_send(msg).is_ok());
        if !sent {
            self.dock.note = Some("the agent is not connected".into());
        }
    }

    /// Handles one message.
    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Link(LinkEvent::Connected(_, tx)) => {
                self.outbox = Some(tx);
                self.dock.connected();
            }
            Message::Link(LinkEvent::Received(msg)) => self.dock.apply(&msg),
            Message::Link(LinkEvent::Lost(why)) => {
                self.outbox = None;
                self.dock.lost(why);
            }
            Message::Press => {
                if let Some(msg) = self.dock.press() {
                    self.send(msg);
                }
            }
            Message::Release => {
                if let Some(msg) = self.dock.release() {
                    self.send(msg);
                }
            }
            Message::Launch(i) => {
                if let Some(l) = self.launchers.get(i) {
                    self.dock.note = launch(l).err();
                }
            }
            Message::Tick => self.clock = now(),
            Message::Status(s) => self.status = s,
            Message::Scroll(steps) => {
                let sources = self.sources.clone();
                return Task::perform(
                    async move {
                        sources.change_volume(steps).await;
                        sources.volume().await
                    },
                    Message::Volume,
                );
            }
            Message::ToggleMute => {
                let sources = self.sources.clone();
                return Task::perform(
                    async move {
                        sources.toggle_mute().await;
                        sources.volume().await
                    },
                    Message::Volume,
                );
            }
            Message::Volume(v) => self.status.volume = v,
            // Layer-shell requests the macro adds; the dock sends none.
            _ => {}
        }
        Task::none()
    }

    /// The bar.
    pub fn view(&self) -> Element<'_, Message> {
        let mut left = row![].spacing(6).align_y(Alignment::Center);
        for (i, l) in self.launchers.iter().enumerate() {
            left = left.push(
                button(text(l.label).size(14))
                    .on_press(Message::Launch(i))
                    .style(button::secondary)
                    .padding([6, 12]),
            );
        }
        let open = self.dock.mic_open();
        let mut mic = row![].spacing(8).align_y(Alignment::Center);
        if open {
            // Whenever the microphone is open, a red mark says so.
            mic = mic.push(text("●").size(16).color(RED));
        }
        mic = mic.push(text(self.dock.label()).size(15));
        let mic = mouse_area(
            container(mic)
                .padding([8, 18])
                .style(move |_: &Theme| pill(if open { RED_DIM } else { MIC })),
        )
        .on_press(Message::Press)
        .on_release(Message::Release)
        // Let go outside the button: the press still ends.
        .on_exit(Message::Release);
        let mut centre = row![mic].spacing(10).align_y(Alignment::Center);
        if open {
            centre = centre.push(
                progress_bar(0.0..=1.0, self.dock.level)
                    .length(Length::Fixed(90.0))
                    .girth(Length::Fixed(8.0)),
            );
        }
        let mut right = row![].spacing(12).align_y(Alignment::Center);
        if let Some(note) = &self.dock.note {
            right = right.push(
                text(aios_common::text::cut_middle(note, 60))
                    .size(12)
                    .color(AMBER),
            );
        }
        if let Some(wifi) = self.status.wifi_label() {
            right = right.push(text(wifi).size(14));
        }
        if let Some(volume) = self.status.volume_label() {
            right = right.push(
                mouse_area(text(volume).size(14))
                    .on_press(Message::ToggleMute)
                    .on_scroll(|delta| {
                        let y = match delta {
                            iced::mouse::ScrollDelta::Lines { y, .. } => y,
                            iced::mouse::ScrollDelta::Pixels { y, .. } => y / 40.0,
                        };
                        Message::Scroll(if y > 0.0 { 1 } else { -1 })
                    }),
            );
        }
        if let Some(battery) = self.status.battery_label() {
            let low = self
                .status
                .battery
                .is_some_and(|b| b.percent <= 15 && !b.charging);
            right = right.push(
                text(battery)
                    .size(14)
                    .color(if low { RED } else { Color::WHITE }),
            );
        }
        right = right.push(text(&self.clock).size(15));
        let bar = row![
            left,
            Space::new().width(Length::Fill),
            centre,
            Space::new().width(Length::Fill),
            right,
        ]
        .padding([0, 12])
        .height(Length::Fill)
        .align_y(Alignment::Center);
        container(bar)
            .width(Length::Fill)
            .height(Length::Fill)
            .style(|_: &Theme| container::Style {
                background: Some(Background::Color(BAR)),
                text_color: Some(Color::WHITE),
                ..container::Style::default()
            })
            .into()
    }

    /// The bar on one output: the same on all of them.
    pub fn view_on(&self, _output: iced::window::Id) -> Element<'_, Message> {
        self.view()
    }

    /// The clock, and the link to the agent.
    pub fn subscription(&self) -> Subscription<Message> {
        let tick = iced::time::every(Duration::from_secs(1)).map(|_| Message::Tick);
        let link = Subscription::run_with(self.socket.clone(), connect).map(Message::Link);
        let status =
            Subscription::run_with(self.sources.clone(), crate::status::watch).map(Message::Status);
        Subscription::batch([tick, link, status])
    }
}

// `Subscription::run_with` hands its data over as `&PathBuf`.
#[allow(clippy::ptr_arg)]
fn connect(path: &PathBuf) -> impl Stream<Item = LinkEvent> + use<> {
    let path = path.clone();
    iced::stream::channel(OUTBOX, async move |out| {
        run(path, ClientKind::Dock, out).await
    })
}

fn now() -> String {
    chrono::Local::now().format("%H:%M").to_string()
}

/// Starts a launcher's program, detached from the dock.
fn launch(l: &Launcher) -> Result<(), String> {
    let (program, args) = l.command.split_first().ok_or("nothing to start")?;
    std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(reap)
        .map_err(|e| format!("cannot start {}: {e}", l.label))
}

/// Waits for a started program on a thread of its own, so it never lingers as a
/// zombie while the dock runs.
fn reap(mut child: std::process::Child) {
    std::thread::spawn(move || {
        let _ = child.wait();
    });
}

fn pill(background: Color) -> container::Style {
    container::Style {
        background: Some(Background::Color(background)),
        border: Border {
            radius: 18.0.into(),
            ..Border::default()
        },
        text_color: Some(Color::WHITE),
        ..container::Style::default()
    }
}

const BAR: Color = Color::from_rgb(0.09, 0.10, 0.12);
const MIC: Color = Color::from_rgb(0.20, 0.22, 0.27);
const RED: Color = Color::from_rgb(0.93, 0.36, 0.36);
const RED_DIM: Color = Color::from_rgb(0.45, 0.16, 0.18);
const AMBER: Color = Color::from_rgb(0.96, 0.70, 0.26);

/// Runs the dock for the agent at `socket`: one bar on every output, including
/// outputs plugged in later (layer-shell's `AllScreens` start mode opens a surface
/// per `wl_output`). The bars share one state, so the mic button reads the same on
/// every screen and a press on any of them talks to the same agent.
pub fn run_dock(socket: PathBuf, mode: PttMode, launchers: Vec<Launcher>) -> Result<(), String> {
    iced_layershell::build_pattern::daemon(
        move || Bar::new(socket.clone(), mode, launchers.clone()),
        "aios-dock",
        Bar::update,
        Bar::view_on,
    )
    .layer_settings(LayerShellSettings {
        anchor: Anchor::Bottom | Anchor::Left | Anchor::Right,
        layer: Layer::Top,
        size: Some((0, HEIGHT)),
        exclusive_zone: HEIGHT as i32,
        keyboard_interactivity: KeyboardInteractivity::None,
        start_mode: StartMode::AllScreens,
        ..LayerShellSettings::default()
    })
    .subscription(Bar::subscription)
    .theme(Theme::Dark)
    .run()
    .map_err(|e| {
        format!("the dock could not be shown ({e}); it needs a Wayland compositor with layer-shell")
    })
}
