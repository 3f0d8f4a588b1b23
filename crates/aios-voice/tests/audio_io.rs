//! The real capture and playback paths: a private PipeWire (with WirePlumber, a null
//! sink as the speaker and a loopback as the microphone) and cpal through PipeWire's
//! ALSA plugin. cpal finds PipeWire through the environment, so the test starts
//! PipeWire and runs its body in a child copy of this test binary with that
//! environment.

#[path = "../../aios-mcp/tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aios_voice::wer::{normalize, word_errors};
use aios_voice::{
    ListenConfig, ListenEvent, Listener, Output, Source, Speaker, SpeakerEvent, Stt, SttConfig,
    Tts, Vad, VadConfig,
};

fn model(name: &str) -> PathBuf {
    aios_common::models::find_model(name).unwrap_or_else(|e| panic!("{e}; run `make models`"))
}

const CHILD: &str = "AIOS_AUDIO_IO_CHILD";
const NAME: &str = "microphone_capture_and_interruptible_playback_through_pipewire";

#[test]
fn microphone_capture_and_interruptible_playback_through_pipewire() {
    if let Some(host) = std::env::var_os(CHILD) {
        let pw = support::PipeWire::attach();
        let mic = aios_voice::capture::Capture::open_default().expect("microphone");
        assert_eq!(mic.host(), host, "the sound system used");
        drop(mic);
        capture_hears_a_clip_with_partials(&pw);
        barge_in_stops_the_samples_and_the_speaker_keeps_working();
        return;
    }
    let pw = support::PipeWire::start().with_mic();
    // PipeWire's PulseAudio server when it runs; ALSA (PipeWire's ALSA plugin) when
    // no PulseAudio server is found.
    for (host, extra) in [
        ("PulseAudio", None),
        (
            "ALSA",
            Some(("PULSE_SERVER", "unix:/nonexistent/pulse/native")),
        ),
    ] {
        let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([NAME, "--exact", "--nocapture"])
            .envs(pw.env.iter().map(|(k, v)| (k, v)))
            .envs(extra)
            .env(CHILD, host)
            .status()
            .expect("run the test body");
        assert!(
            status.success(),
            "the test body failed through {host} (its output is above)"
        );
    }
}

fn capture_hears_a_clip_with_partials(pw: &support::PipeWire) {
    let clip = model("speech/librivox/sense_and_sensibility_01_austen_64kb-0870.wav");
    let vad = Vad::load(&model("silero-vad-6.2.3/silero_vad.onnx")).expect("VAD");
    let (tx, rx) = mpsc::channel();
    let cfg = ListenConfig {
        vad: VadConfig::default(),
        partial_every_ms: 500,
        hands_free: false,
        early_end_ms: 250,
        echo: None,
    };
    let (listener, _vad) = Listener::start(Source::Microphone, vad, cfg, move |e| {
        let _ = tx.send((Instant::now(), e));
    })
    .expect("listen");
    // Wait for the stream to be open before the clip starts.
    let (_, first) = rx.recv_timeout(Duration::from_secs(10)).expect("an event");
    assert!(matches!(first, ListenEvent::Opened), "{first:?}");
    let mut player = pw.play(&clip);
    assert!(player.wait().expect("pw-play").success());
    std::thread::sleep(Duration::from_millis(300));
    let released = Instant::now();
    listener.stop();
    let mut events = Vec::new();
    loop {
        let (at, e) = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|err| {
                panic!(
                    "no Ended ({err}) after {:?}",
                    events.iter().map(|(_, e)| e).collect::<Vec<_>>()
                )
            });
        if let ListenEvent::Failed(why) = &e {
            panic!("the capture failed: {why}");
        }
        let end = matches!(e, ListenEvent::Ended { .. });
        events.push((at, e));
        if end {
            break;
        }
    }
    let loud = events
        .iter()
        .filter(|(_, e)| matches!(e, ListenEvent::Level(l) if *l > 0.4))
        .count();
    assert!(
        loud >= 10,
        "the level meter moved with the speech ({loud} loud reports)"
    );
    let partials = events
        .iter()
        .filter(|(_, e)| matches!(e, ListenEvent::Partial(_)))
        .count();
    // 7 s of speech, a snapshot every 500 ms of it.
    assert!(partials >= 8, "{partials} partial snapshots");
    assert!(
        events
            .iter()
            .any(|(_, e)| matches!(e, ListenEvent::SpeechStart))
    );
    let Some((
        at,
        ListenEvent::Ended {
            speech, seconds, ..
        },
    )) = events.last()
    else {
        unreachable!()
    };
    assert!(
        *at - released < Duration::from_millis(200),
        "ended soon after the release"
    );
    let speech = speech.as_ref().expect("speech was heard");
    assert!(*seconds > 7.0, "listened {seconds} s");
    let secs = speech.len() as f32 / 16_000.0;
    assert!(
        (6.5..9.0).contains(&secs),
        "the speech is the clip: {secs} s"
    );
    let stt = Stt::load(&model("ggml-base.bin"), SttConfig::default()).expect("whisper");
    let heard = stt.transcribe(speech).expect("transcribe").text;
    let reference = "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them";
    let errors = word_errors(&normalize(reference), &normalize(&heard));
    eprintln!("captured: {partials} partials, {secs:.2} s of speech, heard {heard:?}");
    assert!(
        errors <= 2,
        "captured speech transcribed as {heard:?} ({errors} errors)"
    );
}

