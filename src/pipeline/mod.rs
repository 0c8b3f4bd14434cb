//! KVCompose in a live llama.cpp session: prefill a document, score every cell by re-feeding
//! the document after itself, keep each head's best tokens as composite cells and rewrite the
//! cache in place. One pipeline, three ways to feed it:
//! - [`prefill_chunks`]: chunk by chunk, compressing after each (the cache holds the budget
//!   plus one chunk);
//! - [`prefill_layers`]: layer by layer, compressing once as after a whole prefill (the cache
//!   holds one layer's document at a time);
//! - [`prefill_scored`] then [`compress_scored`]: the whole document scored once, every
//!   compression of it made on the host (the benchmark).
//!
//! Each scores into [`LayerSlots`], lets [`choice::choose`] pick what every head keeps, and
//! writes the composed cache back through [`install`]. A load is planned before its context
//! exists ([`Plan::new`]): no check fires once decoding has begun.

mod choice;
mod chunks;
mod layers;
mod scored;

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

pub use choice::{budget_cells, choose, Choice};
pub use chunks::prefill_chunks;
pub use layers::prefill_layers;
pub use scored::{compress_scored, prefill_scored, scoring_copies, ScoredDocument, ScoringCopy, ALONE_CHUNK, KVZIP_CHUNK};

use crate::compress::scores::kv_head_scores;
use crate::compress::{LayerSlots, MethodName, ScoreOptions};
use crate::error::{Error, Result};
use crate::llama::callback::HeadCellMax;
use crate::llama::state::LayerKv;
use crate::llama::{cache, FlashAttn, KvType, ModelInfo, Session, SessionParams};

/// Which queries score the cache: each chunk is fed again after itself, and the attention of
/// that copy's tokens to the cache is the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scorer {
    /// `Chunks` where the model is read layer by layer without sliding-window layers, else
    /// `Repeat` ([`Scorer::resolve`]).
    #[default]
    Auto,
    /// The copy follows a "repeat the previous context" turn, so its queries look up the
    /// tokens they reproduce (KVzip's reconstruction scoring).
    Repeat,
    /// The copy follows the document directly (the KVCompose reference's second pass).
    Refeed,
    /// KVzip as kvpress implements it: copies of 2k-token chunks after a repeat request (later
    /// ones led in by the previous chunk's last tokens), each scored against its own chunk and
    /// the prompt prefix only. Scored documents only (`bench --scores`).
    Kvzip,
    /// Copies of 2k-token chunks led in as KVzip's, each seeing only the prompt prefix and its
    /// own chunk, in its hidden states too: attention over a chunk instead of the document, a
    /// cheaper copy. Models without sliding-window layers, read layer by layer or scored.
    Chunks,
}

