//! Voice commands: `aios transcribe` and `aios say` run on this machine with no
//! agent; `aios ptt`, `aios listen` and `aios voice-mode` go through the agent.

use aios_common::text::{one_line, printable};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use aios_common::config::AgentConfig;
use aios_common::ipc::client::IpcClient;
use aios_common::ipc::{
    IpcMessage, ListenRequest, PttRequest, TranscriptKind, VoiceModeRequest, VoiceState,
};
use aios_common::paths;
use aios_voice::Recognizer;
use aios_voice::audio::read_wav_16k;
use anyhow::Context;
use serde_json::json;
use uuid::Uuid;

/// The `[voice]` settings of the config the agent would use.
fn voice_config() -> anyhow::Result<aios_common::config::VoiceSection> {
    let path = paths::agent_config_path()?;
    let loaded = AgentConfig::load(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(loaded.config().voice.clone())
}

/// `aios say`: Piper on this machine; plays the speech, or writes it with `--out`.
pub fn say(text: &str, out: Option<&Path>, as_json: bool) -> anyhow::Result<ExitCode> {
    let cfg = voice_config()?;
    let voice = aios_voice::find_model(&cfg.tts_voice)?;
    let t0 = Instant::now();
    let mut tts = aios_voice::Tts::load(&voice)?;
    let load_ms = t0.elapsed().as_millis() as u64;
    let speech = tts.synthesize(text)?;
    match out {
        Some(path) => aios_voice::tts::write_wav(path, &speech)?,
        None => aios_voice::playback::play_blocking(&speech)?,
    }
    if as_json {
        let v = json!({
            "seconds": speech.seconds(),
            "sample_rate": speech.sample_rate,
            "voice": cfg.tts_voice,
            "timings": {"load_ms": load_ms, "synthesize_ms": speech.elapsed_ms},
            "real_time_factor": speech.elapsed_ms as f32 / 1000.0 / speech.seconds().max(0.001),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn transcribe(file: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let cfg = voice_config()?;
    let t0 = Instant::now();
    let mut rec = Recognizer::from_config(&cfg)?;
    let load_ms = t0.elapsed().as_millis() as u64;
    let t1 = Instant::now();
    let audio = read_wav_16k(file)?;
    let read_ms = t1.elapsed().as_millis() as u64;
    let t2 = Instant::now();
    let t = rec.recognize(&audio)?;
    let recognize_ms = t2.elapsed().as_millis() as u64;
    if as_json {
        let out = json!({
            "text": t.text,
            "language": t.language,
            "duration": t.duration_s,
            "model": if t.second_opinion { &cfg.second_opinion_model } else { &cfg.stt_model },
            "avg_logprob": t.avg_logprob,
            "audio_ctx": t.audio_ctx,
            "timings": {"load_ms": load_ms, "read_ms": read_ms, "recognize_ms": recognize_ms, "whisper_ms": t.elapsed_ms},
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}", printable(&t.text));
    }
    Ok(ExitCode::SUCCESS)
}

/// `aios ptt start|stop`: presses or releases push-to-talk; prints what the voice
/// pipeline reports until it settles.
pub async fn ptt(client: &mut IpcClient, start: bool) -> anyhow::Result<ExitCode> {
    let request_id = press(client, start).await?;
    follow(client, start, request_id).await
}

/// `aios ptt toggle`: one hotkey for push-to-talk. A release ends an utterance being
/// heard; with none, the agent only answers with its state, and then this presses.
pub async fn ptt_toggle(client: &mut IpcClient) -> anyhow::Result<ExitCode> {
    let request_id = press(client, false).await?;
    loop {
        match client.recv().await? {
            IpcMessage::VoiceState(s) if s.state == VoiceState::Transcribing => {
                println!("state: {}", state_name(s.state));
                return follow(client, false, request_id).await;
            }
            IpcMessage::VoiceState(_) => {
                let request_id = press(client, true).await?;
                return follow(client, true, request_id).await;
            }
            IpcMessage::Error(e) if e.request_id == Some(request_id) || e.request_id.is_none() => {
                eprintln!("aios: {}", printable(&e.message));
                return Ok(ExitCode::FAILURE);
            }
            _ => {}
        }
    }
}

/// Sends a press (`start`) or a release; returns its request id.
async fn press(client: &mut IpcClient, start: bool) -> anyhow::Result<Uuid> {
    let request_id = Uuid::new_v4();
    let req = PttRequest { request_id };
    client
        .send(&if start {
            IpcMessage::PttStart(req)
        } else {
            IpcMessage::PttStop(req)
        })
        .await?;
    Ok(request_id)
}

/// Prints what the voice pipeline reports after a press or release until it settles.
async fn follow(client: &mut IpcClient, start: bool, request_id: Uuid) -> anyhow::Result<ExitCode> {
    loop {
        match client.recv().await? {
            IpcMessage::VoiceState(s) => {
                println!("state: {}", state_name(s.state));
                let settled = if start {
                    s.state == VoiceState::Listening
                } else {
                    !matches!(s.state, VoiceState::Listening | VoiceState::Transcribing)
                };
                if settled {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            IpcMessage::Transcript(t) if t.kind == TranscriptKind::Final => {
                println!("heard: {}", printable(&t.text));
                if t.text.is_empty() {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            IpcMessage::Error(e) if e.request_id == Some(request_id) || e.request_id.is_none() => {
                eprintln!("aios: {}", printable(&e.message));
                return Ok(ExitCode::FAILURE);
            }
            _ => {}
        }
    }
}

/// `aios voice-mode hands-free|push-to-talk`.
pub async fn mode(client: &mut IpcClient, hands_free: bool) -> anyhow::Result<ExitCode> {
    let request_id = Uuid::new_v4();
    client
        .send(&IpcMessage::VoiceMode(VoiceModeRequest {
            request_id,
            hands_free,
        }))
        .await?;
    loop {
        match client.recv().await? {
            IpcMessage::VoiceState(s) if s.hands_free == hands_free => {
                println!(
                    "{}; state: {}",
                    if hands_free {
                        "hands-free"
                    } else {
                        "push-to-talk"
                    },
                    state_name(s.state)
                );
                return Ok(ExitCode::SUCCESS);
            }
            IpcMessage::Error(e) if e.request_id == Some(request_id) => {
                eprintln!("aios: {}", printable(&e.message));
                return Ok(ExitCode::FAILURE);
            }
            _ => {}
        }
    }
}

/// `aios listen --wav FILE`: the agent hears the file as if spoken.
pub async fn listen(
    client: &mut IpcClient,
    wav: &Path,
    out: Option<&Path>,
    realtime: bool,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let absolute = |p: &Path| -> anyhow::Result<String> {
        Ok(std::path::absolute(p)
            .with_context(|| format!("resolving {}", p.display()))?
            .display()
            .to_string())
    };
    let request_id = Uuid::new_v4();
    client
        .send(&IpcMessage::ListenRequest(ListenRequest {
            request_id,
            wav: absolute(wav)?,
            out: out.map(absolute).transpose()?,
            realtime,
        }))
        .await?;
    let mut turn: Option<Uuid> = None;
    let mut partials = Vec::new();
    let mut tools = Vec::new();
    loop {
        match client.recv().await? {
            IpcMessage::Transcript(t) if turn.is_none() => match t.kind {
                TranscriptKind::Partial => {
                    if !as_json {
                        println!("partial: {}", printable(&t.text));
                    }
                    partials.push(t.text);
                }
                TranscriptKind::Final => {
                    turn = t.request_id;
                    if !as_json {
                        println!("heard: {}", printable(&t.text));
                    }
                }
            },
            IpcMessage::ToolCall(c) if Some(c.request_id) == turn => {
                if !as_json {
                    println!(
                        "[tool] {} {}",
                        one_line(&c.call.name),
                        one_line(&c.call.arguments.to_string())
                    );
                }
                tools.push(json!({"name": c.call.name, "arguments": c.call.arguments}));
            }
            IpcMessage::ToolResult(r) if Some(r.request_id) == turn => {
                let status = crate::status_word(r.status);
                if !as_json {
                    let first = r.result.content.lines().next().unwrap_or_default();
                    println!("[tool {status}] {}", one_line(first));
                }
                if let Some(last) = tools.last_mut() {
                    last["status"] = json!(status);
                }
            }
            IpcMessage::ListenReply(r) if r.request_id == request_id => {
                if as_json {
                    let mut v = serde_json::to_value(&r)?;
                    v["partials"] = json!(partials);
                    v["tools"] = json!(tools);
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    if r.transcript.is_empty() {
                        println!("(no speech heard)");
                    } else {
                        println!("reply: {}", printable(r.reply.trim()));
                        println!("spoken: {}", printable(&r.spoken));
                    }
                    let t = r.timings;
                    println!(
                        "timings: audio {:.2} s, vad {} ms, stt {} ms, first text {} ms, turn {} ms, first audio {} ms",
                        t.audio_s, t.vad_ms, t.stt_ms, t.first_text_ms, t.turn_ms, t.first_audio_ms
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            IpcMessage::Error(e) if e.request_id == Some(request_id) || e.request_id.is_none() => {
                eprintln!("aios: {}", printable(&e.message));
                return Ok(ExitCode::FAILURE);
            }
            IpcMessage::Error(e) if e.request_id.is_some() && e.request_id == turn => {
                eprintln!("aios: {}", printable(&e.message));
                return Ok(ExitCode::FAILURE);
            }
            _ => {}
        }
    }
}

fn state_name(s: VoiceState) -> &'static str {
    match s {
        VoiceState::Idle => "idle",
        VoiceState::Listening => "listening",
        VoiceState::Transcribing => "transcribing",
        VoiceState::Thinking => "thinking",
        VoiceState::Speaking => "speaking",
    }
}
