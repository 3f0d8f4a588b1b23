//! The Iced program: state, `update`, `view`, `subscription`. What it shows is the
//! [`Conversation`]; this file only turns it into widgets and the person's input
//! into requests.

use std::collections::HashMap;
use std::path::PathBuf;

use aios_common::config::ProviderKind;
use aios_common::ipc::{HistoryRequest, IpcMessage, PttRequest, StatusRequest, VoiceState};
use iced::futures::channel::mpsc;
use iced::widget::{
    Space, button, column, container, markdown, mouse_area, row, scrollable, text, text_editor,
    text_input,
};
use iced::{Alignment, Background, Border, Color, Element, Length, Subscription, Task, Theme};
use uuid::Uuid;

use crate::conversation::{Bubble, Conversation, Item, Link, Tone, ToolCard, Who};
use crate::link;

/// How many earlier messages the window shows when it connects.
const HISTORY: u32 = 50;
/// The message list's id (for scrolling).
const LIST: &str = "messages";
/// The input field's id.
pub const INPUT: &str = "input";
/// What the chat says when a request cannot reach the agent.
pub const NOT_SENT: &str = "Not sent: the agent is not connected (start it with `make run` or `systemctl --user start aios-agent`).";

/// What can happen in the window.
#[derive(Debug, Clone)]
pub enum Message {
    /// The link to the agent reported something.
    Link(link::Event),
    /// The person edited the input.
    Edit(text_editor::Action),
    /// Enter or the Send button.
    Send,
    /// Ctrl+N or the button.
    NewConversation,
    /// The mic button went down (hold to talk) ...
    PttStart,
    /// ... and up.
    PttStop,
    /// A click on the reply being spoken: stop speaking.
    StopSpeaking,
    /// The list scrolled.
    Scrolled(scrollable::Viewport),
    /// A tool card was clicked: show or hide its whole result.
    Toggle(String),
    /// A link in a reply was clicked.
    Open(markdown::Uri),
    /// A code block's copy button.
    Copy(String),
    /// First-run setup: a provider was picked ...
    SetupChoose(ProviderKind),
    /// ... its key typed ...
    SetupKey(String),
    /// ... its address ...
    SetupUrl(String),
    /// ... its model ...
    SetupModel(String),
    /// ... and the button pressed (or Enter in a field).
    SetupSubmit,
}

/// The setup's key field.
pub const SETUP_KEY: &str = "setup-key";

/// The chat window.
pub struct Chat {
    /// What it shows.
    pub conv: Conversation,
    /// The text being typed.
    pub input: text_editor::Content,
    /// Where requests go while connected.
    outbox: Option<mpsc::Sender<IpcMessage>>,
    /// The agent's socket.
    socket: PathBuf,
    /// Each reply's Markdown, parsed as it streams: (bytes parsed, content).
    markdown: HashMap<u64, (usize, markdown::Content)>,
    /// The mic button is held down.
    mic_held: bool,
}

impl Chat {
    /// A window for the agent at `socket`; `home` is shown as `~`.
    pub fn new(socket: PathBuf, home: Option<String>) -> Self {
        Self {
            conv: Conversation::new(home),
            input: text_editor::Content::new(),
            outbox: None,
            socket,
            markdown: HashMap::new(),
            mic_held: false,
        }
    }

    /// Sends `msg` to the agent; says so in the chat when it cannot.
    fn send(&mut self, msg: IpcMessage) {
        let sent = match &mut self.outbox {
            Some(tx) => tx.try_send(msg).is_ok(),
            None => false,
        };
        if !sent {
            self.send_nothing();
        }
    }

    fn send_nothing(&mut self) {
        self.conv.items.push(Item::Notice(NOT_SENT.into()));
    }

