//! The subcommands, from parsed flags to output. Errors go up to `main`, printed once.

use std::io::Write;
use std::path::PathBuf;

use crate::bench::datasets::QaSet;
use crate::bench::tasks::TaskKind;
use crate::bench::{Haystack, Plan};
use crate::cli::{BenchArgs, DemoArgs, FetchArgs, QaArgs, RunArgs};
use crate::error::{Error, Result};
use crate::llama::Model;
use crate::qa::{DocumentSession, Load, QaOptions};
use crate::report::{self, Report};
use crate::{bench, document, fetch, kvfile};

/// The bundled demo document (public domain, see assets/README.md) and its question.
pub const DEMO_DOCUMENT: &str = include_str!("../assets/areopagitica.txt");
pub const DEMO_QUESTION: &str = "What is the special magic number for the printing house mentioned in the provided text?";
pub const DEMO_ANSWER: &str = "7381924";

fn log(msg: &str) {
    eprintln!("kvcompose: {msg}");
}

/// `-m PATH`, or the default model, fetched into the cache on first use.
pub fn resolve_model(arg: Option<&PathBuf>) -> Result<PathBuf> {
    match arg {
        Some(p) if !p.is_file() => Err(Error::ModelNotFound(p.clone())),
        Some(p) => Ok(p.clone()),
        None => fetch::ensure(&fetch::SMOLLM2, &fetch::default_dir(), &mut |m| log(m)),
    }
}

pub fn load_model(run: &RunArgs) -> Result<Model> {
    let path = resolve_model(run.model.as_ref())?;
    Model::load(&path, run.n_gpu_layers, run.verbose)
}

pub fn fetch_model(args: &FetchArgs) -> Result<()> {
    let dir = args.dir.clone().unwrap_or_else(fetch::default_dir);
    let model = args.model.known();
    let cached = dir.join(model.file);
    let path = if cached.is_file() && fetch::sha256_file(&cached)? == model.sha256 { cached } else { fetch::fetch(model, &dir, &mut |m| log(m))? };
    println!("{}", path.display());
    Ok(())
}

/// Answers one question about one document (loaded for it); the answer streams to stdout unless
/// `--json`.
fn answer(model: &Model, doc: &str, question: &str, run: &RunArgs, stream: bool) -> Result<Report> {
    let mut ds = load_document(model, doc, &[question], &run.qa_options(Load::Document { questions: 1 })?)?;
    ask(model, &mut ds, question, stream)
}

/// Loads the document with a progress bar on stderr (phase, units, ETA), cleared when done;
/// indicatif draws nothing when stderr is not a terminal.
fn load_document<'m>(model: &'m Model, doc: &str, questions: &[&str], opts: &QaOptions) -> Result<DocumentSession<'m>> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>14} [{bar:30}] {pos}/{len}, {elapsed} elapsed, ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let loaded = DocumentSession::load_with_progress(model, doc, questions, opts, &mut |phase, done, total| {
        bar.set_length(total as u64);
        bar.set_message(phase);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    loaded
}

fn ask(model: &Model, ds: &mut DocumentSession<'_>, question: &str, stream: bool) -> Result<Report> {
    let mut out = std::io::stdout().lock();
    let mut on_text = |s: &str| {
        if stream {
            let _ = out.write_all(s.as_bytes());
            let _ = out.flush();
        }
    };
    let ans = ds.ask(model, question, &mut on_text)?;
    if stream {
        let _ = writeln!(out);
        let _ = out.flush();
    }
    Ok(ds.report(model, &ans))
}

