//! The chat's conversation, apart from any widget: what the window shows, built from
//! the agent's events and the person's actions. The Iced view only draws it, so all
//! of its behaviour is tested here with the protocol's own messages.

use aios_common::ipc::{
    ChatRequest, ConfirmPendingEvent, ErrorReply, HistoryReply, IpcMessage, NewConversationRequest,
    StreamChunk, ToolCallEvent, ToolResultEvent, ToolStatus, TranscriptEvent, TranscriptKind,
    VoiceState, Welcome,
};
use aios_common::text::{cut_middle, one_line};
use aios_common::types::{Role, TrustRequirement};
use uuid::Uuid;

/// Longest tool target shown on a card (the middle is cut, the end stays visible).
const TARGET_CHARS: usize = 80;
/// Longest one-line result on a collapsed card.
const RESULT_LINE_CHARS: usize = 120;

/// The link to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Trying to reach it.
    Connecting,
    /// Connected.
    Online {
        /// The agent's version.
        agent_version: String,
    },
    /// Not reachable; why, and what fixes it.
    Offline(String),
}

/// Who wrote a bubble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The person (typed, or spoken and transcribed).
    Person,
    /// AIOS.
    Assistant,
}

/// A message in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bubble {
    /// Unique in this window, for what the view keeps per bubble (parsed Markdown).
    pub id: u64,
    /// Author.
    pub who: Who,
    /// Markdown for the assistant, plain text for the person.
    pub text: String,
    /// Said aloud: the person's words came from the microphone, or the reply is
    /// to a spoken request (and so is spoken too).
    pub spoken: bool,
    /// Still changing: a partial transcript, or a reply that streams.
    pub live: bool,
    /// The turn it belongs to.
    pub request_id: Option<Uuid>,
    /// The reply is being spoken right now (a click stops it).
    pub speaking: bool,
}

/// Where a tool call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardState {
    /// Asked for; running or about to.
    Calling,
    /// Waiting for the person's answer in the confirmation dialog.
    Waiting {
        /// Destructive: the dialog wants `DELETE` typed.
        destructive: bool,
        /// How long the dialog waits.
        timeout_secs: u64,
    },
    /// Ran and succeeded.
    Done,
    /// Ran and failed.
    Failed,
    /// Never ran: refused by the person or by policy.
    Denied,
    /// Never ran: nobody answered in time.
    TimedOut,
    /// Never ran: the turn ended first.
    Cancelled,
}

/// The colour a card is drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// In progress.
    Grey,
    /// Waiting for the person.
    Amber,
    /// Succeeded.
    Green,
    /// Failed, denied, timed out or cancelled.
    Red,
}

/// One tool call, updated in place as it moves on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCard {
    /// The turn that made the call.
    pub request_id: Uuid,
    /// The call's id.
    pub call_id: String,
    /// The tool's name.
    pub tool: String,
    /// What it acts on, one line (`~/notes.txt`, a URL, a command).
    pub target: String,
    /// Where it is.
    pub state: CardState,
    /// The result text, or why it failed or was refused.
    pub result: String,
    /// The whole result is shown, not its first line.
    pub expanded: bool,
}

impl ToolCard {
    /// The card's one line.
    pub fn headline(&self) -> String {
        let what = if self.target.is_empty() {
            self.tool.clone()
        } else {
            format!("{} {}", self.tool, self.target)
        };
        let first = || {
            cut_middle(
                &one_line(self.result.lines().next().unwrap_or("")),
                RESULT_LINE_CHARS,
            )
        };
        match self.state {
            CardState::Calling => format!("Calling {what}"),
            CardState::Waiting {
                destructive: true, ..
            } => format!("Waiting for your confirmation (type DELETE): {what}"),
            CardState::Waiting { .. } => format!("Waiting for your confirmation: {what}"),
            CardState::Done if self.result.trim().is_empty() => format!("{what}: done"),
            CardState::Done => format!("{what}: {}", first()),
            CardState::Failed => format!("Failed: {}", first()),
            CardState::Denied => format!("Denied: {what}"),
            CardState::TimedOut => format!("Timed out: {what}"),
            CardState::Cancelled => format!("Cancelled: {what}"),
        }
    }

    /// The card's colour.
    pub fn tone(&self) -> Tone {
        match self.state {
            CardState::Calling => Tone::Grey,
            CardState::Waiting { .. } => Tone::Amber,
            CardState::Done => Tone::Green,
            _ => Tone::Red,
        }
    }

