//! The benchmark's targets, each computed from the rows of one run and stated as met or missed,
//! so a results file says by itself where kvcompose stands.

use super::tasks::TaskKind;
use super::Row;

const RETRIEVAL: [TaskKind; 3] = [TaskKind::Needle, TaskKind::Multikey, TaskKind::Multivalue];
const BASELINES: [&str; 3] = ["tokens", "streaming", "random"];
/// KVCompose with uniform layer budgets, and with its global allocation realised per layer.
const KVCOMPOSE: [&str; 2] = ["kvcompose", "kvcompose+global"];

fn rows<'a>(rows: &'a [Row], method: &str, ratio: Option<f64>) -> Vec<&'a Row> {
    rows.iter().filter(|r| r.method == method && ratio.is_none_or(|x| r.ratio == x)).collect()
}

fn only(rs: Vec<&Row>, keep: impl Fn(&Row) -> bool) -> Vec<&Row> {
    rs.into_iter().filter(|r| keep(r)).collect()
}

fn correct(rs: &[&Row]) -> usize {
    rs.iter().filter(|r| r.correct).count()
}

fn sum(rs: &[&Row], f: impl Fn(&Row) -> f64) -> f64 {
    rs.iter().map(|r| f(r)).sum()
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

/// One line per target whose rows are in the run (a target without its rows is skipped).
pub fn verdicts(all: &[Row]) -> String {
    let mut out = Vec::new();
    let report = |r: &Row| r.report.clone().unwrap_or_default();
    let full = rows(all, "full", None);
    let retrieval = |r: &Row| RETRIEVAL.contains(&r.case.task);

    for label in KVCOMPOSE {
        let (kv25, kv_full) = (only(rows(all, label, Some(0.25)), retrieval), only(full.clone(), retrieval));
        if !kv25.is_empty() && !kv_full.is_empty() {
            let share = correct(&kv25) as f64 / correct(&kv_full).max(1) as f64;
            let met = correct(&kv_full) > 0 && share >= 0.9;
            out.push(format!(
                "- {label} at 0.25 keeps >= 90% of the full cache's accuracy on retrieval (needle, multikey, multivalue): {}/{} vs {}/{}: {}",
                correct(&kv25),
                kv25.len(),
                correct(&kv_full),
                kv_full.len(),
                verdict(met)
            ));
        }
        for ratio in [0.25, 0.125] {
            let ours = rows(all, label, Some(ratio));
            let others: Vec<(&str, Vec<&Row>)> = BASELINES.iter().map(|&b| (b, rows(all, b, Some(ratio)))).filter(|(_, r)| !r.is_empty()).collect();
            if ours.is_empty() || others.is_empty() {
                continue;
            }
            let met = others.iter().all(|(_, r)| correct(&ours) > correct(r));
            let theirs: Vec<String> = others.iter().map(|(b, r)| format!("{b} {}", correct(r))).collect();
            out.push(format!("- {label} ahead of every baseline at {ratio}: {} correct vs {}: {}", correct(&ours), theirs.join(", "), verdict(met)));
        }
        let kv25 = rows(all, label, Some(0.25));
        if !kv25.is_empty() && !full.is_empty() {
            let share = sum(&kv25, |r| report(r).kv_bytes_kept as f64) / sum(&full, |r| report(r).kv_bytes_kept as f64).max(1.0);
            out.push(format!("- {label}: KV bytes held at 0.25 <= 0.27 of stock's (the whole prompt's): {share:.3}: {}", verdict(share <= 0.27)));
        }
    }
    // Peak RSS on the longest documents: llama-completion's when it ran, else the full cache's.
    if let Some(longest) = all.iter().map(|r| r.case.chars).max() {
        let at = |r: &Row| r.case.chars == longest;
        let (ours, full_l) = (only(rows(all, "kvcompose", Some(0.25)), at), only(full.clone(), at));
        let stock = Some(only(rows(all, "llama-completion", None), at)).filter(|s| !s.is_empty()).unwrap_or_else(|| full_l.clone());
        if !ours.is_empty() && !full_l.is_empty() {
            let mean = |rs: &[&Row], f: &dyn Fn(&Row) -> f64| sum(rs, f) / rs.len() as f64;
            let saved = mean(&full_l, &|r| report(r).kv_bytes_kept as f64) - mean(&ours, &|r| report(r).kv_bytes_kept as f64);
            let lower = mean(&stock, &|r| r.peak_rss_bytes as f64) - mean(&ours, &|r| r.peak_rss_bytes as f64);
            let mib = |b: f64| b / 1048576.0;
            out.push(format!(
                "- Peak RSS at 0.25 on the longest documents ({longest} chars) lower than {}'s by >= half the KV bytes saved: lower by {:.1} MiB, saved {:.1} MiB: {}",
                stock[0].method, mib(lower), mib(saved), verdict(lower >= saved / 2.0)
            ));
        }
    }
    let scored = rows(all, "kvcompose", None);
    if !scored.is_empty() {
        let (prefill, score, compress) =
            (sum(&scored, |r| report(r).t_prefill_ms), sum(&scored, |r| report(r).t_score_ms), sum(&scored, |r| report(r).t_compress_ms));
        let steps = sum(&scored, |r| report(r).compress_steps as f64).max(1.0);
        out.push(format!(
            "- Scoring slows prefill by <= 15%: scoring took {:.0}% of the prefill time: {}",
            100.0 * score / prefill,
            verdict(score <= 0.15 * prefill)
        ));
        // A step compresses about prefill/steps worth of tokens: its chunk.
        out.push(format!(
            "- One compression step <= 10% of the prefill time of the tokens it compresses: {:.0}% ({:.0} ms per step, {} steps): {}",
            100.0 * compress / prefill,
            compress / steps,
            steps,
            verdict(compress <= 0.10 * prefill)
        ));
        let stock = Some(rows(all, "llama-completion", None)).filter(|s| !s.is_empty()).unwrap_or(full.clone());
        let tps = |rs: &[&Row]| {
            let (n, ms): (f64, f64) = rs.iter().fold((0.0, 0.0), |(n, ms), r| match (&r.report, &r.stock) {
                (Some(p), _) => (n + p.decode_tokens as f64, ms + p.t_decode_ms),
                (None, Some(s)) => (n + s.decode_tokens as f64, ms + s.t_decode_ms),
                _ => (n, ms),
            });
            n * 1e3 / ms.max(1e-9)
        };
        if !stock.is_empty() {
            let (ours, theirs) = (tps(&scored), tps(&stock));
            out.push(format!("- Decode after compression >= stock's tokens/s: {ours:.1} vs {theirs:.1} ({}): {}", stock[0].method, verdict(ours >= theirs)));
        }
    }
    if out.is_empty() {
        return String::new();
    }
    format!("\nTargets (from the rows above):\n\n{}\n", out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::tasks::Case;
    use crate::report::Report;

    fn row(method: &str, ratio: f64, correct: bool, kv: usize, rss: usize) -> Row {
        let case = Case {
            task: TaskKind::Needle,
            chars: 8000,
            depth: 0.5,
            document: String::new(),
            question: String::new(),
            gold: vec![],
            gold_any: false,
            tokens: 0,
            haystack: String::new(),
        };
        let report = Report {
            kv_bytes_kept: kv,
            t_prefill_ms: 100.0,
            t_score_ms: 10.0,
            t_compress_ms: 20.0,
            compress_steps: 2,
            decode_tokens: 10,
            t_decode_ms: 1000.0,
            ..Default::default()
        };
        Row { case, method: method.into(), ratio, correct, answer: String::new(), peak_rss_bytes: rss as u64, report: Some(report), stock: None }
    }

    #[test]
    fn each_target_is_computed_from_the_rows_and_marked() {
        let mib = 1 << 20;
        let rows = [
            row("full", 1.0, true, 100 * mib, 500 * mib),
            row("full", 1.0, true, 100 * mib, 500 * mib),
            row("kvcompose", 0.25, true, 25 * mib, 480 * mib),
            row("kvcompose", 0.25, false, 25 * mib, 480 * mib),
            row("streaming", 0.25, false, 25 * mib, 400 * mib),
            row("kvcompose+global", 0.25, true, 25 * mib, 480 * mib),
            row("kvcompose+global", 0.25, true, 25 * mib, 480 * mib),
        ];
        let t = verdicts(&rows);
        assert!(
            t.contains("- kvcompose+global at 0.25 keeps >= 90% of the full cache's accuracy on retrieval (needle, multikey, multivalue): 2/2 vs 2/2: met"),
            "{t}"
        );
        assert!(t.contains("retrieval (needle, multikey, multivalue): 1/2 vs 2/2: **missed**"), "{t}");
        assert!(t.contains("ahead of every baseline at 0.25: 1 correct vs streaming 0: met"), "{t}");
        assert!(!t.contains("at 0.125"), "no rows, no line: {t}");
        assert!(t.contains("0.27 of stock's (the whole prompt's): 0.250: met"), "{t}");
        // 20 MiB lower against 75 MiB saved: under half.
        assert!(t.contains("lower by 20.0 MiB, saved 75.0 MiB: **missed**"), "{t}");
        assert!(t.contains("scoring took 10% of the prefill time: met") && t.contains("20% (10 ms per step, 4 steps): **missed**"), "{t}");
        assert!(t.contains("10.0 vs 10.0 (full): met"), "{t}");
        assert_eq!(verdicts(&rows[..2]), "");
    }
}