impl Scorer {
    /// `Auto` made concrete for compressing with `c` on a model `info`: copies alone in chunks
    /// where they can run, else the whole copy. On the fidelity suite's cases longer than a
    /// chunk they keep 96 and 95 of 105 at 0.25 and 0.125 where the whole copy keeps 98 and 94,
    /// for 21-44% less scoring (`docs/results/2026-12-07-chunks-long`).
    pub fn resolve(self, c: &CompressOptions, info: &ModelInfo) -> Scorer {
        match self {
            Scorer::Auto if info.n_swa.is_none() && resolve_prefill(c, info).is_ok_and(|p| p == Prefill::Layers) => Scorer::Chunks,
            Scorer::Auto => Scorer::Repeat,
            given => given,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CompressOptions {
    /// Fraction of the document's KV cells kept, in (0, 1].
    pub ratio: f64,
    /// Which tokens each head keeps (KVCompose, or a baseline).
    pub method: MethodName,
    /// Document tokens decoded between two compressions (0: chosen from the budget).
    pub chunk: usize,
    /// How the document is prefilled: in chunks, compressed after each, or layer by layer.
    pub prefill: Prefill,
    pub scorer: Scorer,
    pub scores: ScoreOptions,
    /// Score each chunk against itself (and the prompt prefix) only, its copy led in by the
    /// previous chunk's last tokens, as KVzip's chunked reconstruction does; otherwise each
    /// copy scores every cell and older cells keep the max over all copies.
    pub local: bool,
    pub budget_mode: BudgetMode,
    /// With global budgets, each layer keeps at least this fraction of the uniform budget: the
    /// global top-k alone leaves layers whose attention is diffuse (low maxima) a few dozen cells.
    /// `None`: the model's default ([`layer_floor`]), made concrete by [`Plan::new`].
    #[serde(default)]
    pub layer_floor: Option<f64>,
    /// The types the kept cells are stored in. `ratio` counts KV bytes of the cache's own types,
    /// so a q8_0 store keeps about 1.9 times the cells of an f16 one in the same memory.
    #[serde(default)]
    pub store: Store,
}

impl CompressOptions {
    /// The options as the method runs them: KVzip brings its own scorer (chunked reconstruction,
    /// scored locally), aggregation (max over the query group, no head mean) and per-head budgets.
    pub fn effective(&self) -> CompressOptions {
        match self.method {
            MethodName::Kvzip => CompressOptions {
                scorer: Scorer::Kvzip,
                scores: ScoreOptions { group: crate::compress::Aggregation::Max, add_head_mean: false, pool: 0, words: false, ..self.scores },
                budget_mode: BudgetMode::Heads,
                ..self.clone()
            },
            _ => self.clone(),
        }
    }
}

/// The types the kept cells are stored in once compressed; the document is read and scored in
/// the cache's own types (`-ctk`, `-ctv`) either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Store {
    /// `q8_0` where it applies ([`Store::resolve`]), else `cache`.
    Auto,
    /// The cache's own types.
    #[default]
    Cache,
    /// Float K and V (f32, f16, bf16) rounded to q8_0; a quantized cache type stays as it is.
    /// On the held-out fidelity cases it answers more of the 68 the full cache answers at the
    /// same KV bytes than f16 cells do, most at 0.125 (`docs/results/2026-12-06-kept-q8_0`).
    #[value(name = "q8_0")]
    #[serde(rename = "q8_0")]
    Q8_0,
}

impl Store {
    /// `Auto` made concrete: `q8_0` when the ratio drops cells (1.0 stays bit-identical to
    /// stock), the cache has a float type to round, flash attention may be on (a quantized V
    /// needs it), the model's heads are whole q8_0 blocks (cells are composed per head) and the
    /// cache is composed once, not `streamed` (the layer-by-layer prefill and scored documents;
    /// a streaming prefill reads its compressed cache again).
    pub fn resolve(self, c: &CompressOptions, info: &ModelInfo, session: &SessionParams, streamed: bool) -> Store {
        let float = |t: KvType| Store::Q8_0.kept_type(t) != t;
        match self {
            Store::Auto
                if c.ratio < 1.0
                    && info.heads_split_into(KvType::Q8_0)
                    && (float(session.type_k) || float(session.type_v))
                    && session.flash_attn != FlashAttn::Off
                    && matches!(c.budget_mode, BudgetMode::Uniform | BudgetMode::Global)
                    && !streamed =>
            {
                Store::Q8_0
            }
            Store::Auto => Store::Cache,
            given => given,
        }
    }

    /// The type a cache of type `t` keeps its cells in.
    pub fn kept_type(self, t: KvType) -> KvType {
        match self {
            Store::Q8_0 if matches!(t.name(), "f32" | "f16" | "bf16") => KvType::Q8_0,
            _ => t,
        }
    }

    /// The types a cache of types `k`, `v` keeps its cells in.
    pub fn kept_types(self, k: KvType, v: KvType) -> (KvType, KvType) {
        (self.kept_type(k), self.kept_type(v))
    }

    /// The types a cache of types `k`, `v` keeps its cells in, where they are not its own.
    pub fn converts(self, k: KvType, v: KvType) -> Option<(KvType, KvType)> {
        let kept = self.kept_types(k, v);
        (kept != (k, v)).then_some(kept)
    }

    /// Cells of a cache of types `k`, `v` that take the bytes of `cells` cells kept this way
    /// (rounded up): what a context is sized for, since llama.cpp allocates the cache's types
    /// until the kept cells are installed.
    pub fn cache_cells(self, cells: usize, info: &ModelInfo, k: KvType, v: KvType) -> usize {
        let (kk, kv) = self.kept_types(k, v);
        (cells * info.kv_bytes_per_layer_cell(kk, kv)).div_ceil(info.kv_bytes_per_layer_cell(k, v).max(1))
    }

    /// Fraction of the cells that holds `ratio` of the KV bytes of a cache of types `k`, `v`
    /// once its cells are kept this way (at most all of them).
    pub fn cell_ratio(self, ratio: f64, info: &ModelInfo, k: KvType, v: KvType) -> f64 {
        let (kk, kv) = self.kept_types(k, v);
        (ratio * info.kv_bytes_per_layer_cell(k, v) as f64 / info.kv_bytes_per_layer_cell(kk, kv).max(1) as f64).min(1.0)
    }
}

/// How the kept cells are spread over the layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BudgetMode {
    /// Every layer keeps the same number of cells: what stock llama.cpp's shared cells realise.
    Uniform,
    /// KVCompose's global allocation, realised: each layer's KV tensors hold its own budget
    /// (plus the cells for new tokens), through kvcompose's llama.cpp patch.
    #[default]
    Global,
    /// KVCompose's global allocation, each layer attending only to its own budget: the cache
    /// holds the largest layer budget in every layer and masks the rest out of each layer's
    /// softmax (flash attention off). The accuracy of per-layer budgets without their memory
    /// (a check on `global`).
    GlobalMasked,
    /// KVzip's allocation: one threshold over every (layer, KV head, token), so heads of a layer
    /// keep different numbers of tokens; a layer holds as many cells as its longest head and
    /// masks each shorter head's padding out of that head's softmax (flash attention off).
    /// Scored documents only (`bench --scores`).
    Heads,
}

/// How a compressed prefill reads the document within the budget's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prefill {
    /// Layer by layer where the model allows it (the llama and gemma3 architectures), else in
    /// chunks.
    #[default]
    Auto,
    /// Chunk by chunk, the cache compressed after each: later chunks read the compressed cache.
    Chunks,
    /// Layer by layer: every layer reads the whole document and is compressed once, as after a
    /// whole prefill, while the cache holds one layer in full at a time.
    Layers,
}