pub fn qa(args: &QaArgs) -> Result<()> {
    let run = &args.run;
    let questions: Vec<&str> = args.prompt.iter().map(String::as_str).collect();
    let load = if args.kv_load.is_some() { Load::CacheFile } else { Load::Document { questions: questions.len() } };
    // Flag errors before any loading.
    let opts = run.qa_options(load)?;
    // What the document comes from, read and checked before the model loads.
    enum Source<'a> {
        Text(String),
        Cache(&'a std::path::Path, Box<kvfile::KvFile>),
    }
    let source = match (&args.kv_load, &args.file) {
        (Some(path), _) => Source::Cache(path, Box::new(kvfile::read(path)?)),
        (None, Some(file)) => Source::Text(document::read(file)?),
        (None, None) => return Err(Error::Usage("give the document with -f, or a cache file with --kv-load".into())),
    };
    if let Some(path) = &args.kv_save {
        kvfile::check_target(path)?;
    }
    let model = load_model(run)?;
    let mut ds = match source {
        Source::Text(doc) => load_document(&model, &doc, &questions, &opts)?,
        Source::Cache(path, file) => DocumentSession::open(&model, path, *file, &questions, &opts)?,
    };
    if let Some(path) = &args.kv_save {
        ds = ds.save(&model, path, &questions)?;
        let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        log(&format!("saved the document's KV cache to {} ({:.2} MiB)", path.display(), report::mib(bytes)));
    }
    for (i, question) in questions.iter().enumerate() {
        if questions.len() > 1 && !run.json {
            log(&format!("question {}/{}: {question}", i + 1, questions.len()));
        }
        let report = ask(&model, &mut ds, question, !run.json)?;
        if run.json {
            println!("{}", serde_json::to_string(&report).expect("report serialises"));
        } else {
            eprint!("{}", report.summary());
        }
    }
    Ok(())
}

pub fn demo(args: &DemoArgs) -> Result<()> {
    let mut run = args.run.clone();
    let ratio = run.kv_compose.unwrap_or(0.5);
    run.kv_compose = Some(ratio);
    run.qa_options(Load::Document { questions: 1 })?;
    let model = load_model(&run)?;
    log(&format!("document: Milton's Areopagitica (public domain), question: {DEMO_QUESTION}"));
    run.kv_compose = None;
    log("stock llama.cpp (full KV cache):");
    let stock = answer(&model, DEMO_DOCUMENT, DEMO_QUESTION, &run, !run.json)?;
    run.kv_compose = Some(ratio);
    log(&format!("kvcompose --kv-compose {ratio}:"));
    let ours = answer(&model, DEMO_DOCUMENT, DEMO_QUESTION, &run, !run.json)?;
    if run.json {
        let both = serde_json::json!({ "stock": stock, "kvcompose": ours, "expected": DEMO_ANSWER });
        println!("{}", serde_json::to_string_pretty(&both).expect("report serialises"));
    } else {
        eprint!("{}", side_by_side(&stock, &ours));
    }
    Ok(())
}

/// The bench's default haystack: the tests' long Areopagitica without its inserted fact.
const BENCH_HAYSTACK: &str = include_str!("../tests/data/areopagitica-long.txt");

/// The bundled haystack without its fact, which ends a line.
pub fn bench_haystack() -> String {
    BENCH_HAYSTACK.replace("One of the special magic numbers for the printing house is: 4516273.\n", "")
}

pub fn bench(args: &BenchArgs) -> Result<()> {
    if let Some(items) = &args.answerable {
        return answerable(args, items);
    }
    let (rows, tasks) = if args.from.is_empty() { (run_bench(args)?, args.plan()?.tasks) } else { earlier_rows(&args.from)? };
    let json = serde_json::to_string_pretty(&rows).expect("rows serialise");
    let suite = args.suite.is_some() || rows.iter().any(|r| r.case.tokens > 0);
    let table = if suite { bench::suite_table(&rows) } else { bench::table(&rows, &tasks) + &bench::targets::verdicts(&rows) };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        for (name, text) in [("results.md", &table), ("results.json", &json)] {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(Error::io(format!("writing {}", path.display())))?;
        }
        bench::plot::accuracy(&rows, &dir.join("accuracy.svg"))?;
        bench::plot::phases(&rows, &dir.join("phases.svg"))?;
    }
    if args.run.json {
        println!("{json}");
    } else {
        print!("{table}");
    }
    Ok(())
}