    /// What the expanded card shows below its headline.
    pub fn details(&self) -> Option<&str> {
        (self.expanded && !self.result.is_empty()).then_some(self.result.as_str())
    }
}

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A message.
    Bubble(Bubble),
    /// A tool call.
    Tool(ToolCard),
    /// Something AIOS says about the chat itself (an error with its fix, a new
    /// conversation), drawn apart from the messages.
    Notice(String),
}

/// Everything the chat window shows.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// The list, oldest first.
    pub items: Vec<Item>,
    /// The link to the agent.
    pub link: Link,
    /// The provider in use (`local`, `openai`, ...), once the agent said.
    pub provider: Option<String>,
    /// Its model.
    pub model: Option<String>,
    /// What the voice pipeline is doing.
    pub voice: VoiceState,
    /// Hands-free listening is on.
    pub hands_free: bool,
    /// Microphone level while listening, 0 to 1.
    pub level: f32,
    /// The list follows new text (the person has not scrolled up).
    pub follow: bool,
    /// The person's home folder, shown as `~` in tool targets.
    home: Option<String>,
    /// First-run setup, while the agent runs without a config file.
    pub setup: Option<crate::setup::Setup>,
    /// The next bubble id.
    next_id: u64,
}

impl Conversation {
    /// An empty chat, connecting; `home` is shortened to `~` in tool targets.
    pub fn new(home: Option<String>) -> Self {
        Self {
            items: Vec::new(),
            link: Link::Connecting,
            provider: None,
            model: None,
            voice: VoiceState::Idle,
            hands_free: false,
            level: 0.0,
            follow: true,
            home: home.filter(|h| !h.is_empty() && h != "/"),
            setup: None,
            next_id: 0,
        }
    }

    fn bubble(&mut self, who: Who, text: String, spoken: bool, live: bool) -> Bubble {
        self.next_id += 1;
        Bubble {
            id: self.next_id,
            who,
            text,
            spoken,
            live,
            request_id: None,
            speaking: false,
        }
    }

    /// The person typed `text` and pressed Enter: their bubble, and the request to
    /// send. Blank text sends nothing.
    pub fn typed(&mut self, text: &str) -> Option<ChatRequest> {
        let content = text.trim();
        if content.is_empty() {
            return None;
        }
        let request_id = Uuid::new_v4();
        let mut b = self.bubble(Who::Person, content.to_owned(), false, false);
        b.request_id = Some(request_id);
        self.items.push(Item::Bubble(b));
        self.follow = true;
        Some(ChatRequest {
            request_id,
            content: content.to_owned(),
            spoken: false,
        })
    }

    /// The person asked for a new conversation (Ctrl+N, the button).
    pub fn new_conversation(&mut self) -> NewConversationRequest {
        NewConversationRequest {
            request_id: Uuid::new_v4(),
        }
    }

    /// The agent answered the hello.
    pub fn connected(&mut self, welcome: &Welcome) {
        self.link = Link::Online {
            agent_version: welcome.agent_version.clone(),
        };
    }

    /// The link dropped or could not be made; `why` says what to do. A reply that
    /// was streaming will not go on: it is closed as it is.
    pub fn disconnected(&mut self, why: &str) {
        self.link = Link::Offline(why.to_owned());
        if let Some(s) = &mut self.setup {
            s.interrupted();
        }
        self.voice = VoiceState::Idle;
        self.level = 0.0;
        for item in &mut self.items {
            match item {
                Item::Bubble(b) => {
                    b.live = false;
                    b.speaking = false;
                }
                Item::Tool(c)
                    if matches!(c.state, CardState::Calling | CardState::Waiting { .. }) =>
                {
                    c.state = CardState::Cancelled;
                    c.result = "the connection to the agent was lost".into();
                }
                _ => {}
            }
        }
    }

    /// The person scrolled: the list follows new text only while it is at the bottom.
    pub fn scrolled(&mut self, at_bottom: bool) {
        self.follow = at_bottom;
    }

    /// Shows or hides a card's whole result.
    pub fn toggle(&mut self, call_id: &str) {
        if let Some(c) = self.card_mut(None, call_id) {
            c.expanded = !c.expanded;
        }
    }

    /// The reply being spoken now, if any: a click on it stops the speech.
    pub fn speaking(&self) -> Option<&Bubble> {
        self.bubbles().find(|b| b.speaking)
    }