/// Default `layer_floor`: every layer keeps at least a quarter of the uniform budget. The
/// reference's global top-k alone leaves layers whose attention is diffuse a few dozen cells; on
/// the fidelity suite (SmolLM2, 1.5k and 3k tokens, `docs/results/2026-12-01-fidelity`) a quarter
/// answered 44 of the 46 cases the full cache answers at 0.25 (none: 42, a half: 43) and 38 at
/// 0.125 (none: 38, a half: 31).
pub const DEFAULT_LAYER_FLOOR: f64 = 0.25;

/// Default `layer_floor` where the model has sliding-window layers: its few global layers, the
/// only ones compressed, share the budget evenly. The window layers read what is near, so every
/// global layer carries the document's long-range reads, and a global top-k over three layers of
/// one KV head each starves two of them: on Gemma 3's suite cases at 1.5k-8k tokens
/// (`docs/results/2026-12-05-gemma-floor`) even shares answered 42 of the 45 cases the full cache
/// answers at 0.25 and 40 at 0.125, a quarter's floor 39 and 23.
pub const WINDOW_MODEL_LAYER_FLOOR: f64 = 1.0;

/// The layer floor a model gets unless `--kv-floor` says otherwise.
pub fn layer_floor(c: &CompressOptions, info: &ModelInfo) -> f64 {
    c.layer_floor.unwrap_or(if info.n_swa.is_some() { WINDOW_MODEL_LAYER_FLOOR } else { DEFAULT_LAYER_FLOOR })
}

/// `Prefill::Auto` made concrete for this model and these options (which
/// `QaOptions::check` has passed); `Layers` where the model cannot is an error.
pub fn resolve_prefill(opts: &CompressOptions, info: &ModelInfo) -> Result<Prefill> {
    // The architectures of llama.cpp's layer ranges (patches/0004); gemma3's window layers need
    // their pattern known.
    let supported = match info.arch.as_str() {
        "llama" => info.n_swa.is_none(),
        "gemma3" => info.global_layers().is_some(),
        _ => false,
    };
    let fits = !opts.local && opts.budget_mode != BudgetMode::GlobalMasked;
    match opts.prefill {
        // A chunk size never picks the mode: it sizes the chunks of a streaming prefill.
        Prefill::Auto if supported && fits && opts.chunk != 0 => {
            Err(Error::Usage("--kv-chunk sizes the chunks of --kv-prefill chunks; this model is read layer by layer unless you add --kv-prefill chunks".into()))
        }
        Prefill::Auto if supported && fits => Ok(Prefill::Layers),
        Prefill::Auto | Prefill::Chunks => Ok(Prefill::Chunks),
        Prefill::Layers if !supported => Err(Error::UnsupportedArch(format!(
            "{} cannot be prefilled layer by layer (llama.cpp's layer ranges cover the llama and gemma3 architectures); use --kv-prefill chunks",
            info.arch
        ))),
        Prefill::Layers => Ok(Prefill::Layers),
    }
}

/// Tokens of the previous chunk that lead a local copy in, so its first tokens have context.
pub const LEAD_IN: usize = 8;