    /// Handles one message.
    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Link(link::Event::Connected(welcome, tx)) => {
                self.conv.connected(&welcome);
                self.outbox = Some(tx);
                // What the header shows and what was said before.
                self.send(IpcMessage::StatusRequest(StatusRequest {
                    request_id: Uuid::new_v4(),
                }));
                if self.conv.items.is_empty() {
                    self.send(IpcMessage::HistoryRequest(HistoryRequest {
                        request_id: Uuid::new_v4(),
                        limit: HISTORY,
                    }));
                }
            }
            Message::Link(link::Event::Received(msg)) => self.conv.apply(msg),
            Message::Link(link::Event::Lost(why)) => {
                self.outbox = None;
                self.mic_held = false;
                self.conv.disconnected(&why);
            }
            Message::Edit(action) => self.input.perform(action),
            Message::Send => {
                let typed = self.input.text();
                if self.outbox.is_none() && !typed.trim().is_empty() {
                    // The text stays in the field, to be sent when the agent is back.
                    self.send_nothing();
                } else if let Some(req) = self.conv.typed(&typed) {
                    self.input = text_editor::Content::new();
                    self.send(IpcMessage::ChatRequest(req));
                    self.sync_markdown();
                    // Back to the newest line (the list is anchored at the bottom).
                    return iced::widget::operation::snap_to(
                        LIST,
                        scrollable::RelativeOffset::START,
                    );
                }
            }
            Message::NewConversation => {
                let req = self.conv.new_conversation();
                self.send(IpcMessage::NewConversation(req));
            }
            Message::PttStart if !self.mic_held => {
                self.mic_held = true;
                self.send(IpcMessage::PttStart(PttRequest {
                    request_id: Uuid::new_v4(),
                }));
            }
            Message::PttStop if self.mic_held => {
                self.mic_held = false;
                self.send(IpcMessage::PttStop(PttRequest {
                    request_id: Uuid::new_v4(),
                }));
            }
            // A second press while held; the pointer leaving a button not pressed.
            Message::PttStart | Message::PttStop => {}
            Message::StopSpeaking => {
                // Barge-in: pressing the mic stops the speech at once; an empty
                // utterance after it starts no turn.
                for msg in [IpcMessage::PttStart, IpcMessage::PttStop] {
                    self.send(msg(PttRequest {
                        request_id: Uuid::new_v4(),
                    }));
                }
            }
            Message::Scrolled(viewport) => {
                // Anchored at the bottom: an offset of 0 is the newest line (NaN
                // when everything fits).
                let y = viewport.relative_offset().y;
                self.conv.scrolled(y.is_nan() || y <= 0.01);
            }
            Message::Toggle(call_id) => self.conv.toggle(&call_id),
            Message::Open(uri) => open(&uri),
            Message::Copy(code) => return iced::clipboard::write(code),
            Message::SetupChoose(kind) => {
                if let Some(s) = &mut self.conv.setup {
                    s.choose(kind);
                    if s.needs_key() {
                        return iced::widget::operation::focus(SETUP_KEY);
                    }
                }
            }
            Message::SetupKey(v) => self.edit_setup(|s| s.key = v),
            Message::SetupUrl(v) => self.edit_setup(|s| s.url = v),
            Message::SetupModel(v) => self.edit_setup(|s| s.model = v),
            Message::SetupSubmit => {
                if self.outbox.is_none() {
                    self.send_nothing();
                } else if let Some(req) = self.conv.submit_setup() {
                    self.send(IpcMessage::SetupRequest(req));
                }
            }
        }
        self.sync_markdown();
        Task::none()
    }

    fn edit_setup(&mut self, edit: impl FnOnce(&mut crate::setup::Setup)) {
        if let Some(s) = &mut self.conv.setup {
            edit(s);
        }
    }

    /// Parses what each reply gained since the last time (only the new text).
    fn sync_markdown(&mut self) {
        for item in &self.conv.items {
            let Item::Bubble(b) = item else { continue };
            if b.who != Who::Assistant {
                continue;
            }
            let (done, md) = self
                .markdown
                .entry(b.id)
                .or_insert_with(|| (0, markdown::Content::new()));
            if b.text.len() < *done || !b.text.is_char_boundary(*done) {
                *md = markdown::Content::parse(&b.text);
            } else if b.text.len() > *done {
                md.push_str(&b.text[*done..]);
            }
            *done = b.text.len();
        }
    }

    /// The window.
    pub fn view(&self) -> Element<'_, Message> {
        let welcome = self.conv.setup.as_ref().map(welcome);
        let list = column(
            welcome
                .into_iter()
                .chain(self.conv.items.iter().map(|i| self.item(i))),
        )
        .spacing(10)
        .padding(16);
        let list = scrollable(list)
            .id(LIST)
            .anchor_bottom()
            .on_scroll(Message::Scrolled)
            .height(Length::Fill);
        column![self.header(), list, self.input_bar()].into()
    }

    fn header(&self) -> Element<'_, Message> {
        let (dot, state) = match &self.conv.link {
            Link::Connecting => (GREY, "Connecting…".to_owned()),
            Link::Online { .. } => {
                let model = match (&self.conv.provider, &self.conv.model) {
                    (Some(p), Some(m)) => format!("{p} · {m}"),
                    (Some(p), None) => p.clone(),
                    _ => "connected".into(),
                };
                (GREEN, model)
            }
            Link::Offline(why) => (RED, format!("Offline: {why}")),
        };
        let voice = match self.conv.voice {
            VoiceState::Idle if self.conv.hands_free => "Hands-free",
            VoiceState::Idle => "",
            VoiceState::Listening => "Listening",
            VoiceState::Transcribing => "Transcribing",
            VoiceState::Thinking => "Thinking",
            VoiceState::Speaking => "Speaking",
        };
        let bar = row![
            text("●").color(dot),
            text(state).size(14),
            Space::new().width(Length::Fill),
            text(voice).size(14),
            button(text("New conversation").size(14))
                .on_press(Message::NewConversation)
                .style(button::secondary),
        ]
        .spacing(10)
        .padding([8, 16])
        .align_y(Alignment::Center);
        container(bar)
            .width(Length::Fill)
            .style(container::dark)
            .into()
    }

    fn item<'a>(&'a self, item: &'a Item) -> Element<'a, Message> {
        match item {
            Item::Bubble(b) => self.bubble(b),
            Item::Tool(card) => tool_card(card),
            Item::Notice(n) => container(text(n).size(13).color(AMBER))
                .padding([4, 8])
                .width(Length::Fill)
                .into(),
        }
    }

    fn bubble<'a>(&'a self, b: &'a Bubble) -> Element<'a, Message> {
        match b.who {
            Who::Person => {
                let words = if b.spoken {
                    row![text("◉").size(14).color(AMBER), text(&b.text)].spacing(6)
                } else {
                    row![text(&b.text)]
                };
                let body = container(words)
                    .padding([8, 12])
                    .max_width(560)
                    .style(move |_: &Theme| bubble_style(if b.live { LIVE } else { PERSON }));
                row![Space::new().width(Length::Fill), body].into()
            }
            Who::Assistant => {
                let body: Element<'a, Message> = match self.markdown.get(&b.id) {
                    Some((_, md)) => markdown::view_with(
                        md.items(),
                        markdown::Settings::with_style(markdown::Style::from_palette(
                            Theme::Dark.palette(),
                        )),
                        &Viewer,
                    ),
                    None => text(&b.text).into(),
                };
                let mut body = column![body].spacing(4);
                if b.speaking {
                    body = body.push(text("Speaking: click to stop").size(12).color(AMBER));
                }
                let bubble = container(body)
                    .padding([8, 12])
                    .max_width(640)
                    .style(|_: &Theme| bubble_style(ASSISTANT));
                let bubble: Element<'a, Message> = if b.speaking {
                    mouse_area(bubble).on_press(Message::StopSpeaking).into()
                } else {
                    bubble.into()
                };
                row![bubble, Space::new().width(Length::Fill)].into()
            }
        }
    }

    fn input_bar(&self) -> Element<'_, Message> {
        let field = text_editor(&self.input)
            .id(INPUT)
            .placeholder("Type a message (Enter sends, Shift+Enter breaks the line)")
            .on_action(Message::Edit)
            .height(Length::Shrink)
            .key_binding(|kp| {
                use iced::keyboard::{Key, key::Named};
                match kp.key.as_ref() {
                    Key::Named(Named::Enter)
                        if !kp.modifiers.shift()
                            && matches!(kp.status, text_editor::Status::Focused { .. }) =>
                    {
                        Some(text_editor::Binding::Custom(Message::Send))
                    }
                    _ => text_editor::Binding::from_key_press(kp),
                }
            });
        let listening = self.conv.voice == VoiceState::Listening;
        let mic_label = if listening {
            "● Listening"
        } else {
            "Hold to talk"
        };
        let mic = mouse_area(
            container(text(mic_label).size(14))
                .padding([10, 14])
                .style(move |_: &Theme| bubble_style(if listening { RED } else { MIC })),
        )
        .on_press(Message::PttStart)
        .on_release(Message::PttStop)
        // Let go outside the button: the press still ends.
        .on_exit(Message::PttStop);
        row![
            field,
            button(text("Send"))
                .on_press(Message::Send)
                .padding([10, 16]),
            mic,
        ]
        .spacing(8)
        .padding(12)
        .align_y(Alignment::Center)
        .into()
    }

    /// Ctrl+N, and the link to the agent.
    pub fn subscription(&self) -> Subscription<Message> {
        let keys = iced::keyboard::listen().filter_map(|event| {
            let iced::keyboard::Event::KeyPressed { key, modifiers, .. } = event else {
                return None;
            };
            match key.as_ref() {
                iced::keyboard::Key::Character("n") if modifiers.command() => {
                    Some(Message::NewConversation)
                }
                _ => None,
            }
        });
        let link = Subscription::run_with(self.socket.clone(), link::connect).map(Message::Link);
        Subscription::batch([keys, link])
    }
}