/// `bench --answerable N|FILE`: the items of one QA set that the full cache answers at every length.
fn answerable(args: &BenchArgs, items: &str) -> Result<()> {
    let qa = match args.tasks[..] {
        [task] => bench::suite::qa_chars_per_token(task).map(|c| (task, c)),
        _ => None,
    };
    let Some((task, chars_per_token)) = qa else {
        return Err(Error::Usage("--answerable screens one QA set: give --tasks squad or --tasks hotpotqa".into()));
    };
    let set = if task == TaskKind::Squad { fetched_data(&fetch::SQUAD, QaSet::squad)? } else { fetched_data(&fetch::HOTPOTQA, QaSet::hotpotqa)? };
    let items: Vec<usize> = match items.parse::<usize>() {
        Ok(n) => (0..n.min(set.items.len())).collect(),
        Err(_) => {
            let text = std::fs::read_to_string(items).map_err(Error::io(format!("reading {items}")))?;
            let list: Vec<usize> = serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{items} is not a JSON list of item indices: {e}")))?;
            if let Some(i) = list.iter().find(|&&i| i >= set.items.len()) {
                return Err(Error::Usage(format!("{items} names item {i}, and the set has {}", set.items.len())));
            }
            if let Some(i) = list.iter().enumerate().find_map(|(k, i)| list[..k].contains(i).then_some(i)) {
                return Err(Error::Usage(format!("{items} names item {i} twice")));
            }
            list
        }
    };
    let lengths = if args.lengths.is_empty() { vec![0, 1500, 3000] } else { args.lengths.clone() };
    let chars: Vec<usize> = lengths.iter().map(|&t| (t as f64 * chars_per_token) as usize).collect();
    let opts = args.run.qa_options(Load::Document { questions: 1 })?;
    let model = load_model(&args.run)?;
    let kept = bench::answerable::screen(&model, &set, task, &items, &chars, &opts, &mut |m| log(m))?;
    log(&format!("{} of {} items answered at every length", kept.len(), items.len()));
    println!("{}", serde_json::to_string(&kept).expect("indices serialise"));
    Ok(())
}

/// The rows of earlier `--out` runs, in order, and their tasks, in order of appearance.
fn earlier_rows(files: &[PathBuf]) -> Result<(Vec<bench::Row>, Vec<TaskKind>)> {
    let mut rows: Vec<bench::Row> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(Error::io(format!("reading {}", file.display())))?;
        let more: Vec<bench::Row> = serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{} is not a bench results.json: {e}", file.display())))?;
        // Graded again, so that tables joined from earlier runs count as a run today would.
        rows.extend(more.into_iter().map(|r| bench::Row { correct: r.case.is_correct(&r.answer), ..r }));
    }
    let (rows, dropped) = bench::without_repeats(rows);
    if dropped > 0 {
        eprintln!("kvcompose: {dropped} rows repeat a case and setting of an earlier file; the first of each is kept");
    }
    let mut tasks = Vec::new();
    for r in &rows {
        if !tasks.contains(&r.case.task) {
            tasks.push(r.case.task);
        }
    }
    Ok((rows, tasks))
}