/// The token streams a compressed prefill works on.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Prompt prefix (template start, BOS): kept whole in every head.
    pub prefix: &'a [LlamaToken],
    pub doc: &'a [LlamaToken],
    /// Decoded, unscored, before each chunk's copy in a streaming prefill: the repeat turn for
    /// `Scorer::Repeat`.
    pub copy_intro: &'a [LlamaToken],
    /// The copies that score the document read layer by layer ([`scoring_copies`]).
    pub copies: &'a [ScoringCopy],
    /// Question tokens that also score the cache (query-aware mode).
    pub query: Option<&'a [LlamaToken]>,
    /// The word of each prefix and document position ([`crate::compress::words::word_ids`]).
    pub words: &'a [u32],
}

/// What a compressed prefill did, for the report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CompressStats {
    pub cells_full: usize,
    /// Cells a compressed layer holds on average (per-layer sizes differ; their total is what a
    /// uniform budget would hold).
    #[serde(alias = "cells_kept")]
    pub mean_layer_cells: usize,
    pub steps: usize,
    pub t_prefill_ms: f64,
    pub t_score_ms: f64,
    pub t_compress_ms: f64,
    /// KVCompose's global allocation for the final cache (kept cells per compressed layer).
    pub layer_budgets_global: Vec<usize>,
    /// Cells each compressed layer holds of the prefix and document, as realised.
    pub layer_cells: Vec<usize>,
    /// Most cells llama.cpp's KV tensors held at once during the prefill, summed over layers.
    pub alloc_cells_peak: usize,
    /// Most K/V rows (cells, summed over layers) the prefill held in host memory at once: the
    /// layer-by-layer prefill's candidates.
    #[serde(default)]
    pub host_cells_peak: usize,
    /// Model layers whose cache is compressed (all attention layers, or the global ones of iSWA).
    pub compressed_layers: Vec<usize>,
    /// `origins[layer][h][i]`: original position of the token in slot `i` of head `h`, per
    /// compressed layer, as the cache holds it now.
    #[serde(skip)]
    pub origins: Vec<Vec<Vec<i32>>>,
    /// How the compressed layers keep their cells (`Cache` or `Q8_0`, resolved).
    #[serde(default)]
    pub store: Store,
    /// Per-head budgets (`BudgetMode::Heads`): cells each KV head of each compressed layer
    /// attends to, the first of that layer's cells; the rest of them are masked for that head.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub head_cells: Vec<Vec<usize>>,
}

impl CompressStats {
    /// Cells of a cache of types `k`, `v` whose bytes the kept cells take: what a context that
    /// holds them is sized by, the rest of it being the cells for new tokens.
    pub fn held_cells(&self, info: &ModelInfo, k: KvType, v: KvType) -> usize {
        self.store.cache_cells(self.mean_layer_cells, info, k, v)
    }
}

/// The compressed layers of a model and where their cache lives in the sequence state.
#[derive(Debug, Clone)]
pub struct CompressedLayers {
    /// Model layer index of each layer of the compressed cache block, in state order.
    pub layers: Vec<usize>,
    /// Number of KV cache blocks in the sequence state (2 for iSWA) and the compressed one.
    pub n_blocks: usize,
    pub block: usize,
    /// iSWA: the window layers have a cache of their own, left to llama.cpp.
    pub window: bool,
}

impl CompressedLayers {
    pub fn of(info: &ModelInfo) -> Result<CompressedLayers> {
        if info.recurrent {
            return Err(Error::UnsupportedArch(format!("{} has a recurrent or hybrid memory, not an attention KV cache", info.arch)));
        }
        let layers = info
            .global_layers()
            .ok_or_else(|| Error::UnsupportedArch(format!("{} uses sliding-window attention with a layer pattern kvcompose does not know", info.arch)))?;
        // iSWA state: [global layers' cache][window layers' cache].
        let window = info.n_swa.is_some();
        Ok(CompressedLayers { layers, n_blocks: info.n_kv_caches(), block: 0, window })
    }
}

/// A long load's progress, `(phase, done, total)`, reported as each unit of work ends: chunks
/// when streaming, layers (each read and scored once) layer by layer, batches for a whole cache.
pub type Progress<'a> = dyn FnMut(&'static str, usize, usize) + 'a;

/// Chunk size that keeps the cache within budget + chunk: an eighth of the budget, 64..=512.
pub fn default_chunk(budget: usize) -> usize {
    (budget / 8).clamp(64, 512)
}

/// The token counts a compressed load is planned from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lengths {
    /// Prompt prefix (template start, BOS), kept whole.
    pub prefix: usize,
    pub doc: usize,
    /// The turn decoded before each scoring copy of a streaming prefill.
    pub copy_intro: usize,
    /// The longest scoring copy of a layer-by-layer prefill, its intro included.
    pub copy: usize,
    /// The longest question's turn.
    pub question: usize,
    /// The question also scores the cache (query-aware).
    pub query_aware: bool,
    pub n_predict: usize,
}

