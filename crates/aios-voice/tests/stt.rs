//! Speech to text with the real whisper models from `make models` (a missing model
//! fails these tests; it never skips them).

use std::path::PathBuf;

use aios_voice::audio::read_wav_16k;
use aios_voice::vad::segments;
use aios_voice::wer::{normalize, word_errors};
use aios_voice::{Recognizer, SAMPLE_RATE, Stt, SttConfig, Vad, VadConfig, VoiceError};

/// Spoken-command clips (of 160) allowed more than one word error: the measured
/// count with the shipped settings (see the test).
const MAX_MISSES: usize = 15;

fn model(name: &str) -> PathBuf {
    aios_common::models::find_model(name).unwrap_or_else(|e| panic!("{e}; run `make models`"))
}

fn default_stt() -> Stt {
    Stt::load(&model("ggml-base.bin"), SttConfig::default()).expect("load")
}

fn vad() -> Vad {
    Vad::load(&model("silero-vad-6.2.3/silero_vad.onnx")).expect("load the VAD")
}

/// The shipped `[voice]` settings: base, and tiny.en for a second opinion.
fn recognizer() -> Recognizer {
    Recognizer::from_config(&aios_common::config::VoiceSection::default()).expect("load")
}

fn noise(seconds: u32, level: f32) -> Vec<f32> {
    // A fixed-seed generator: the same noise every run.
    let mut x: u32 = 0x1234_5678;
    (0..seconds * SAMPLE_RATE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32 - 0.5) * level
        })
        .collect()
}

fn clips() -> Vec<(String, Vec<String>, Vec<f32>)> {
    let list = model("speech/librivox/transcription");
    let dir = list.parent().expect("dir");
    std::fs::read_to_string(&list)
        .expect("transcription")
        .lines()
        .map(|line| {
            let (text, id) = line.rsplit_once(" (").expect("line");
            let id = id.trim_end_matches(')').to_owned();
            let words = normalize(&text.replace("<s>", "").replace("</s>", ""));
            let audio = read_wav_16k(&dir.join(format!("{id}.wav"))).expect("clip");
            (id, words, audio)
        })
        .collect()
}

#[test]
fn default_settings_transcribe_librivox_within_five_percent_wer() {
    let stt = default_stt();
    let clips = clips();
    assert_eq!(clips.len(), 5);
    let (mut errors, mut words) = (0, 0);
    for (id, reference, audio) in &clips {
        let t = stt.transcribe(audio).expect("transcribe");
        assert!(t.audio_ctx < 1500, "the context is sized to the clip");
        let e = word_errors(reference, &normalize(&t.text));
        eprintln!("{id}: {e} errors: {}", t.text);
        errors += e;
        words += reference.len();
    }
    let wer = errors as f64 / words as f64;
    eprintln!("WER {:.1}% ({errors}/{words})", wer * 100.0);
    assert!(wer <= 0.05, "WER {:.1}% over {words} words", wer * 100.0);
}

#[test]
fn a_cancelled_recognition_stops_and_an_uncancelled_one_is_unchanged() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stt = default_stt();
    let (_, words, audio) = clips().remove(1);
    let flag = Arc::new(AtomicBool::new(false));
    let t = stt
        .transcribe_cancellable(&audio, &flag)
        .expect("transcribe");
    let plain = stt.transcribe(&audio).expect("transcribe");
    assert_eq!(t.text, plain.text, "the abort hook changes nothing unset");
    assert!(
        word_errors(&words, &normalize(&t.text)) <= 1,
        "{:?}",
        t.text
    );
    // Set while whisper runs, from another thread, as the agent does at a release.
    let setter = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            flag.store(true, Ordering::Relaxed);
        })
    };
    let t0 = std::time::Instant::now();
    let r = stt.transcribe_cancellable(&audio, &flag);
    eprintln!(
        "cancelled after {} ms (uncancelled: {} ms)",
        t0.elapsed().as_millis(),
        plain.elapsed_ms
    );
    setter.join().expect("setter");
    assert!(matches!(r, Err(VoiceError::Cancelled)), "{r:?}");
}