fn run_bench(args: &BenchArgs) -> Result<Vec<bench::Row>> {
    let plan = args.plan()?;
    let load = if args.scores.is_some() { Load::Scored } else { Load::Document { questions: 1 } };
    let mut opts = args.run.qa_options(load)?;
    opts.compress = Some(args.run.compress_options(1.0));
    // Every setting's options checked before anything is fetched or read.
    for setting in plan.settings() {
        bench::setting_options(&opts, setting).check(load)?;
    }
    let haystack = match &plan.haystack {
        Haystack::Areopagitica => bench_haystack(),
        Haystack::Essays => fetched_data(&fetch::ESSAYS, bench::datasets::essays)?,
        Haystack::File(p) => document::read(p)?,
    };
    let suite = args.suite.is_some();
    let src = bench::tasks::Sources {
        haystack,
        squad: if suite { Some(fetched_data(&fetch::SQUAD, QaSet::squad)?) } else { qa_set(&plan, TaskKind::Squad, &fetch::SQUAD, QaSet::squad)? },
        hotpotqa: if suite {
            Some(fetched_data(&fetch::HOTPOTQA, QaSet::hotpotqa)?)
        } else {
            qa_set(&plan, TaskKind::Hotpotqa, &fetch::HOTPOTQA, QaSet::hotpotqa)?
        },
    };
    let model = load_model(&args.run)?;
    let run = &args.run;
    let flash_attn = format!("{:?}", run.flash_attn).to_lowercase();
    let stock = match &args.llama_completion {
        Some(bin) if !bin.is_file() => return Err(Error::Usage(format!("llama-completion not found: {}", bin.display()))),
        Some(bin) => Some(bench::Stock {
            bin,
            args: bench::stock::StockArgs {
                model: &model.path,
                n_ctx: 0,
                n_predict: run.n_predict,
                threads: opts.session.n_threads,
                n_gpu_layers: run.n_gpu_layers,
                flash_attn: &flash_attn,
                type_k: &run.cache_type_k,
                type_v: &run.cache_type_v,
                n_batch: run.batch_size,
                n_ubatch: run.ubatch_size,
            },
        }),
        None => None,
    };
    // The cases hold all they need: the datasets go before the runs measure peak RSS.
    let cases = match suite {
        true => suite_cases(args, &plan, &src)?,
        false => plan.cases(&src)?,
    };
    drop(src);
    let store = args.scores.as_ref().map(|d| bench::scored::ScoreStore { dir: Some(d.clone()) });
    let n = cases.len() * (plan.settings().len() + usize::from(stock.is_some()));
    let mut done = 0;
    bench::run(&model, &plan, &cases, &opts, stock.as_ref(), store.as_ref(), &mut |r| {
        done += 1;
        log(&format!(
            "[{done}/{n}] {:?} {} chars depth {:.2}: {} {} -> {} ({:?})",
            r.case.task,
            r.case.chars,
            r.case.depth,
            r.method,
            r.ratio,
            if r.correct { "correct" } else { "wrong" },
            r.answer.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(120).collect::<String>()
        ));
    })
}

/// The fidelity suite's cases: `--lengths` in tokens, essays, Areopagitica and encyclopedia
/// paragraphs as haystacks.
fn suite_cases(args: &BenchArgs, plan: &Plan, src: &bench::tasks::Sources) -> Result<Vec<bench::tasks::Case>> {
    use bench::suite::Haystacks;
    type Hay<'a> = bench::suite::Haystack<'a>;
    let quick = args.quick;
    let lengths = if !args.lengths.is_empty() {
        args.lengths.clone()
    } else if quick {
        vec![1500]
    } else {
        bench::suite::LENGTHS.to_vec()
    };
    let per_kind = args.per_kind.unwrap_or(if quick { 1 } else { 8 });
    let essays = match &plan.haystack {
        Haystack::Essays => src.haystack.clone(),
        _ => fetched_data(&fetch::ESSAYS, bench::datasets::essays)?,
    };
    let areopagitica = bench_haystack();
    let wiki = bench::suite::wiki_text(src).unwrap_or_default();
    let hay = Haystacks {
        all: vec![
            Hay { name: "essays", text: &essays, chars_per_token: 3.95 },
            Hay { name: "areopagitica", text: &areopagitica, chars_per_token: 4.13 },
            Hay { name: "wiki", text: &wiki, chars_per_token: 4.49 },
        ],
    };
    // The QA kind asks what the model can answer from the gold paragraphs alone.
    let qa = bench::tasks::Sources {
        haystack: String::new(),
        squad: src.squad.as_ref().map(|s| bench::suite::only_items(s, bench::suite::SQUAD_ANSWERABLE)),
        hotpotqa: src.hotpotqa.as_ref().map(|s| bench::suite::only_items(s, bench::suite::HOTPOTQA_ANSWERABLE)),
    };
    let mut cases = bench::suite::cases(&hay, &qa, &lengths, per_kind, plan.seed).ok_or_else(|| Error::Usage("the suite needs SQuAD and HotpotQA".into()))?;
    // Filtered after drawing, so a kind's cases are the same with or without the others.
    if !args.tasks.is_empty() {
        cases.retain(|c| args.tasks.contains(&c.task));
    }
    Ok(cases)
}