fn barge_in_stops_the_samples_and_the_speaker_keeps_working() {
    let tts = Tts::load(&model("en_US-joe-medium.onnx")).expect("Piper");
    let (tx, rx) = mpsc::channel();
    let speaker = Speaker::start(tts, Output::Device, move |e| {
        let _ = tx.send(e);
    })
    .expect("open the PipeWire output");
    let stats = speaker.stats().clone();
    for s in [
        "This is the first sentence of a long answer that nobody will wait for.",
        "Here is a second sentence, which should never be heard at all.",
        "And a third one, queued behind the others.",
    ] {
        speaker.say(1, s);
    }
    match rx.recv_timeout(Duration::from_secs(10)).expect("started") {
        SpeakerEvent::Started { utterance: 1, .. } => {}
        other => panic!("{other:?}"),
    }
    // Half a second of sound has gone to the device, in real time.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.played.load(Ordering::Relaxed) < 11_025 {
        assert!(Instant::now() < deadline, "playback is not advancing");
        std::thread::sleep(Duration::from_millis(10));
    }
    speaker.stop();
    match rx
        .recv_timeout(Duration::from_secs(5))
        .expect("idle after the stop")
    {
        SpeakerEvent::Idle { .. } => {}
        other => panic!("{other:?}"),
    }
    let played = stats.played.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        stats.played.load(Ordering::Relaxed),
        played,
        "no sample reaches the device after the stop"
    );
    let synthesized = stats.synthesized.load(Ordering::Relaxed);
    assert!(
        played < synthesized / 2,
        "stopped early: {played} of {synthesized} samples played"
    );
    assert!(
        played < 22_050 * 2,
        "well within the first sentence: {played}"
    );
    let stop_us = stats.last_stop_us.load(Ordering::Relaxed);
    assert!(stop_us > 0, "the output saw the stop");
    eprintln!(
        "barge-in: {stop_us} µs from stop() to the last sample; {played} of {synthesized} samples played"
    );

    // The speaker goes on with the next reply, played to its end.
    speaker.say(2, "Done.");
    match rx.recv_timeout(Duration::from_secs(10)).expect("started") {
        SpeakerEvent::Started { utterance: 2, .. } => {}
        other => panic!("{other:?}"),
    }
    match rx.recv_timeout(Duration::from_secs(10)).expect("idle") {
        SpeakerEvent::Idle { .. } => {}
        other => panic!("{other:?}"),
    }
    let after = stats.played.load(Ordering::Relaxed);
    let second = stats.synthesized.load(Ordering::Relaxed) - synthesized;
    assert_eq!(after - played, second, "the whole second reply was played");
}
