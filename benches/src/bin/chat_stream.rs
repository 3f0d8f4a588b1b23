//! Does the chat window keep up with a streamed reply? A 500-token Markdown reply
//! (prose, a list, a code block) arrives one token at a time, as the agent sends it;
//! after each token the window does what it does on the screen: `update` (which
//! parses only the new Markdown), `view`, layout and a full draw with tiny-skia (at
//! scale 2, four times the pixels of a 1x screen: an upper bound). At 50 tokens/s a
//! token comes every 20 ms; the window falls behind when one takes longer.
//!
//! `cargo run --release -p aios-benches --bin chat_stream [-- --tokens 500 --runs 3]`

use std::time::{Duration, Instant};

use aios_chat::app::{Chat, Message};
use aios_chat::link::Event;
use aios_common::ipc::{IpcMessage, PROTOCOL_VERSION, StreamChunk, Welcome};
use clap::Parser;
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    /// Tokens in the reply.
    #[arg(long, default_value_t = 500)]
    tokens: usize,
    /// Whole replies streamed, each into a fresh window.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Tokens per second the model sends.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
}

/// About 4 characters a token, as a BPE tokenizer cuts English and code.
fn tokens(n: usize) -> Vec<String> {
    let block = "## What the folder holds\n\nYour **Downloads** folder has *twelve* files; the largest are:\n\n- `ubuntu.iso`: 4.1 GB, from last week\n- `talk.mp4`: 820 MB\n- [the report](https://example.com/report.pdf), 2 MB\n\nTo list them yourself:\n\n```python\nimport os\n\nfor name in sorted(os.listdir(os.path.expanduser(\"~/Downloads\"))):\n    print(name, os.path.getsize(name))\n```\n\nAnything else you would like to know about them?\n\n";
    let mut text = String::new();
    while text.len() < n * 4 {
        text.push_str(block);
    }
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(4)
        .take(n)
        .map(|c| c.iter().collect())
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let args = Args::parse();
    let pieces = tokens(args.tokens);
    let budget = Duration::from_secs_f64(1.0 / args.rate);
    let mut all = Vec::new();
    let mut layout = Vec::new();
    for _ in 0..args.runs {
        let mut chat = Chat::new("/nonexistent/aios.sock".into(), None);
        let (tx, _rx) = iced::futures::channel::mpsc::channel(64);
        let _ = chat.update(Message::Link(Event::Connected(
            Welcome {
                protocol_version: PROTOCOL_VERSION,
                agent_version: "bench".into(),
                max_frame: 1 << 20,
            },
            tx,
        )));
        let id = Uuid::new_v4();
        for piece in &pieces {
            let start = Instant::now();
            let _ = chat.update(Message::Link(Event::Received(IpcMessage::StreamChunk(
                StreamChunk {
                    request_id: id,
                    delta: piece.clone(),
                    done: false,
                },
            ))));
            let mut ui = iced_test::Simulator::with_size(
                iced::Settings::default(),
                (760.0, 720.0),
                chat.view(),
            );
            layout.push(start.elapsed());
            let _ = ui.snapshot(&iced::Theme::Dark).expect("draw");
            all.push(start.elapsed());
        }
    }
    all.sort();
    layout.sort();
    let behind = all.iter().filter(|d| **d > budget).count();
    let total: Duration = all.iter().sum();
    println!(
        "{} tokens x {} runs, a token every {:.0} ms ({} tok/s)",
        args.tokens,
        args.runs,
        budget.as_secs_f64() * 1000.0,
        args.rate
    );
    println!(
        "per token (update + view + layout + draw at 2x): p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        percentile(&all, 0.5).as_secs_f64() * 1000.0,
        percentile(&all, 0.95).as_secs_f64() * 1000.0,
        all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
    println!(
        "of which update + view + layout: p50 {:.2} ms, p95 {:.2} ms (the rest is the draw and the copy of a 1520x1440 picture)",
        percentile(&layout, 0.5).as_secs_f64() * 1000.0,
        percentile(&layout, 0.95).as_secs_f64() * 1000.0,
    );
    println!(
        "tokens over the {:.0} ms budget: {behind} of {}; busy {:.0}% of the stream's time",
        budget.as_secs_f64() * 1000.0,
        all.len(),
        100.0 * total.as_secs_f64() / (all.len() as f64 * budget.as_secs_f64())
    );
}