/// First-run setup, drawn as the assistant's first message.
fn welcome(s: &crate::setup::Setup) -> Element<'_, Message> {
    use crate::setup::{CHOICES, name};
    let mut body = column![
        text("Welcome to AIOS.").size(18),
        text("Hold the mic button and speak, or type below. Which model should answer you?"),
    ]
    .spacing(10);
    for (kind, line) in CHOICES {
        // A button with its own words rather than Iced's radio: the whole line is
        // the target, and its text is findable like every other label.
        let mark = if s.choice == kind { "◉" } else { "○" };
        body = body.push(
            button(row![text(mark).color(GREEN), text(line)].spacing(8))
                .on_press(Message::SetupChoose(kind))
                .style(button::text)
                .padding([2, 0]),
        );
    }
    if s.needs_key() {
        body = body.push(
            text_input(&format!("{} API key", name(s.choice)), &s.key)
                .id(SETUP_KEY)
                .secure(true)
                .on_input(Message::SetupKey)
                .on_submit(Message::SetupSubmit)
                .padding(8),
        );
    }
    if s.takes_url() {
        let hint = if s.choice == ProviderKind::Ollama {
            crate::setup::OLLAMA_URL
        } else {
            "Address (empty: api.openai.com)"
        };
        body = body.push(
            text_input(hint, &s.url)
                .on_input(Message::SetupUrl)
                .on_submit(Message::SetupSubmit)
                .padding(8),
        );
    }
    if s.choice != ProviderKind::Local {
        body = body.push(
            text_input("Model (empty: the provider's default)", &s.model)
                .on_input(Message::SetupModel)
                .on_submit(Message::SetupSubmit)
                .padding(8),
        );
    }
    if let Some(e) = &s.error {
        body = body.push(text(e).size(14).color(RED));
    }
    let go = button(text(s.action())).padding([8, 16]);
    let go = if s.checking.is_some() {
        go
    } else {
        go.on_press(Message::SetupSubmit)
    };
    body = body.push(
        row![
            go,
            text("Checked with one real request, then saved privately (mode 0600).")
                .size(12)
                .color(GREY)
        ]
        .spacing(12)
        .align_y(Alignment::Center),
    );
    row![
        container(body)
            .padding([12, 16])
            .max_width(640)
            .style(|_: &Theme| bubble_style(ASSISTANT)),
        Space::new().width(Length::Fill)
    ]
    .into()
}