    /// What the agent sent.
    pub fn apply(&mut self, msg: IpcMessage) {
        match msg {
            IpcMessage::Welcome(w) => self.connected(&w),
            IpcMessage::StatusReply(s) => {
                self.provider = Some(s.provider);
                self.model = s.model;
                match (&self.setup, s.configured) {
                    (None, false) => self.setup = Some(crate::setup::Setup::default()),
                    // Set up from another window meanwhile.
                    (Some(_), true) => self.setup = None,
                    _ => {}
                }
            }
            IpcMessage::SetupReply(r) => {
                self.setup = None;
                let model = r
                    .model
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                self.items.push(Item::Notice(format!(
                    "Saved in {}: AIOS answers with {}{model} from now on.",
                    self.tilde(&r.saved_to),
                    r.provider
                )));
                self.provider = Some(r.provider);
                self.model = r.model;
            }
            IpcMessage::Error(e)
                if e.request_id.is_some_and(|id| {
                    self.setup
                        .as_mut()
                        .is_some_and(|s| s.refused(id, &e.message))
                }) => {}
            IpcMessage::StreamChunk(c) => self.chunk(c),
            IpcMessage::ToolCall(t) => self.tool_call(t),
            IpcMessage::ConfirmPending(p) => self.confirm_pending(p),
            IpcMessage::ToolResult(r) => self.tool_result(r),
            IpcMessage::Transcript(t) => self.transcript(t),
            IpcMessage::VoiceState(v) => {
                self.voice = v.state;
                self.hands_free = v.hands_free;
                if v.state != VoiceState::Listening {
                    self.level = 0.0;
                }
                self.mark_speaking(v.state == VoiceState::Speaking);
            }
            IpcMessage::InputLevel(l) => self.level = l.level.clamp(0.0, 1.0),
            IpcMessage::HistoryReply(h) => self.history(h),
            IpcMessage::ConversationStarted(_) => {
                self.items
                    .push(Item::Notice("New conversation: earlier messages are kept here, the assistant starts afresh.".into()));
            }
            IpcMessage::Error(e) => self.error(e),
            // Requests the chat itself sends, and replies it does not wait for.
            _ => {}
        }
    }

    fn bubbles(&self) -> impl DoubleEndedIterator<Item = &Bubble> {
        self.items.iter().filter_map(|i| match i {
            Item::Bubble(b) => Some(b),
            _ => None,
        })
    }

    /// The card of call `call_id` in turn `request` (call ids are only unique within
    /// a turn: a restarted agent counts from the start again).
    fn card_mut(&mut self, request: Option<Uuid>, call_id: &str) -> Option<&mut ToolCard> {
        self.items.iter_mut().rev().find_map(|i| match i {
            Item::Tool(c) if c.call_id == call_id && request.is_none_or(|r| r == c.request_id) => {
                Some(c)
            }
            _ => None,
        })
    }

    /// Whether the person's request `id` was spoken.
    fn was_spoken(&self, id: Uuid) -> bool {
        self.bubbles()
            .any(|b| b.who == Who::Person && b.request_id == Some(id) && b.spoken)
    }

    fn chunk(&mut self, c: StreamChunk) {
        // Text after a tool card starts a new bubble below it, so the list reads in
        // the order things happened.
        let open = match self.items.last_mut() {
            Some(Item::Bubble(b))
                if b.who == Who::Assistant && b.live && b.request_id == Some(c.request_id) =>
            {
                Some(b)
            }
            _ => None,
        };
        match open {
            Some(b) => b.text.push_str(&c.delta),
            None if !c.delta.is_empty() => {
                let spoken = self.was_spoken(c.request_id);
                let mut b = self.bubble(Who::Assistant, c.delta.clone(), spoken, true);
                b.request_id = Some(c.request_id);
                self.items.push(Item::Bubble(b));
            }
            None => {}
        }
        if c.done {
            self.end_turn(c.request_id);
        }
    }

    /// The turn `id` is over: nothing of it changes any more. A card still open (the
    /// turn failed between a call and its result) says the call did not finish.
    fn end_turn(&mut self, id: Uuid) {
        for item in &mut self.items {
            match item {
                Item::Bubble(b) if b.request_id == Some(id) => b.live = false,
                Item::Tool(c)
                    if c.request_id == id
                        && matches!(c.state, CardState::Calling | CardState::Waiting { .. }) =>
                {
                    c.state = CardState::Failed;
                    c.result = "the turn ended before this call finished".into();
                }
                _ => {}
            }
        }
    }

    fn tool_call(&mut self, t: ToolCallEvent) {
        let target = self.target_of(&t.call.arguments);
        self.items.push(Item::Tool(ToolCard {
            request_id: t.request_id,
            call_id: t.call.id,
            tool: one_line(&t.call.name),
            target,
            state: CardState::Calling,
            result: String::new(),
            expanded: false,
        }));
    }

