//! Compressed-cache files: a document compressed once, saved, and answered from the file in a
//! fresh context gives the compressing run's answers bit for bit; a bad file is one clear error.

use std::path::{Path, PathBuf};

use kvcompose::kvfile;
use kvcompose::llama::{FlashAttn, Model};
use kvcompose::pipeline::Store;
use kvcompose::qa::{DocumentSession, QaOptions};

use crate::util::{doc_prefix, doc_window, gemma3, kvcompose, model_path, qa_options, smollm2, stderr, LONG_QUESTION};
use kvcompose::fetch;

/// f16 and q8_0, flash attention on and off (a quantized V needs flash attention).
const CACHES: [(FlashAttn, &str, &str); 4] =
    [(FlashAttn::On, "f16", "f16"), (FlashAttn::Off, "f16", "f16"), (FlashAttn::On, "q8_0", "q8_0"), (FlashAttn::Off, "q8_0", "f16")];

const OTHER_QUESTION: &str = "Who is this speech addressed to?";

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvcompose-kvfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// First-token logits and answer of each question, in order, from a session.
fn answers(model: &Model, ds: &mut DocumentSession<'_>, questions: &[&str]) -> Vec<(Vec<f32>, String)> {
    questions.iter().map(|q| ds.ask(model, q, &mut |_| {}).map(|a| (a.first_logits, a.text)).unwrap()).collect()
}

/// Compresses `doc`, saves it, answers two questions and the first again; then opens the file
/// in a fresh session and asks the same: every logit equal.
fn file_answers_match(model: &Model, doc: &str, opts: &QaOptions, path: &Path) {
    let questions = [LONG_QUESTION, OTHER_QUESTION, LONG_QUESTION];
    let ds = DocumentSession::load(model, doc, &questions, opts).unwrap();
    let mut ds = ds.save(model, path, &questions).unwrap();
    let made = answers(model, &mut ds, &questions);
    drop(ds);
    let file = kvfile::read(path).unwrap();
    // The file records the options as they ran (prefill mode and chunk resolved).
    let what = |c: &Option<kvcompose::pipeline::CompressOptions>| c.as_ref().map(|c| (c.ratio, c.method, c.budget_mode));
    assert_eq!(what(&file.header.compress), what(&opts.compress));
    let mut ds = DocumentSession::open(model, path, file, &questions, opts).unwrap();
    let loaded = answers(model, &mut ds, &questions);
    for (i, (a, b)) in made.iter().zip(&loaded).enumerate() {
        assert!(a.0 == b.0, "question {i}: first-token logits differ after loading the file");
        assert_eq!(a.1, b.1, "question {i}: answers differ");
    }
    assert!(made[0].0 == made[2].0, "an earlier answer changed a later one");
    assert!(!made[0].1.is_empty() && !made[1].1.is_empty());
}

#[test]
fn answers_from_a_saved_cache_are_the_compressing_runs() {
    let dir = temp_dir();
    for (fa, k, v) in CACHES {
        let path = dir.join(format!("smollm2-{fa:?}-{k}-{v}.kvc"));
        file_answers_match(smollm2(), doc_prefix(2500), &qa_options(fa, k, v, Some(0.25)), &path);
    }
    // Kept cells stored in q8_0 from an f16 cache: the file holds them so and loads them so.
    let mut opts = qa_options(FlashAttn::On, "f16", "f16", Some(0.25));
    opts.compress.as_mut().unwrap().store = Store::Q8_0;
    file_answers_match(smollm2(), doc_prefix(2500), &opts, &dir.join("smollm2-kept-q8_0.kvc"));
    assert_eq!(kvfile::read(&dir.join("smollm2-kept-q8_0.kvc")).unwrap().header.stats.store, Store::Q8_0);
    // A whole cache saves and loads the same way.
    file_answers_match(smollm2(), doc_prefix(2500), &qa_options(FlashAttn::Auto, "f16", "f16", None), &dir.join("smollm2-full.kvc"));
}

/// Gemma 3: the global layers' compressed cells and the window layers' last window, both in the
/// file; the document is longer than the window. Both attention paths, a plain and a quantized
/// cache (all four are SmolLM2's, above: the file's rows do not depend on the model).
#[test]
fn gemma3_answers_from_a_saved_cache_are_the_compressing_runs() {
    let dir = temp_dir();
    for (fa, k, v) in [CACHES[0], CACHES[3]] {
        let path = dir.join(format!("gemma3-{fa:?}-{k}-{v}.kvc"));
        file_answers_match(gemma3(), doc_window(5500, 11_000), &qa_options(fa, k, v, Some(0.25)), &path);
    }
}