/// Draws a code block with a copy button; links become [`Message::Open`].
struct Viewer;

impl<'a> markdown::Viewer<'a, Message> for Viewer {
    fn on_link_click(url: markdown::Uri) -> Message {
        Message::Open(url)
    }

    fn code_block(
        &self,
        settings: markdown::Settings,
        _language: Option<&'a str>,
        code: &'a str,
        lines: &'a [markdown::Text],
    ) -> Element<'a, Message> {
        column![
            markdown::code_block(settings, lines, Message::Open),
            button(text("Copy").size(12))
                .on_press_with(move || Message::Copy(code.to_owned()))
                .style(button::secondary),
        ]
        .spacing(4)
        .into()
    }
}

fn tool_card(card: &ToolCard) -> Element<'_, Message> {
    let colour = match card.tone() {
        Tone::Grey => GREY,
        Tone::Amber => AMBER,
        Tone::Green => GREEN,
        Tone::Red => RED,
    };
    let mut body = column![text(card.headline()).size(14).color(colour)].spacing(4);
    if let Some(details) = card.details() {
        body = body.push(text(details).size(13).font(iced::Font::MONOSPACE));
    }
    let framed = container(body)
        .padding([6, 10])
        .width(Length::Fill)
        .style(move |_: &Theme| container::Style {
            border: Border {
                color: colour,
                width: 1.0,
                radius: 6.0.into(),
            },
            ..container::Style::default()
        });
    mouse_area(framed)
        .on_press(Message::Toggle(card.call_id.clone()))
        .into()
}