/// A compressed load, fixed before its context exists. [`Plan::new`] makes every check that
/// needs the model or the prompt's lengths, so that none fires once decoding has begun, and
/// sizes the context; the prefills take their budget, chunks and per-layer tails from here.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// `Chunks` or `Layers`, never `Auto`.
    pub prefill: Prefill,
    /// Document tokens decoded between two compressions (`Chunks`; 0 for `Layers`).
    pub chunk: usize,
    /// The `--kv-floor` this model gets (its default where none was given).
    pub layer_floor: f64,
    /// Cells a compressed layer keeps on average, of the prefix and document.
    pub budget: usize,
    /// How the kept cells are stored (resolved: `Cache` or `Q8_0`).
    pub store: Store,
    /// Cells of the cache's own types that take the kept cells' bytes (`budget` unless they are
    /// stored in other types): the context is sized for these, so the cache allocated before
    /// the kept cells are installed takes no more memory than they do.
    pub held: usize,
    /// The context asked for (llama.cpp may pad it: see [`Plan::tail`]).
    pub n_ctx: usize,
}

impl Plan {
    /// Plans compressing `len` with `c` on a model `info` in a context of `n_ctx` tokens (sized
    /// here when `None`); `session` gives the batch sizes.
    pub fn new(c: &CompressOptions, info: &ModelInfo, len: Lengths, session: &SessionParams, n_ctx: Option<usize>) -> Result<Plan> {
        let n_total = len.prefix + len.doc;
        let prefill = resolve_prefill(c, info)?;
        if c.scorer == Scorer::Chunks && (prefill == Prefill::Chunks || info.n_swa.is_some()) {
            // A copy alone is a second sequence beside the document's, in one layer's cache; a
            // window cache slides per sequence.
            return Err(Error::Usage("--kv-score chunks needs a model read layer by layer without sliding-window layers; use --kv-score repeat".into()));
        }
        let store = c.store.resolve(c, info, session, prefill == Prefill::Chunks);
        if store == Store::Q8_0 && prefill == Prefill::Chunks {
            return Err(Error::Usage(
                "--kv-store q8_0 keeps a cache composed once: it needs the layer-by-layer prefill, which this model does not have".into(),
            ));
        }
        let budget = budget_cells(store.cell_ratio(c.ratio, info, session.type_k, session.type_v), n_total, len.prefix);
        let held_cells = store.cache_cells(budget, info, session.type_k, session.type_v);
        // A scoring pass decodes the repeat turn, the lead-in and a copy of the chunk.
        let intro = len.copy_intro + if c.local { LEAD_IN } else { 0 };
        let ubatch = session.n_ubatch.min(session.n_batch);
        let mut chunk = match c.chunk {
            0 if info.n_swa.is_some() => default_chunk(budget).min(ubatch.saturating_sub(intro).max(1)),
            0 => default_chunk(budget),
            given => given,
        };
        chunk = chunk.min(len.doc).max(1);
        let query = if len.query_aware { len.question } else { 0 };
        // Masked global budgets hold the largest layer budget, up to the whole document.
        let held = if c.budget_mode == BudgetMode::GlobalMasked { n_total } else { held_cells };
        let answer = held + len.question + len.n_predict;
        let need = match prefill {
            // The passes hold the document in one layer's tensors, sized apart from the context;
            // but llama.cpp caps the batch at the context, and the passes decode in the ubatches
            // stock would (same arithmetic, and fast).
            // Window layers slide through a cache llama.cpp sizes from the context: a window
            // and a ubatch, unless it holds every position the passes reach.
            Prefill::Layers => {
                let reach = n_total + len.copy.max(query);
                answer.max(ubatch).max(info.n_swa.map_or(0, |w| (w + ubatch).min(reach)))
            }
            _ => {
                let pass = (len.prefix + chunk).max(intro + chunk).max(query);
                // Window layers hold a whole window beside each decode (llama.cpp sizes their
                // cache from the context): a context sized for a small budget left no cell for a
                // chunk once the document outgrew the window.
                let window = info.n_swa.map_or(0, |w| w + pass);
                (held + chunk + (intro + chunk).max(query)).max(answer).max(window)
            }
        };
        let n_ctx = n_ctx.unwrap_or(need.min(info.n_ctx_train));
        if need > n_ctx {
            return Err(Error::ContextTooLong { tokens: need, n_ctx, hint: " (with the budget, one chunk and the question; raise -c)" });
        }
        // On iSWA models a scoring pass must fit one ubatch: llama.cpp places a ubatch's cells
        // before its positions advance the window, so only cells already outside the document's
        // window are reused and the window layers keep the document's end.
        let ubatch = ubatch.min(n_ctx);
        let pass = (intro + chunk).max(query);
        if prefill == Prefill::Chunks && info.n_swa.is_some() && c.method.method().needs_scores() && pass > ubatch {
            return Err(Error::Usage(format!(
                "a scoring pass of {pass} tokens exceeds the ubatch of {ubatch} (sliding-window models score one ubatch at a time; lower --kv-chunk or raise -ub)"
            )));
        }
        // Layer by layer reads the document whole: no chunk to record.
        let chunk = if prefill == Prefill::Chunks { chunk } else { 0 };
        Ok(Plan { prefill, chunk, layer_floor: layer_floor(c, info), budget, store, held: held_cells, n_ctx })
    }
}

