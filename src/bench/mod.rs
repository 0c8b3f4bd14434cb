//! `kvcompose bench`: generated long-document cases, answered with the full cache and with each
//! method at each ratio, in one process and one model load; a Markdown table and JSON rows.

pub mod answerable;
pub mod datasets;
pub mod plot;
pub mod scored;
pub mod stock;
pub mod suite;
pub mod targets;
pub mod tasks;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::compress::MethodName;
use crate::error::{Error, Result};
use crate::llama::Model;
use crate::pipeline::{BudgetMode, CompressOptions, ScoredDocument, Scorer};
use crate::prompt;
use crate::qa::{DocumentSession, QaOptions};
use crate::report::Report;
use scored::ScoreStore;
use stock::{StockArgs, StockRun};
use tasks::{Case, Sources, TaskKind};

/// What to run: every task at every length and depth, then every (method, ratio).
#[derive(Debug, Clone)]
pub struct Plan {
    pub tasks: Vec<TaskKind>,
    /// Haystack sizes in characters (about 4 per SmolLM2 token on English prose).
    pub chars: Vec<usize>,
    pub depths: Vec<f64>,
    pub methods: Vec<MethodName>,
    /// Ratios below 1 (the full cache is always run, as the reference).
    pub ratios: Vec<f64>,
    /// How kept cells spread over layers, each run side by side.
    pub budgets: Vec<BudgetMode>,
    pub haystack: Haystack,
    pub seed: u64,
    /// Run a case's compressed settings only where the full cache answers it (the suite's
    /// score counts only those cases), and score its document only then.
    pub only_answered: bool,
}

/// The text the retrieval tasks hide their facts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Haystack {
    /// Milton's Areopagitica, bundled (about 6.3k SmolLM2 tokens).
    Areopagitica,
    /// RULER's Paul Graham essays (3 MB), fetched.
    Essays,
    File(std::path::PathBuf),
}

impl Haystack {
    /// `areopagitica`, `essays`, or a path to a text file.
    pub fn parse(s: &str) -> Haystack {
        match s {
            "areopagitica" => Haystack::Areopagitica,
            "essays" => Haystack::Essays,
            path => Haystack::File(path.into()),
        }
    }
}

impl Plan {
    pub fn cases(&self, src: &Sources) -> Result<Vec<Case>> {
        let mut out = Vec::new();
        for &task in &self.tasks {
            for &chars in &self.chars {
                for &depth in &self.depths {
                    let case = tasks::generate(task, src, chars, depth, self.seed);
                    out.push(case.ok_or_else(|| Error::Usage(format!("task {} needs its dataset loaded", name(&task))))?);
                }
            }
        }
        Ok(out)
    }

    /// `None` is the full cache; then each method at each ratio under each budget mode (the
    /// global allocations only for KVCompose, the method they belong to).
    pub fn settings(&self) -> Vec<Option<Setting>> {
        let mut s = vec![None];
        for &method in &self.methods {
            for &ratio in &self.ratios {
                if method == MethodName::Kvzip {
                    // Its per-head budgets come with it.
                    s.push(Some(Setting { method, ratio, budget: BudgetMode::Heads }));
                    continue;
                }
                let budgets = self.budgets.iter().filter(|&&b| b == BudgetMode::Uniform || method == MethodName::Kvcompose);
                s.extend(budgets.map(|&budget| Some(Setting { method, ratio, budget })));
            }
        }
        s
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub method: MethodName,
    pub ratio: f64,
    pub budget: BudgetMode,
}

impl Setting {
    /// The method's name, with the budget mode when it is not the default.
    fn label(&self) -> String {
        match self.budget {
            BudgetMode::Uniform => name(&self.method),
            BudgetMode::Heads if self.method == MethodName::Kvzip => name(&self.method),
            b => format!("{}+{}", name(&self.method), name(&b)),
        }
    }
}

/// One answered case under one setting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    #[serde(flatten)]
    pub case: Case,
    /// `full` (this process, whole cache), `llama-completion` (stock llama.cpp), or a method.
    pub method: String,
    pub ratio: f64,
    pub correct: bool,
    pub answer: String,
    /// Peak RSS while answering (this process: its high-water mark reset before the run).
    pub peak_rss_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock: Option<StockRun>,
}

