//! The bench's two plots, as SVG files: accuracy against the KV bytes each method holds, and the
//! time each setting spends per phase. Drawn from the rows alone, so they can be redrawn later.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{by_setting, Row};
use crate::error::{Error, Result};

use crate::report::MIB;

fn draw_err(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> Error + '_ {
    move |e| Error::Usage(format!("drawing {}: {e}", path.display()))
}

/// One line per method through its ratios: x is the mean KV held per case (MiB; stock
/// llama.cpp's point is the KV buffer it allocated, the only size it prints), y the share of
/// cases answered correctly.
pub fn accuracy(rows: &[Row], path: &Path) -> Result<()> {
    let err = draw_err(path);
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for ((method, _), sel) in by_setting(rows) {
        let n = sel.len() as f64;
        let kv =
            sel.iter().map(|r| r.report.as_ref().map_or_else(|| r.stock.as_ref().map_or(0, |s| s.kv_alloc_bytes), |p| p.kv_bytes_kept) as f64).sum::<f64>()
                / n
                / MIB;
        let acc = sel.iter().filter(|r| r.correct).count() as f64 / n;
        let label = if method == "llama-completion" { "llama-completion (KV allocated)".to_string() } else { method };
        match lines.iter_mut().find(|(m, _)| *m == label) {
            Some((_, pts)) => pts.push((kv, acc)),
            None => lines.push((label, vec![(kv, acc)])),
        }
    }
    let x_max = lines.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)).fold(0.0, f64::max) * 1.1 + 1e-3;
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    // The legend gets a column of its own, so no point hides under it.
    let (plot, legend) = root.split_horizontally(660);
    let mut chart = ChartBuilder::on(&plot)
        .caption("Accuracy against KV held", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..x_max, 0.0..1.05)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("KV held per case (MiB)")
        .y_desc("correct")
        .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
        .draw()
        .map_err(|e| err(&e))?;
    let n = lines.len() as u32;
    for (i, (label, mut pts)) in lines.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2))).map_err(|e| err(&e))?;
        // Later methods get smaller dots, so equal results show as rings, none hidden.
        let radius = 3 + 2 * (n - i as u32);
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, radius, color.filled()))).map_err(|e| err(&e))?;
        let y = 60 + 22 * i as i32;
        legend.draw(&PathElement::new(vec![(5, y), (25, y)], color.stroke_width(3))).map_err(|e| err(&e))?;
        legend.draw(&Text::new(label, (32, y - 7), ("sans-serif", 14))).map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

/// One stacked bar per setting: mean seconds per case in prefill, scoring, compression and
/// decoding (stock llama.cpp has prefill and decode only).
pub fn phases(rows: &[Row], path: &Path) -> Result<()> {
    let err = draw_err(path);
    const PHASES: [&str; 4] = ["prefill", "score", "compress", "decode"];
    let bars: Vec<(String, [f64; 4])> = by_setting(rows)
        .into_iter()
        .map(|((method, ratio), sel)| {
            let mut t = [0.0; 4];
            for r in &sel {
                let p = match (&r.report, &r.stock) {
                    (Some(p), _) => [p.t_prefill_ms, p.t_score_ms, p.t_compress_ms, p.t_decode_ms],
                    (None, Some(s)) => [s.t_prefill_ms, 0.0, 0.0, s.t_decode_ms],
                    (None, None) => [0.0; 4],
                };
                for (a, b) in t.iter_mut().zip(p) {
                    *a += b / 1e3 / sel.len() as f64;
                }
            }
            (format!("{method} {ratio}"), t)
        })
        .collect();
    let x_max = bars.iter().map(|(_, t)| t.iter().sum::<f64>()).fold(0.0, f64::max) * 1.1 + 1e-3;
    let height = 120 + 34 * bars.len() as u32;
    let root = SVGBackend::new(path, (800, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    draw_bars(&root, &bars, &PHASES, x_max).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

fn draw_bars(root: &DrawingArea<SVGBackend<'_>, Shift>, bars: &[(String, [f64; 4])], phases: &[&str; 4], x_max: f64) -> Result<(), Box<dyn std::error::Error>> {
    let n = bars.len() as i32;
    let labels: Vec<String> = bars.iter().map(|(l, _)| l.clone()).collect();
    let mut chart = ChartBuilder::on(root)
        .caption("Time per case, by phase", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(170)
        // An i32 range includes its end as a segment of its own: n bars are 0..n-1.
        .build_cartesian_2d(0.0..x_max, (0..n - 1).into_segmented())?;
    chart
        .configure_mesh()
        .x_desc("seconds per case (mean)")
        .y_labels(bars.len())
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .disable_y_mesh()
        .draw()?;
    for (k, phase) in phases.iter().enumerate() {
        let color = Palette99::pick(k + 4).to_rgba();
        let rects = bars.iter().enumerate().map(|(i, (_, t))| {
            let from: f64 = t[..k].iter().sum();
            let mut bar = Rectangle::new([(from, SegmentValue::Exact(i as i32)), (from + t[k], SegmentValue::Exact(i as i32 + 1))], color.filled());
            bar.set_margin(5, 5, 0, 0);
            bar
        });
        chart.draw_series(rects)?.label(*phase).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled()));
    }
    chart.configure_series_labels().position(SeriesLabelPosition::UpperRight).background_style(WHITE.mix(0.9)).border_style(BLACK).draw()?;
    Ok(())
}