fn bubble_style(background: Color) -> container::Style {
    container::Style {
        background: Some(Background::Color(background)),
        border: Border {
            radius: 10.0.into(),
            ..Border::default()
        },
        text_color: Some(Color::WHITE),
        ..container::Style::default()
    }
}

/// Opens a link in the person's browser; the reply's text is never run.
fn open(uri: &str) {
    // Only web and mail links: a reply could hold `file:` or a custom scheme.
    let lower = uri.to_ascii_lowercase();
    if !(lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("mailto:"))
    {
        tracing::warn!(uri, "link not opened: only http(s) and mailto links are");
        return;
    }
    match std::process::Command::new("xdg-open")
        .arg(uri)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        // Waited for on a thread of its own, so it never lingers as a zombie.
        Ok(mut child) => {
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
        Err(e) => tracing::warn!("cannot open {uri}: {e}"),
    }
}

const GREY: Color = Color::from_rgb(0.62, 0.64, 0.68);
const GREEN: Color = Color::from_rgb(0.36, 0.78, 0.47);
const AMBER: Color = Color::from_rgb(0.96, 0.70, 0.26);
const RED: Color = Color::from_rgb(0.93, 0.36, 0.36);
const PERSON: Color = Color::from_rgb(0.16, 0.36, 0.62);
const LIVE: Color = Color::from_rgb(0.22, 0.30, 0.42);
const ASSISTANT: Color = Color::from_rgb(0.22, 0.23, 0.27);
const MIC: Color = Color::from_rgb(0.25, 0.27, 0.32);

/// Runs the window for the agent at `socket`.
pub fn run(socket: PathBuf, home: Option<String>) -> iced::Result {
    iced::application(
        move || {
            // The person can type at once.
            let focus = iced::widget::operation::focus(INPUT);
            (Chat::new(socket.clone(), home.clone()), focus)
        },
        Chat::update,
        Chat::view,
    )
    .title("AIOS")
    .subscription(Chat::subscription)
    .theme(|_: &Chat| Theme::Dark)
    .window(iced::window::Settings {
        size: iced::Size::new(760.0, 720.0),
        // The compositor knows the window by this (labwc's Super+Enter raises it).
        #[cfg(target_os = "linux")]
        platform_specific: iced::window::settings::PlatformSpecific {
            application_id: "aios-chat".to_string(),
            ..Default::default()
        },
        ..Default::default()
    })
    .run()
}