/// Asserts failure with a single `error:` line that contains every one of `needles`.
fn fails_with<S: AsRef<str>>(args: &[S], needles: &[&str]) {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let out = kvcompose(&args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} succeeded: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one error line, got: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "{args:?}: {:?} lacks {n:?}", lines[0]);
    }
    assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
}

#[test]
fn cli_saves_loads_and_refuses_bad_files() {
    let dir = temp_dir();
    let smol = model_path(&fetch::SMOLLM2).display().to_string();
    let gemma = model_path(&fetch::GEMMA3).display().to_string();
    let doc = dir.join("doc.txt");
    std::fs::write(&doc, doc_prefix(1500)).unwrap();
    let file = dir.join("cli.kvc");
    let (doc, f) = (doc.to_str().unwrap(), file.to_str().unwrap());

    // Two questions, two JSON lines; the same from the file, without the document.
    let base = ["-m", &smol, "-n", "8", "--json", "-p", LONG_QUESTION, "-p", OTHER_QUESTION];
    let saved = kvcompose(&[&base[..], &["-f", doc, "--kv-compose", "0.5", "--kv-save", f]].concat());
    assert!(saved.status.success(), "{}", stderr(&saved));
    let loaded = kvcompose(&[&base[..], &["--kv-load", f]].concat());
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let lines = |o: &std::process::Output| {
        String::from_utf8(o.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).collect::<Vec<_>>()
    };
    let (a, b) = (lines(&saved), lines(&loaded));
    assert_eq!(a.len(), 2, "one JSON object per question");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["answer"], y["answer"]);
        assert_eq!(y["kv_compose"], 0.5);
        assert_eq!(x["kv_bytes_kept"], y["kv_bytes_kept"]);
    }

    let bytes = std::fs::read(&file).unwrap();
    let write = |name: &str, b: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, b).unwrap();
        p.display().to_string()
    };
    let load = |path: &str, extra: &[&str]| -> Vec<String> { ["-m", &smol, "-p", "q", "--kv-load", path].iter().chain(extra).map(|s| s.to_string()).collect() };
    let mut flipped = bytes.clone();
    let at = bytes.len() / 2;
    flipped[at] ^= 0x10;
    let p = write("flipped.kvc", &flipped);
    fails_with(&load(&p, &[]), &["cache file", "checksum mismatch"]);
    let p = write("cut.kvc", &bytes[..bytes.len() - 1000]);
    fails_with(&load(&p, &[]), &["truncated"]);
    let p = write("text.kvc", b"not a cache file at all");
    fails_with(&load(&p, &[]), &["not a kvcompose cache file"]);
    let mut v9 = bytes.clone();
    v9[8] = 9;
    let p = write("v9.kvc", &v9);
    fails_with(&load(&p, &[]), &["format version 9"]);
    fails_with(&load(f, &["-ctk", "q8_0", "-fa", "on"]), &["f16 K cache", "-ctk f16"]);
    fails_with(&load(f, &["-fa", "off"]), &["flash attention on", "-fa on"]);
    fails_with(&["-m", &gemma, "-p", "q", "--kv-load", f], &["another model"]);
    fails_with(&load(&dir.join("missing.kvc").display().to_string(), &[]), &["reading cache file"]);
    // Flags that contradict a loaded file.
    let run = |args: Vec<String>| kvcompose(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let out = run(load(f, &["-f", doc]));
    assert!(!out.status.success() && stderr(&out).contains("cannot be used with"), "{}", stderr(&out));
    let out = run(load(f, &["--kv-compose", "0.25"]));
    assert!(!out.status.success() && stderr(&out).contains("cannot be used with"), "{}", stderr(&out));
    // A save that cannot be written is refused before the document loads, says why and leaves
    // nothing behind.
    let nowhere = dir.join("no/such/dir/x.kvc").display().to_string();
    fails_with(&["-m", &smol, "-f", doc, "-p", "q", "-n", "1", "--kv-save", &nowhere], &["cannot write the cache file", "its folder does not exist"]);
    assert!(!Path::new(&nowhere).exists());
    let folder = dir.display().to_string();
    fails_with(
        &["-m", &smol, "-f", doc, "-p", "q", "-n", "1", "--kv-compose", "0.5", "--kv-save", &folder],
        &["cannot write the cache file", "it is a folder"],
    );
}