impl Plan {
    /// Cells for new tokens that every layer holds beside its compressed ones: what the
    /// session's context holds beyond the kept cells' bytes (llama.cpp pads the context it is
    /// asked for).
    pub fn tail(&self, session: &Session<'_>) -> usize {
        session.n_ctx().saturating_sub(self.held)
    }
}

/// Writes a composed sequence state into the session's cache: with per-layer sizes (`cells[l]`
/// compressed cells in model layer `l`, `tail` cells for new tokens in each; `kept`: the K and V
/// types of that cache, when they change) or in llama.cpp's stock layout (`None`); the cache
/// must then end at position `end - 1`.
fn install(session: &mut Session<'_>, state: &[u8], sizes: Option<(usize, &[usize])>, kept: Option<(KvType, KvType)>, end: i32) -> Result<()> {
    if let Some((tail, cells)) = sizes {
        session.set_layer_cells(tail, cells, kept)?;
    }
    session.write_state(state)?;
    if session.pos_max() != end - 1 {
        return Err(Error::llama(format!("after the rewrite the cache ends at position {}, expected {}", session.pos_max(), end - 1)));
    }
    Ok(())
}

/// Rounds a composed layer's rows to the types `store` keeps them in: the types they now have,
/// or `None` where they stay the layer's own.
fn keep_as(layer: &mut LayerKv, v_trans: bool, store: Store) -> Result<Option<(KvType, KvType)>> {
    let Some(kept) = store.converts(KvType::from_ggml(layer.k_type)?, KvType::from_ggml(layer.v_type)?) else { return Ok(None) };
    cache::layer_as(layer, v_trans, kept.0, kept.1)?;
    Ok(Some(kept))
}

/// Per model layer, the value of each compressed layer (model layers `layers`, in order) and
/// `other` for the rest: what llama.cpp's per-layer calls take.
pub fn per_model_layer<T: Clone>(n_layer: usize, layers: &[usize], values: impl IntoIterator<Item = T>, other: T) -> Vec<T> {
    let mut out = vec![other; n_layer];
    for (&l, v) in layers.iter().zip(values) {
        out[l] = v;
    }
    out
}