#[test]
fn silence_and_white_noise_give_no_transcript() {
    let mut r = recognizer();
    let silence = vec![0.0f32; 3 * SAMPLE_RATE as usize];
    assert_eq!(r.recognize(&silence).expect("silence").text, "");
    for level in [0.02, 0.2, 0.6] {
        let t = r.recognize(&noise(3, level)).expect("noise");
        assert_eq!(t.text, "", "white noise at {level} gave {:?}", t.text);
    }
    // Speech under the same noise is still heard.
    let (_, reference, mut audio) = clips().remove(1);
    for (s, n) in audio.iter_mut().zip(noise(4, 0.02)) {
        *s += n;
    }
    let t = r.recognize(&audio).expect("speech");
    assert!(
        word_errors(&reference, &normalize(&t.text)) <= 1,
        "{:?}",
        t.text
    );
}

#[test]
fn vad_splits_speech_silence_speech() {
    let clips = clips();
    let (a, b) = (&clips[1].2, &clips[4].2);
    let gap = 1.5;
    let mut audio = a.clone();
    audio.extend(vec![0.0; (gap * SAMPLE_RATE as f32) as usize]);
    audio.extend(b);
    let probs = vad().probabilities(&audio).expect("vad");
    let found = segments(&probs, audio.len(), &VadConfig::default());
    assert_eq!(found.len(), 2, "{found:?}");
    let secs = |s: usize| s as f32 / SAMPLE_RATE as f32;
    // The first ends in the gap, the second starts in it.
    let gap_start = secs(a.len());
    let gap_end = gap_start + gap;
    assert!(
        secs(found[0].end) > gap_start - 0.5 && secs(found[0].end) < gap_end,
        "{found:?}"
    );
    assert!(
        secs(found[1].start) > gap_start && secs(found[1].start) < gap_end + 0.5,
        "{found:?}"
    );
}

#[test]
fn a_missing_or_corrupt_model_says_run_make_models() {
    let e = Stt::load(
        &PathBuf::from("/nonexistent/ggml-base.bin"),
        SttConfig::default(),
    )
    .expect_err("missing");
    assert!(matches!(e, VoiceError::ModelMissing { .. }));
    assert!(e.to_string().contains("make models"), "{e}");
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("ggml-base.bin");
    std::fs::write(&bad, b"lmgg not a model").expect("w");
    let e = Stt::load(&bad, SttConfig::default()).expect_err("corrupt");
    assert!(matches!(e, VoiceError::ModelCorrupt { .. }), "{e}");
    assert!(e.to_string().contains("make models"), "{e}");
    // A download cut off: the header is fine, the manifest beside it knows the size.
    let real = model("ggml-base.bin");
    let bytes = std::fs::read(&real).expect("model");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).expect("w");
    let manifest = real.with_file_name("manifest.tsv");
    std::fs::copy(&manifest, dir.path().join("manifest.tsv")).expect("manifest");
    let e = Stt::load(&bad, SttConfig::default()).expect_err("truncated");
    assert!(e.to_string().contains("where the manifest says"), "{e}");
    // And the VAD model.
    let e = Vad::load(&dir.path().join("silero_vad.onnx")).expect_err("missing");
    assert!(e.to_string().contains("make models"), "{e}");
    std::fs::write(dir.path().join("silero_vad.onnx"), b"not onnx").expect("w");
    let e = Vad::load(&dir.path().join("silero_vad.onnx")).expect_err("corrupt");
    assert!(matches!(e, VoiceError::ModelCorrupt { .. }), "{e}");
}

#[test]
fn piper_speaks_a_sentence_that_whisper_hears_back() {
    let mut tts = aios_voice::Tts::load(&model("en_US-joe-medium.onnx")).expect("load the voice");
    let sentence = "Deleted three files in your Downloads folder.";
    // Piper's normal takes vary at random; the steady take is the same every run.
    let speech = tts.synthesize_steady(sentence).expect("speak");
    assert_eq!(
        speech.samples,
        tts.synthesize_steady(sentence).expect("again").samples
    );
    assert_eq!(speech.sample_rate, 22_050);
    assert!(
        speech.seconds() > 1.0 && speech.seconds() < 6.0,
        "{} s",
        speech.seconds()
    );
    let audio = aios_voice::audio::resample(&speech.samples, speech.sample_rate, SAMPLE_RATE)
        .expect("resample");
    let heard = recognizer().recognize(&audio).expect("recognize");
    let errors = word_errors(&normalize(sentence), &normalize(&heard.text));
    assert!(errors <= 1, "{sentence:?} came back as {:?}", heard.text);
}