/// Where stock llama.cpp comes from, when it runs beside.
pub struct Stock<'a> {
    pub bin: &'a Path,
    pub args: StockArgs<'a>,
}

/// Answers every case under every setting (and with `llama-completion` when given); `progress`
/// gets one line per answer. With a score store, each case is read and scored once and every
/// setting compresses from those scores (see [`scored`]); else each setting loads the document.
/// A setting's options: the run's, with the setting's method, ratio and budgets as the method
/// runs them (no compression for the full cache).
pub fn setting_options(base: &QaOptions, setting: Option<Setting>) -> QaOptions {
    let compress = setting.map(|st| {
        let c = base.compress.clone().expect("bench options carry compression defaults");
        CompressOptions { method: st.method, ratio: st.ratio, budget_mode: st.budget, ..c }.effective()
    });
    QaOptions { compress, ..base.clone() }
}

pub fn run(
    model: &Model,
    plan: &Plan,
    cases: &[Case],
    base: &QaOptions,
    stock: Option<&Stock<'_>>,
    store: Option<&ScoreStore>,
    progress: &mut dyn FnMut(&Row),
) -> Result<Vec<Row>> {
    let text = prompt::template(&model.inner);
    // Every case must fit the model before the first one runs, so that a long run does not end
    // in an error at its last cases.
    let mut n_prompts = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        let n = text.tokenize(&model.inner, &case.document, &case.question)?.len();
        if let Err(Error::ContextTooLong { tokens, n_ctx, .. }) = crate::qa::fits_training(model, n) {
            return Err(Error::Usage(format!(
                "case {} of {} ({}, {} characters) has a prompt of {tokens} tokens, more than the {n_ctx} the model was trained for: shorten --lengths",
                i + 1,
                cases.len(),
                name(&case.task),
                case.document.len(),
            )));
        }
        n_prompts.push(n);
    }
    let mut rows = Vec::new();
    for (case, n_prompt) in cases.iter().zip(n_prompts) {
        // Scored once per scorer the settings use (KVzip brings its own).
        let mut scored: Vec<(Scorer, ScoredDocument)> = Vec::new();
        if let Some(st) = stock {
            let mut args = st.args.clone();
            args.n_ctx = n_prompt + args.n_predict + 8;
            let s = stock::run(st.bin, &text.render(&case.document, &case.question), &args)?;
            let row = Row {
                case: case.clone(),
                method: "llama-completion".into(),
                ratio: 1.0,
                correct: case.is_correct(&s.answer),
                answer: s.answer.clone(),
                peak_rss_bytes: s.peak_rss_bytes,
                report: None,
                stock: Some(s),
            };
            progress(&row);
            rows.push(row);
        }
        for setting in plan.settings() {
            let opts = setting_options(base, setting);
            let scorer = opts.compress.as_ref().map_or(base.compress.as_ref().map_or(Scorer::Repeat, |c| c.scorer), |c| c.scorer);
            // The full cache is always read as stock reads it, never restored from a scored state,
            // so that the denominators do not depend on what the store held (on Gemma 3 at 16k
            // tokens a restored state answered a case otherwise: docs/results/2026-12-06-gemma-16k-q8_0).
            // A case the full cache misses is then never scored.
            let full = setting.is_none();
            if let Some(store) = store.filter(|_| !full && !scored.iter().any(|(s, _)| *s == scorer)) {
                let o = QaOptions { compress: opts.compress.clone().or_else(|| base.compress.clone()), ..opts.clone() };
                scored.push((scorer, store.get(model, &case.document, &o)?));
            }
            reset_peak_rss();
            let mut ds = match scored.iter().find(|(s, _)| *s == scorer).filter(|_| !full) {
                Some((_, doc)) => DocumentSession::from_scored(model, &case.document, doc, &[&case.question], &opts)?,
                None => DocumentSession::load(model, &case.document, &[&case.question], &opts)?,
            };
            let answer = ds.ask(model, &case.question, &mut |_| {})?;
            let report = ds.report(model, &answer);
            drop(ds);
            let row = Row {
                case: case.clone(),
                method: setting.map_or("full".into(), |st| st.label()),
                ratio: setting.map_or(1.0, |st| st.ratio),
                correct: case.is_correct(&answer.text),
                answer: answer.text,
                peak_rss_bytes: report.peak_rss_bytes,
                report: Some(report),
                stock: None,
            };
            let skip_rest = setting.is_none() && plan.only_answered && !row.correct;
            progress(&row);
            rows.push(row);
            if skip_rest {
                break;
            }
        }
    }
    Ok(rows)
}