/// Raises a layer's running scores with one pass's maxima, aggregated per KV head (and pooled
/// over words: the word max of a running max is the running max of word maxima).
fn absorb(slots: &mut LayerSlots, m: &HeadCellMax, n_head_kv: usize, opts: &CompressOptions, words: &[u32]) {
    let heads: Vec<&[f32]> = (0..m.n_head).map(|h| m.head(h)).collect();
    slots.absorb(&kv_head_scores(&heads, n_head_kv, opts.scores));
    if opts.scores.words {
        slots.pool_words(words);
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llama::{FlashAttn, KvType, ScoreReduction};

    fn model(arch: &str, n_swa: Option<usize>) -> ModelInfo {
        ModelInfo {
            arch: arch.into(),
            name: "test".into(),
            n_layer: 4,
            n_embd: 64,
            n_head: 4,
            n_head_kv: 2,
            n_ctx_train: 8192,
            recurrent: false,
            n_swa,
            swa_layers: n_swa.map(|_| vec![true, true, true, false]),
            head_dim_k: 32,
            head_dim_v: 32,
        }
    }

    fn session() -> SessionParams {
        let f16 = KvType::parse("f16").unwrap();
        SessionParams {
            n_ctx: 0,
            n_batch: 2048,
            n_ubatch: 512,
            n_threads: 1,
            flash_attn: FlashAttn::Auto,
            type_k: f16,
            type_v: f16,
            probe: false,
            scores: ScoreReduction::Auto,
            copy_seq: false,
        }
    }

    fn opts(ratio: f64) -> CompressOptions {
        CompressOptions {
            ratio,
            method: MethodName::Kvcompose,
            chunk: 0,
            prefill: Prefill::Auto,
            scorer: Scorer::Repeat,
            scores: ScoreOptions::default(),
            local: false,
            budget_mode: BudgetMode::Global,
            layer_floor: None,
            store: Store::Cache,
        }
    }

    const LEN: Lengths = Lengths { prefix: 10, doc: 2000, copy_intro: 12, copy: 2012, question: 30, query_aware: false, n_predict: 64 };

    #[test]
    fn a_llama_model_is_read_layer_by_layer_in_a_context_for_the_budget_and_the_answer() {
        let plan = Plan::new(&opts(0.25), &model("llama", None), LEN, &session(), None).unwrap();
        assert_eq!((plan.prefill, plan.budget), (Prefill::Layers, 503));
        assert_eq!(plan.n_ctx, 503 + 30 + 64);
        // A chunk size does not pick the mode: asked for with auto, it is an error.
        let chunked = CompressOptions { chunk: 100, ..opts(0.25) };
        assert!(matches!(Plan::new(&chunked, &model("llama", None), LEN, &session(), None), Err(Error::Usage(_))));
        // Layer by layer on an architecture without layer ranges: an error, not a fallback.
        let layers = CompressOptions { prefill: Prefill::Layers, ..opts(0.25) };
        assert!(matches!(Plan::new(&layers, &model("qwen2", None), LEN, &session(), None), Err(Error::UnsupportedArch(_))));
        assert_eq!(Plan::new(&opts(0.25), &model("qwen2", None), LEN, &session(), None).unwrap().prefill, Prefill::Chunks);
    }

    #[test]
    fn a_sliding_window_model_is_read_layer_by_layer_with_a_window_and_a_ubatch_beside_the_budget() {
        let plan = Plan::new(&opts(0.25), &model("gemma3", Some(512)), LEN, &session(), None).unwrap();
        assert_eq!((plan.prefill, plan.chunk), (Prefill::Layers, 0));
        // llama.cpp sizes the window cache from the context: it must hold a window and a ubatch.
        assert_eq!(plan.n_ctx, 512 + 512);
        // A window pattern kvcompose does not know: streamed, and layer by layer is refused.
        let mut unknown = model("gemma3", Some(512));
        unknown.swa_layers = None;
        assert_eq!(resolve_prefill(&opts(0.25), &unknown).unwrap(), Prefill::Chunks);
    }

    #[test]
    fn copies_alone_score_by_default_where_a_model_is_read_layer_by_layer_without_window_layers() {
        let c = opts(0.25);
        assert_eq!(Scorer::Auto.resolve(&c, &model("llama", None)), Scorer::Chunks);
        // A window cache slides per sequence; a streamed model has no layer to share cells in.
        assert_eq!(Scorer::Auto.resolve(&c, &model("gemma3", Some(512))), Scorer::Repeat);
        assert_eq!(Scorer::Auto.resolve(&c, &model("qwen2", None)), Scorer::Repeat);
        let streamed = CompressOptions { prefill: Prefill::Chunks, ..opts(0.25) };
        assert_eq!(Scorer::Auto.resolve(&streamed, &model("llama", None)), Scorer::Repeat);
        // A scorer given is kept, and copies alone where they cannot run are refused.
        assert_eq!(Scorer::Refeed.resolve(&c, &model("llama", None)), Scorer::Refeed);
        let alone = CompressOptions { scorer: Scorer::Chunks, ..opts(0.25) };
        assert!(matches!(Plan::new(&alone, &model("gemma3", Some(512)), LEN, &session(), None), Err(Error::Usage(_))));
        assert!(matches!(Plan::new(&alone, &model("qwen2", None), LEN, &session(), None), Err(Error::Usage(_))));
    }

    #[test]
    fn the_layer_floor_defaults_to_even_shares_where_the_model_has_window_layers() {
        let floor = |c: &CompressOptions, m: &ModelInfo| Plan::new(c, m, LEN, &session(), None).unwrap().layer_floor;
        assert_eq!(floor(&opts(0.25), &model("llama", None)), DEFAULT_LAYER_FLOOR);
        assert_eq!(floor(&opts(0.25), &model("gemma3", Some(512))), WINDOW_MODEL_LAYER_FLOOR);
        // A floor given is kept on either.
        let given = CompressOptions { layer_floor: Some(0.5), ..opts(0.25) };
        assert_eq!(floor(&given, &model("llama", None)), 0.5);
        assert_eq!(floor(&given, &model("gemma3", Some(512))), 0.5);
    }

    #[test]
    fn a_streamed_sliding_window_model_has_passes_that_fit_one_ubatch_and_a_window_beside_them() {
        let chunks = CompressOptions { prefill: Prefill::Chunks, ..opts(0.25) };
        let plan = Plan::new(&chunks, &model("gemma3", Some(512)), LEN, &session(), None).unwrap();
        assert_eq!(plan.prefill, Prefill::Chunks);
        assert!(plan.chunk + LEN.copy_intro <= 512, "{plan:?}");
        assert!(plan.n_ctx >= 512 + LEN.prefix + plan.chunk, "{plan:?}");
        // A given chunk whose pass exceeds the ubatch fails here, before any decode.
        let big = CompressOptions { chunk: 600, ..chunks };
        match Plan::new(&big, &model("gemma3", Some(512)), LEN, &session(), None) {
            Err(Error::Usage(m)) => assert!(m.contains("exceeds the ubatch of 512"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auto_keeps_cells_in_q8_0_only_where_cells_are_dropped_from_a_float_cache_composed_once() {
        let (s, c, m) = (session(), opts(0.25), model("llama", None));
        assert_eq!(Store::Auto.resolve(&c, &m, &s, false), Store::Q8_0);
        // Heads that are not whole blocks cannot be composed in q8_0.
        assert_eq!(Store::Auto.resolve(&c, &ModelInfo { head_dim_k: 80, ..m.clone() }, &s, false), Store::Cache);
        // Everything kept stays bit-identical to stock.
        assert_eq!(Store::Auto.resolve(&opts(1.0), &m, &s, false), Store::Cache);
        // A quantized V needs flash attention; a streaming prefill reads its cache again.
        assert_eq!(Store::Auto.resolve(&c, &m, &SessionParams { flash_attn: FlashAttn::Off, ..s.clone() }, false), Store::Cache);
        assert_eq!(Store::Auto.resolve(&c, &m, &s, true), Store::Cache);
        // Nothing to round in a quantized cache; one float half is enough.
        let q8 = KvType::parse("q8_0").unwrap();
        assert_eq!(Store::Auto.resolve(&c, &m, &SessionParams { type_k: q8, type_v: q8, ..s.clone() }, false), Store::Cache);
        assert_eq!(Store::Auto.resolve(&c, &m, &SessionParams { type_k: q8, ..s.clone() }, false), Store::Q8_0);
        assert_eq!(Store::Q8_0.kept_types(q8, s.type_v), (q8, q8));
        // Masked budgets (flash attention off) keep the cache's types; a store given is kept.
        assert_eq!(Store::Auto.resolve(&CompressOptions { budget_mode: BudgetMode::Heads, ..c.clone() }, &m, &s, false), Store::Cache);
        assert_eq!(Store::Cache.resolve(&c, &m, &s, false), Store::Cache);
    }

    #[test]
    fn the_ratio_counts_bytes_so_a_q8_0_store_keeps_more_cells_in_them() {
        let (f16, info) = (KvType::parse("f16").unwrap(), model("llama", None));
        assert_eq!(Store::Cache.cell_ratio(0.25, &info, f16, f16), 0.25);
        // 16 values a head, 2 heads: 64 bytes in f16, 34 in q8_0 (32 values and a scale a block).
        let r = Store::Q8_0.cell_ratio(0.25, &info, f16, f16);
        assert!((r - 0.25 * 64.0 / 34.0).abs() < 1e-12, "{r}");
        assert_eq!(Store::Q8_0.cell_ratio(0.75, &info, f16, f16), 1.0);
        // The plan's budget follows.
        let plan = Plan::new(&CompressOptions { store: Store::Q8_0, ..opts(0.25) }, &info, LEN, &session(), None).unwrap();
        assert_eq!((plan.store, plan.budget), (Store::Q8_0, budget_cells(r, 2010, 10)));
        // A streaming prefill cannot keep q8_0 cells: refused before any decode.
        let chunks = CompressOptions { store: Store::Q8_0, prefill: Prefill::Chunks, ..opts(0.25) };
        assert!(matches!(Plan::new(&chunks, &info, LEN, &session(), None), Err(Error::Usage(_))));
    }

    #[test]
    fn a_context_given_too_small_is_refused_with_what_it_needs() {
        match Plan::new(&opts(0.25), &model("llama", None), LEN, &session(), Some(300)) {
            Err(Error::ContextTooLong { tokens, n_ctx, .. }) => assert_eq!((tokens, n_ctx), (597, 300)),
            other => panic!("{other:?}"),
        }
    }
}
