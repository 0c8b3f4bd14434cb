//! Shared helpers: the real models (fetched on first use) and the test documents.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use kvcompose::compress::ScoreOptions;
use kvcompose::fetch;
use kvcompose::llama::{FlashAttn, KvType, Model, ScoreReduction, SessionParams};
use kvcompose::pipeline::CompressOptions;
use kvcompose::qa::QaOptions;

pub fn model_path(m: &fetch::KnownFile) -> PathBuf {
    fetched(m, &fetch::default_dir())
}

/// A known model or dataset in `dir`, fetched on first use.
pub fn fetched(m: &fetch::KnownFile, dir: &std::path::Path) -> PathBuf {
    // Tests run in parallel: fetch each file once.
    static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    fetch::ensure(m, dir, &mut |msg| eprintln!("{msg}")).expect("fetch test file")
}

/// Layers offloaded to the GPU: llama.cpp's `LLAMA_ARG_N_GPU_LAYERS`, which the CLI also reads,
/// so the same suite checks a GPU build (0, the CPU, when unset).
pub fn n_gpu_layers() -> u32 {
    std::env::var("LLAMA_ARG_N_GPU_LAYERS").ok().and_then(|v| v.parse().ok()).unwrap_or(0)
}

pub fn smollm2() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| Model::load(&model_path(&fetch::SMOLLM2), n_gpu_layers(), false).expect("load SmolLM2"))
}

/// Gemma 3 270M: iSWA cache (global layers 5, 11, 17; the others a 512-token window).
pub fn gemma3() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| Model::load(&model_path(&fetch::GEMMA3), n_gpu_layers(), false).expect("load Gemma 3"))
}

pub const LONG_DOC: &str = include_str!("data/areopagitica-long.txt");
pub const LONG_QUESTION: &str = "What is the special magic number for the printing house mentioned in the provided text?";
pub const LONG_ANSWER: &str = "4516273";

/// The first `chars` characters of the long document, cut at a paragraph.
pub fn doc_prefix(chars: usize) -> &'static str {
    let cut = LONG_DOC[..chars.min(LONG_DOC.len())].rfind("\n\n").unwrap_or(chars);
    &LONG_DOC[..cut]
}

/// The long document from byte `start` (at a paragraph) to `end`.
pub fn doc_window(start: usize, end: usize) -> &'static str {
    let from = LONG_DOC[..start].rfind("\n\n").map_or(0, |i| i + 2);
    let to = LONG_DOC[..end.min(LONG_DOC.len())].rfind("\n\n").unwrap_or(end);
    &LONG_DOC[from..to]
}

pub fn session_params(fa: FlashAttn, k: &str, v: &str) -> SessionParams {
    SessionParams {
        n_ctx: 0,
        n_batch: 2048,
        n_ubatch: 512,
        n_threads: std::thread::available_parallelism().map_or(2, |n| n.get() as i32),
        flash_attn: fa,
        type_k: KvType::parse(k).unwrap(),
        type_v: KvType::parse(v).unwrap(),
        probe: false,
        scores: ScoreReduction::Host,
        copy_seq: false,
    }
}

pub fn qa_options(fa: FlashAttn, k: &str, v: &str, ratio: Option<f64>) -> QaOptions {
    QaOptions {
        n_ctx: None,
        session: session_params(fa, k, v),
        n_predict: 24,
        temp: 0.0,
        seed: 0,
        compress: ratio.map(|ratio| CompressOptions {
            ratio,
            method: Default::default(),
            chunk: 0,
            prefill: Default::default(),
            scorer: Default::default(),
            scores: ScoreOptions::default(),
            local: false,
            budget_mode: Default::default(),
            layer_floor: None,
            store: Default::default(),
        }),
        query_aware: false,
    }
}

/// Runs the kvcompose binary.
pub fn kvcompose(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvcompose")).args(args).output().expect("run kvcompose")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