/// Spoken commands: four espeak-ng voices and speeds, and Piper, including clips of
/// about one second, 160 clips in all. The goal is at most one word error for every
/// clip, which the offline models do not reach (README): base alone misses 27, the
/// synthetic voices' "volume up", "screenshot" and "lower the volume" being the worst;
/// with tiny.en's second opinion when base is unsure (the shipped settings) it misses
/// MAX_MISSES. This holds that line and prints every miss. The threshold for asking
/// was chosen on the first 16 commands; the second 16 were written afterwards.
#[test]
fn spoken_commands_are_transcribed_within_one_word() {
    const COMMANDS: &[&str] = &[
        "stop",
        "volume up",
        "set the volume to forty percent",
        "what is the weather like today",
        "open my downloads folder",
        "delete the old screenshots",
        "how much battery is left",
        "connect to the home network",
        // Held out.
        "mute the sound",
        "what time is it",
        "turn the brightness down",
        "show me my music folder",
        "list the files on my desktop",
        "how much disk space is free",
        "close this window",
        "play some music",
        // Written after the second opinion's threshold was chosen.
        "take a screenshot",
        "lower the volume",
        "pause the music",
        "open the terminal",
        "search the web for pizza",
        "what is my ip address",
        "turn off the wifi",
        "next song",
        "read my notifications",
        "create a folder called projects",
        "how hot is the processor",
        "lock the screen",
        "empty the trash",
        "copy this file to documents",
        "shut down the computer",
        "set a timer for five minutes",
    ];
    let espeak = ["/usr/bin/espeak-ng", "/usr/local/bin/espeak-ng"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("espeak-ng is missing: run `make setup`");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut r = recognizer();
    let mut tts = aios_voice::Tts::load(&model("en_US-joe-medium.onnx")).expect("voice");
    let mut failures = Vec::new();
    let (mut asked, mut taken) = (0, 0);
    let mut shortest = f32::MAX;
    for (i, cmd) in COMMANDS.iter().enumerate() {
        let mut voices: Vec<(String, Vec<f32>)> = Vec::new();
        for (voice, speed) in [
            ("en-us", "150"),
            ("en-us", "190"),
            ("en", "140"),
            ("en-us+f3", "165"),
        ] {
            let wav = dir.path().join(format!("{i}-{voice}-{speed}.wav"));
            let ok = std::process::Command::new(espeak)
                .args(["-v", voice, "-s", speed, "-w"])
                .arg(&wav)
                .arg(cmd)
                .status()
                .expect("run espeak-ng")
                .success();
            assert!(ok, "espeak-ng failed for {cmd:?}");
            voices.push((
                format!("espeak {voice} {speed} wpm"),
                read_wav_16k(&wav).expect("read"),
            ));
        }
        let sp = tts.synthesize_steady(cmd).expect("piper");
        let piper = aios_voice::audio::resample(&sp.samples, sp.sample_rate, SAMPLE_RATE)
            .expect("resample");
        voices.push(("piper joe".into(), piper));
        for (who, audio) in voices {
            shortest = shortest.min(audio.len() as f32 / SAMPLE_RATE as f32);
            let t = r.recognize(&audio).expect("recognize");
            let errors = word_errors(&normalize(cmd), &normalize(&t.text));
            asked +=
                usize::from(t.avg_logprob < aios_voice::stt::UNSURE_LOGPROB || t.second_opinion);
            taken += usize::from(t.second_opinion);
            if errors > 1 {
                let by = if t.second_opinion { "tiny.en" } else { "base" };
                failures.push(format!(
                    "{who}: {cmd:?} -> {:?} ({errors} errors, {by}, logprob {:.2})",
                    t.text, t.avg_logprob
                ));
            }
        }
    }
    assert!(
        shortest < 1.2,
        "the set includes clips of about a second (shortest {shortest:.2} s)"
    );
    let total = COMMANDS.len() * 5;
    eprintln!(
        "{} of {total} clips missed by two words or more (second opinion asked {asked} times, taken {taken}):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(taken > 0, "the second opinion was never taken");
    assert!(
        failures.len() <= MAX_MISSES,
        "{} of {total} clips:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