    fn confirm_pending(&mut self, p: ConfirmPendingEvent) {
        if let Some(c) = self.card_mut(Some(p.request_id), &p.call_id) {
            c.state = CardState::Waiting {
                destructive: p.requirement == TrustRequirement::DoubleConfirm,
                timeout_secs: p.timeout_secs,
            };
        }
    }

    fn tool_result(&mut self, r: ToolResultEvent) {
        if let Some(c) = self.card_mut(Some(r.request_id), &r.result.call_id) {
            c.state = match r.status {
                ToolStatus::Ok => CardState::Done,
                ToolStatus::Failed => CardState::Failed,
                ToolStatus::Denied => CardState::Denied,
                ToolStatus::TimedOut => CardState::TimedOut,
                ToolStatus::Cancelled => CardState::Cancelled,
            };
            c.result = r.result.content;
        }
    }

    fn transcript(&mut self, t: TranscriptEvent) {
        let live = self.items.iter().rposition(
            |i| matches!(i, Item::Bubble(b) if b.who == Who::Person && b.spoken && b.live),
        );
        match (t.kind, live) {
            (TranscriptKind::Partial, Some(at)) => {
                if let Item::Bubble(b) = &mut self.items[at] {
                    b.text = t.text;
                }
            }
            (TranscriptKind::Partial, None) => {
                let b = self.bubble(Who::Person, t.text, true, true);
                self.items.push(Item::Bubble(b));
                self.follow = true;
            }
            // Nothing was understood: the partial words go.
            (TranscriptKind::Final, Some(at)) if t.text.trim().is_empty() => {
                self.items.remove(at);
            }
            (TranscriptKind::Final, _) if t.text.trim().is_empty() => {}
            (TranscriptKind::Final, Some(at)) => {
                if let Item::Bubble(b) = &mut self.items[at] {
                    b.text = t.text;
                    b.live = false;
                    b.request_id = t.request_id;
                }
            }
            (TranscriptKind::Final, None) => {
                let mut b = self.bubble(Who::Person, t.text, true, false);
                b.request_id = t.request_id;
                self.items.push(Item::Bubble(b));
            }
        }
    }

    /// Marks the latest spoken reply as being spoken (or none).
    fn mark_speaking(&mut self, on: bool) {
        let latest = self
            .items
            .iter()
            .rposition(|i| matches!(i, Item::Bubble(b) if b.who == Who::Assistant && b.spoken));
        for (n, item) in self.items.iter_mut().enumerate() {
            if let Item::Bubble(b) = item {
                b.speaking = on && Some(n) == latest;
            }
        }
    }

    fn history(&mut self, h: HistoryReply) {
        let mut earlier = Vec::new();
        for m in h.messages {
            let who = match m.role {
                Role::User => Who::Person,
                Role::Assistant if !m.content.trim().is_empty() => Who::Assistant,
                _ => continue,
            };
            earlier.push(Item::Bubble(self.bubble(who, m.content, false, false)));
        }
        // Earlier messages go above whatever this window already shows.
        self.items.splice(0..0, earlier);
    }

    fn error(&mut self, e: ErrorReply) {
        if let Some(id) = e.request_id {
            self.end_turn(id);
        }
        self.items.push(Item::Notice(one_line(&e.message)));
    }

    /// `path` with the home folder as `~`.
    fn tilde(&self, path: &str) -> String {
        match &self.home {
            Some(home) => match path.strip_prefix(home.as_str()) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("~{rest}"),
                _ => path.to_owned(),
            },
            None => path.to_owned(),
        }
    }

    /// The person pressed setup's button: the request to send, if any.
    pub fn submit_setup(&mut self) -> Option<aios_common::ipc::SetupRequest> {
        self.setup.as_mut().and_then(crate::setup::Setup::submit)
    }

    /// A call's target in one line: the path, URL, network or command it acts on,
    /// else its arguments. Values are escaped; the home folder reads `~`.
    fn target_of(&self, args: &serde_json::Value) -> String {
        let main = ["path", "url", "ssid", "command", "query", "level"]
            .iter()
            .find_map(|k| args.get(*k))
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        let text = match main {
            Some(t) => t,
            None if args.as_object().is_some_and(|o| o.is_empty()) => String::new(),
            None => args.to_string(),
        };
        let text = self.tilde(&text);
        cut_middle(&one_line(&text), TARGET_CHARS)
    }
}

#[cfg(test)]
#[path = "conversation_tests.rs"]
mod tests;