/// Resets this process's peak RSS (VmHWM) to its current RSS (Linux: `clear_refs` 5), so each
/// run's peak is its own; where that is unavailable the peak is the process's so far. Freed heap
/// goes back to the system first, so earlier runs' buffers do not count in the next one's peak.
fn reset_peak_rss() {
    crate::llama::ffi::release_free_heap();
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The serialised (CLI) name of a value enum.
fn name(v: &impl Serialize) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// The numbers a table row compares against the full cache.
struct Measure {
    kv_held: Option<f64>,
    kv_alloc: f64,
    load_ms: f64,
    decode_tps: f64,
    peak_rss: f64,
}

impl Row {
    fn measure(&self) -> Measure {
        match (&self.report, &self.stock) {
            (Some(r), _) => Measure {
                kv_held: Some(r.kv_bytes_kept as f64),
                kv_alloc: r.kv_alloc_bytes as f64,
                load_ms: r.t_prefill_ms + r.t_score_ms + r.t_compress_ms,
                decode_tps: r.decode_tokens_per_s,
                peak_rss: self.peak_rss_bytes as f64,
            },
            (None, s) => {
                let s = s.clone().unwrap_or_default();
                Measure {
                    kv_held: None,
                    kv_alloc: s.kv_alloc_bytes as f64,
                    load_ms: s.t_prefill_ms,
                    decode_tps: s.decode_tokens_per_s,
                    peak_rss: self.peak_rss_bytes as f64,
                }
            }
        }
    }
}

/// The rows of each (method, ratio), in the order they first appear.
pub fn by_setting(rows: &[Row]) -> Vec<((String, f64), Vec<&Row>)> {
    let mut out: Vec<((String, f64), Vec<&Row>)> = Vec::new();
    for r in rows {
        match out.iter_mut().find(|((m, x), _)| *m == r.method && *x == r.ratio) {
            Some((_, sel)) => sel.push(r),
            None => out.push(((r.method.clone(), r.ratio), vec![r])),
        }
    }
    out
}

/// Accuracy per task and overall for each setting, with KV bytes, time and peak RSS summed
/// over its cases and divided by the full cache's over the same cases.
pub fn table(rows: &[Row], tasks: &[TaskKind]) -> String {
    let full: Vec<Measure> = rows.iter().filter(|r| r.method == "full").map(Row::measure).collect();
    let total = |ms: &[Measure], f: &dyn Fn(&Measure) -> f64| ms.iter().map(f).sum::<f64>();
    let vs = |ms: &[Measure], f: &dyn Fn(&Measure) -> f64| total(ms, f) / total(&full, f).max(1e-9);
    let mut s = String::from("| method | ratio |");
    for t in tasks {
        s += &format!(" {} |", name(t));
    }
    s += " all | KV held vs full | KV allocated vs full | prefill+score+compress vs full | decode tok/s vs full | peak RSS vs full |\n|---|---|";
    s += &"---|".repeat(tasks.len() + 6);
    s += "\n";
    for ((m, ratio), sel) in by_setting(rows) {
        let ms: Vec<Measure> = sel.iter().map(|r| r.measure()).collect();
        let acc = |rs: Vec<&&Row>| format!("{}/{}", rs.iter().filter(|r| r.correct).count(), rs.len());
        s += &format!("| {m} | {ratio} |");
        for t in tasks {
            s += &format!(" {} |", acc(sel.iter().filter(|r| r.case.task == *t).collect()));
        }
        let held = if ms.iter().all(|m| m.kv_held.is_some()) { format!("{:.3}", vs(&ms, &|m| m.kv_held.unwrap_or(0.0))) } else { "-".into() };
        s += &format!(
            " {} | {held} | {:.3} | {:.2} | {:.2} | {:.2} |\n",
            acc(sel.iter().collect()),
            vs(&ms, &|m| m.kv_alloc),
            vs(&ms, &|m| m.load_ms),
            vs(&ms, &|m| m.decode_tps),
            vs(&ms, &|m| m.peak_rss)
        );
    }
    s
}

/// What tells a case from another in rows read back (the document is not kept).
fn case_key(c: &Case) -> (TaskKind, usize, usize, u64, String) {
    (c.task, c.chars, c.tokens, c.depth.to_bits(), c.question.clone())
}

/// `rows` with each (case, method, ratio) once, the first row kept; and how many repeats were
/// dropped. Two runs joined with `--from` often share a case's full-cache row, which would
/// otherwise count twice in the calibration and in the KV held against full.
pub fn without_repeats(rows: Vec<Row>) -> (Vec<Row>, usize) {
    let mut seen = std::collections::HashSet::new();
    let n = rows.len();
    let kept: Vec<Row> = rows.into_iter().filter(|r| seen.insert((case_key(&r.case), r.method.clone(), r.ratio.to_bits()))).collect();
    let dropped = n - kept.len();
    (kept, dropped)
}

/// The suite's table: for each setting, the share of the cases the full cache answers that it
/// answers too, with those denominators, per kind, per length and overall; then the full
/// cache's own calibration (cases answered of cases run).
pub fn suite_table(rows: &[Row]) -> String {
    let kind = |r: &Row| match r.case.task {
        TaskKind::Squad | TaskKind::Hotpotqa => "qa".to_string(),
        t => name(&t),
    };
    let key = |r: &Row| case_key(&r.case);
    let full: Vec<&Row> = rows.iter().filter(|r| r.method == "full").collect();
    let answered = |r: &Row| full.iter().any(|f| f.correct && key(f) == key(r));
    let mut kinds: Vec<String> = Vec::new();
    let mut lengths: Vec<usize> = Vec::new();
    for r in &full {
        if !kinds.contains(&kind(r)) {
            kinds.push(kind(r));
        }
        if !lengths.contains(&r.case.tokens) {
            lengths.push(r.case.tokens);
        }
    }
    let frac = |sel: &[&Row]| {
        let n = sel.len();
        let k = sel.iter().filter(|r| r.correct).count();
        if n == 0 {
            "-".to_string()
        } else {
            format!("{k}/{n} ({:.0}%)", 100.0 * k as f64 / n as f64)
        }
    };
    // One column per kind, per length, then all: the header and each row's cells.
    let header = |lead: &str, rule: &str| {
        let mut h = String::from(lead);
        for k in &kinds {
            h += &format!(" {k} |");
        }
        for t in &lengths {
            h += &format!(" {t} tok |");
        }
        h + " all |\n" + rule + &"---|".repeat(kinds.len() + lengths.len() + 1) + "\n"
    };
    let cells = |sel: &[&Row]| {
        let mut c = String::new();
        for k in &kinds {
            c += &format!(" {} |", frac(&sel.iter().copied().filter(|r| kind(r) == *k).collect::<Vec<_>>()));
        }
        for t in &lengths {
            c += &format!(" {} |", frac(&sel.iter().copied().filter(|r| r.case.tokens == *t).collect::<Vec<_>>()));
        }
        c + &format!(" {} |\n", frac(sel))
    };
    let mut s = header("| method | ratio | KV held vs full |", "|---|---|---|");
    let kept = |r: &Row| r.report.as_ref().map_or(0.0, |r| r.kv_bytes_kept as f64);
    let mut unrun = Vec::new();
    for ((m, ratio), sel) in by_setting(rows) {
        if m == "full" {
            continue;
        }
        // Over the cases this setting ran (only the answered ones, when the others were skipped).
        let held: f64 = sel.iter().map(|r| kept(r)).sum();
        let full_held: f64 = full.iter().filter(|f| sel.iter().any(|r| key(r) == key(f))).map(|f| kept(f)).sum();
        let den: Vec<&Row> = sel.iter().copied().filter(|r| answered(r)).collect();
        s += &format!("| {m} | {ratio} | {:.3} |", held / full_held.max(1.0));
        s += &cells(&den);
        // A run compresses only the cases its full cache answered; graded again (`--from`), a
        // full answer can turn right, and that case has no row here.
        let missing = full.iter().filter(|f| f.correct && !sel.iter().any(|r| key(r) == key(f))).count();
        if missing > 0 && !sel.is_empty() {
            unrun.push(format!("{m} {ratio}: {missing}"));
        }
    }
    if !unrun.is_empty() {
        s += &format!(
            "\nNot in these denominators: cases the full cache answers as graded now but not when they ran, so they were never compressed ({}).\n",
            unrun.join(", ")
        );
    }
    s += "\nCalibration: cases the full cache answers, of those run.\n\n";
    s += &header("| |", "|---|");
    s += "| full |";
    s += &cells(&full);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(question: &str, method: &str, ratio: f64, correct: bool) -> Row {
        let case = Case {
            task: TaskKind::Needle,
            chars: 0,
            depth: 0.5,
            document: String::new(),
            question: question.into(),
            gold: vec!["1".into()],
            gold_any: false,
            tokens: 1500,
            haystack: String::new(),
        };
        Row { case, method: method.into(), ratio, correct, answer: String::new(), peak_rss_bytes: 0, report: None, stock: None }
    }

    #[test]
    fn the_suite_counts_only_cases_the_full_cache_answers_and_names_those_never_compressed() {
        let rows = [
            row("a", "full", 1.0, true),
            row("a", "kvcompose", 0.25, true),
            row("b", "full", 1.0, true),
            row("b", "kvcompose", 0.25, false),
            // Run when its full answer was graded wrong, so never compressed.
            row("c", "full", 1.0, true),
            row("d", "full", 1.0, false),
        ];
        let t = suite_table(&rows);
        assert!(t.contains("| kvcompose | 0.25 | 0.000 | 1/2 (50%) | 1/2 (50%) | 1/2 (50%) |"), "{t}");
        assert!(t.contains("never compressed (kvcompose 0.25: 1)"), "{t}");
        assert!(t.contains("| full | 3/4 (75%) |"), "{t}");
        assert!(!suite_table(&rows[..4]).contains("never compressed"));
    }

    #[test]
    fn joined_runs_count_a_repeated_row_once() {
        let first = [row("a", "full", 1.0, true), row("a", "kvcompose", 0.25, true)];
        let second = [row("a", "full", 1.0, true), row("a", "tokens", 0.25, false), row("b", "full", 1.0, false)];
        let (rows, dropped) = without_repeats(first.iter().chain(&second).cloned().collect());
        assert_eq!(dropped, 1);
        let names: Vec<(&str, &str)> = rows.iter().map(|r| (r.case.question.as_str(), r.method.as_str())).collect();
        assert_eq!(names, [("a", "full"), ("a", "kvcompose"), ("a", "tokens"), ("b", "full")]);
        assert!(suite_table(&rows).contains("| full | 1/2 (50%) |"), "{}", suite_table(&rows));
    }
}
