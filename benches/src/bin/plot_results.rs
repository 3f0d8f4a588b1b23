//! Draws a results file of `benches/results/` (written by
//! `benches/collect-results.py`) as stacked bars: per LLM setting, where the time
//! from the push-to-talk release to the reply's first sound goes (the final
//! transcript, the model's first token, the first sentence's synthesis handed to the
//! output, the sound server's path to the speaker). Two panels, because the local
//! model's seconds would flatten the instant model's milliseconds.
//!
//! `cargo run --release -p aios-benches --bin plot_results [RESULTS.json]`
//! (default: the newest file in `benches/results/`), writes
//! `benches/results/latency.svg`, which `benches/README.md` shows.

use std::path::PathBuf;

use anyhow::{Context, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

/// The stages, in the order they happen, with their colours.
const STAGES: [(&str, RGBColor); 4] = [
    ("release → final transcript", RGBColor(0x4c, 0x72, 0xb0)),
    ("→ first model token", RGBColor(0xdd, 0x84, 0x52)),
    (
        "→ first sentence handed to the output",
        RGBColor(0x55, 0xa8, 0x68),
    ),
    ("→ first sound through the sink", RGBColor(0x81, 0x72, 0xb3)),
];

/// One bar: a setting's name and its stage lengths (p50s made cumulative → parts).
struct Bar {
    name: String,
    parts: [u64; 4],
}

/// The bar of the setting whose keys start with `prefix`, when the file has it.
fn bar(v: &Value, prefix: &str, name: &str) -> Option<Bar> {
    let at = |key: &str| v.get(format!("{prefix}_{key}")).and_then(Value::as_u64);
    let cum = [
        at("final_p50_ms")?,
        at("token_p50_ms")?,
        at("handed_p50_ms")?,
        at("p50_ms")?,
    ];
    // p50s of different stages are taken over the same utterances but need not
    // be ordered; a stage never counts as negative.
    let mut parts = [0; 4];
    let mut before = 0;
    for (k, c) in cum.into_iter().enumerate() {
        parts[k] = c.saturating_sub(before);
        before = before.max(c);
    }
    Some(Bar {
        name: name.into(),
        parts,
    })
}

fn newest_result() -> Result<PathBuf> {
    let dir = aios_benches::workspace_root().join("benches/results");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("{}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        // A dry run's few repetitions are not worth a chart.
        .filter(|p| !p.to_string_lossy().ends_with("-quick.json"))
        .collect();
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    files
        .pop()
        .context("no results yet: run `make bench` (it writes benches/results/)")
}

fn panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    title: &str,
    bars: &[Bar],
    legend: bool,
) -> Result<()> {
    let top = bars
        .iter()
        .map(|b| b.parts.iter().sum::<u64>())
        .max()
        .unwrap_or(1);
    // Room above the bars for the totals, and for the legend in its panel.
    let top = (top as f64 * if legend { 1.55 } else { 1.2 }) as u64 + 1;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(56)
        // Bar i is centred on x = i.
        .build_cartesian_2d(-0.5..bars.len() as f64 - 0.5, 0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .y_desc("ms (p50)")
        .x_labels(2 * bars.len() + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            match bars.get(i as usize) {
                Some(b) if (x - i).abs() < 1e-6 && i >= 0.0 => b.name.clone(),
                _ => String::new(),
            }
        })
        .draw()?;
    for (k, (label, colour)) in STAGES.iter().enumerate() {
        let rects = bars.iter().enumerate().map(|(i, b)| {
            let y0: u64 = b.parts[..k].iter().sum();
            let x = i as f64;
            Rectangle::new([(x - 0.3, y0), (x + 0.3, y0 + b.parts[k])], colour.filled())
        });
        let series = chart.draw_series(rects)?;
        if legend {
            series.label(*label).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
            });
        }
    }
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let total: u64 = b.parts.iter().sum();
        Text::new(
            format!("{total} ms"),
            (i as f64, total + top / 100),
            ("sans-serif", 14)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Bottom)),
        )
    }))?;
    if legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let path = match std::env::args_os().nth(1) {
        Some(p) => PathBuf::from(p),
        None => newest_result()?,
    };
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", path.display()))?;
    let ours: Vec<Bar> = [bar(&v, "voice_to_voice", "instant model (all ours)")]
        .into_iter()
        .flatten()
        .collect();
    let local: Vec<Bar> = [
        bar(&v, "voice_to_voice_local", "local 1.5B, no tool"),
        bar(&v, "voice_to_voice_tool", "local 1.5B, read-only tool"),
    ]
    .into_iter()
    .flatten()
    .collect();
    anyhow::ensure!(
        !ours.is_empty() || !local.is_empty(),
        "{} has no voice-to-voice keys: run `make bench`",
        path.display()
    );
    let out = aios_benches::workspace_root().join("benches/results/latency.svg");
    let root = SVGBackend::new(&out, (1000, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let host = v.get("host").and_then(Value::as_str).unwrap_or("?");
    let date = v.get("date").and_then(Value::as_str).unwrap_or("?");
    let cpus = v.get("cpus").and_then(Value::as_u64).unwrap_or(0);
    let (head, body) = root.split_vertically(30);
    head.titled(
        &format!("Voice to voice, push-to-talk release to the reply's first sound ({host}, {cpus} cores, {date})"),
        ("sans-serif", 18),
    )?;
    let (left, right) = body.split_horizontally(330);
    if !ours.is_empty() {
        panel(&left, "instant model on 127.0.0.1", &ours, false)?;
    }
    if !local.is_empty() {
        panel(&right, "local model, warm", &local, true)?;
    }
    root.present()
        .with_context(|| format!("write {}", out.display()))?;
    println!("{}", out.display());
    Ok(())
}