/// The QA set of `task` when the plan asks for it, fetched into the data cache on first use.
fn qa_set(plan: &Plan, task: TaskKind, file: &fetch::KnownFile, parse: fn(&str) -> Result<QaSet, String>) -> Result<Option<QaSet>> {
    if !plan.tasks.contains(&task) {
        return Ok(None);
    }
    fetched_data(file, parse).map(Some)
}

/// A data file fetched into the data cache on first use, parsed.
fn fetched_data<T>(file: &fetch::KnownFile, parse: fn(&str) -> Result<T, String>) -> Result<T> {
    let path = fetch::ensure(file, &fetch::data_dir(), &mut |m| log(m))?;
    let json = std::fs::read_to_string(&path).map_err(Error::io(format!("reading {}", path.display())))?;
    parse(&json).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
}

/// A small table of the two runs, with ratios ours / stock.
pub fn side_by_side(stock: &Report, ours: &Report) -> String {
    let mib = |b: usize| report::mib(b as u64);
    let ratio = |a: f64, b: f64| if b > 0.0 { format!("{:.2}x", a / b) } else { "-".into() };
    let found = |r: &Report| if r.answer.contains(DEMO_ANSWER) { "yes" } else { "no" };
    let rows = [
        ("answer has 7381924", found(stock).to_string(), found(ours).to_string(), String::new()),
        ("KV cells (document)", stock.kv_cells_kept.to_string(), ours.kv_cells_kept.to_string(), ratio(ours.kv_cells_kept as f64, stock.kv_cells_kept as f64)),
        (
            "KV held (MiB)",
            format!("{:.2}", mib(stock.kv_bytes_kept)),
            format!("{:.2}", mib(ours.kv_bytes_kept)),
            ratio(ours.kv_bytes_kept as f64, stock.kv_bytes_kept as f64),
        ),
        (
            "KV allocated (MiB)",
            format!("{:.2}", mib(stock.kv_alloc_bytes)),
            format!("{:.2}", mib(ours.kv_alloc_bytes)),
            ratio(ours.kv_alloc_bytes as f64, stock.kv_alloc_bytes as f64),
        ),
        (
            "prefill+score+compress (ms)",
            format!("{:.0}", stock.t_prefill_ms),
            format!("{:.0}", ours.t_prefill_ms + ours.t_score_ms + ours.t_compress_ms),
            ratio(ours.t_prefill_ms + ours.t_score_ms + ours.t_compress_ms, stock.t_prefill_ms),
        ),
        (
            "decode (tokens/s)",
            format!("{:.1}", stock.decode_tokens_per_s),
            format!("{:.1}", ours.decode_tokens_per_s),
            ratio(ours.decode_tokens_per_s, stock.decode_tokens_per_s),
        ),
    ];
    let mut s = format!("\n{:<28} {:>12} {:>12} {:>8}\n", "", "stock", "kvcompose", "ratio");
    for (name, a, b, r) in rows {
        s += &format!("{name:<28} {a:>12} {b:>12} {r:>8}\n");
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bench_haystack_holds_no_fact_of_its_own() {
        let h = super::bench_haystack();
        assert!(!h.contains("magic number") && !h.contains("4516273"));
        assert_eq!(h.len() + "One of the special magic numbers for the printing house is: 4516273.\n".len(), super::BENCH_HAYSTACK.len());
    }
}
