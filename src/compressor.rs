//! KVCompose in a live llama.cpp session: prefill a document, score every cell by re-feeding
//! the document after itself, keep each head's best tokens as composite cells and rewrite the
//! cache in place. Two ways to stay within the budget's memory: chunk by chunk, compressing
//! after each (`prefill`: the cache holds the budget plus one chunk), or layer by layer,
//! compressing once (`prefill_layerwise`: the cache holds one layer's document at a time).

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use crate::compress::budget::{allocate_global, allocate_heads, composite_scores};
use crate::compress::scores::kv_head_scores;
use crate::compress::select::{slot_positions, top_k_per_head};
use crate::compress::{LayerSlots, Method, MethodName, ScoreOptions, Selection};
use crate::error::{Error, Result};
use crate::llama::callback::{HeadCellMax, LiveSlots, PassScope};
use crate::llama::state::{CacheData, CacheState, LayerKv, Layout, SeqState};
use crate::llama::{cache, LayerInput, ModelInfo, Session};

/// Which queries score the cache: each chunk is fed again after itself, and the attention of
/// that copy's tokens to the cache is the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scorer {
    /// The copy follows a "repeat the previous context" turn, so its queries look up the
    /// tokens they reproduce (KVzip's reconstruction scoring).
    #[default]
    Repeat,
    /// The copy follows the document directly (the KVCompose reference's second pass).
    Refeed,
    /// KVzip as kvpress implements it: copies of 2k-token chunks after a repeat request (later
    /// ones led in by the previous chunk's last tokens), each scored against its own chunk and
    /// the prompt prefix only. Scored documents only (`bench --scores`).
    Kvzip,
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
    pub layer_floor: f64,
}

impl CompressOptions {
    /// The options as the method runs them: KVzip brings its own scorer (chunked reconstruction,
    /// scored locally), aggregation (max over the query group, no head mean) and per-head budgets.
    pub fn effective(&self) -> CompressOptions {
        match self.method {
            MethodName::Kvzip => CompressOptions {
                scorer: Scorer::Kvzip,
                scores: ScoreOptions { group: crate::compress::Aggregation::Max, add_head_mean: false, pool: 0, ..self.scores },
                budget_mode: BudgetMode::Heads,
                ..self.clone()
            },
            _ => self.clone(),
        }
    }
}

/// How the kept cells are spread over the layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Prefill {
    /// Layer by layer where the model allows it (llama architecture without sliding-window
    /// layers), else in chunks.
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

/// `Prefill::Auto` made concrete for this model and these options; `Layers` where the model
/// cannot is an error.
pub fn resolve_prefill(opts: &CompressOptions, info: &ModelInfo) -> Result<Prefill> {
    let supported = info.arch == "llama" && info.n_swa.is_none();
    let fits = !opts.local && opts.budget_mode != BudgetMode::GlobalMasked;
    match opts.prefill {
        // A chunk size never picks the mode: it sizes the chunks of a streaming prefill.
        Prefill::Auto | Prefill::Layers if supported && fits && opts.chunk != 0 => {
            Err(Error::Usage("--kv-chunk sizes the chunks of --kv-prefill chunks; this model is read layer by layer unless you add --kv-prefill chunks".into()))
        }
        Prefill::Auto if supported && fits => Ok(Prefill::Layers),
        Prefill::Auto | Prefill::Chunks => Ok(Prefill::Chunks),
        Prefill::Layers if !supported => Err(Error::UnsupportedArch(format!(
            "{} cannot be prefilled layer by layer (llama.cpp's layer ranges cover the llama architecture without sliding-window layers); use --kv-prefill chunks",
            info.arch
        ))),
        Prefill::Layers if !fits => Err(Error::Usage("--kv-prefill layers scores the whole document at once: it does not go with --kv-local or --kv-budget global-masked".into())),
        Prefill::Layers => Ok(Prefill::Layers),
    }
}

/// Tokens of the previous chunk that lead a local copy in, so its first tokens have context.
pub const LEAD_IN: usize = 8;

/// The token streams the compressor works on.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Prompt prefix (template start, BOS): kept whole in every head.
    pub prefix: &'a [LlamaToken],
    pub doc: &'a [LlamaToken],
    /// Decoded, unscored, before each copy: the repeat turn for `Scorer::Repeat`.
    pub copy_intro: &'a [LlamaToken],
    /// Question tokens that also score the cache (query-aware mode).
    pub query: Option<&'a [LlamaToken]>,
}

/// What a compressed prefill did, for the report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CompressStats {
    pub cells_full: usize,
    pub cells_kept: usize,
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
    /// Model layers whose cache is compressed (all attention layers, or the global ones of iSWA).
    pub compressed_layers: Vec<usize>,
    /// `origins[layer][h][i]`: original position of the token in slot `i` of head `h`, per
    /// compressed layer, as the cache holds it now.
    #[serde(skip)]
    pub origins: Vec<Vec<Vec<i32>>>,
    /// Per-head budgets (`BudgetMode::Heads`): cells each KV head of each compressed layer
    /// attends to, the first of that layer's cells; the rest of them are masked for that head.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub head_cells: Vec<Vec<usize>>,
}

/// The compressed layers of a model and where their cache lives in the sequence state.
#[derive(Debug, Clone)]
pub struct CacheLayout {
    /// Model layer index of each layer of the compressed cache block, in state order.
    pub layers: Vec<usize>,
    /// Number of KV cache blocks in the sequence state (2 for iSWA) and the compressed one.
    pub n_blocks: usize,
    pub block: usize,
    /// iSWA: the window layers have a cache of their own, left to llama.cpp.
    pub window: bool,
}

impl CacheLayout {
    pub fn of(info: &ModelInfo) -> Result<CacheLayout> {
        if info.recurrent {
            return Err(Error::UnsupportedArch(format!("{} has a recurrent or hybrid memory, not an attention KV cache", info.arch)));
        }
        let layers = info
            .global_layers()
            .ok_or_else(|| Error::UnsupportedArch(format!("{} uses sliding-window attention with a layer pattern kvcompose does not know", info.arch)))?;
        // iSWA state: [global layers' cache][window layers' cache].
        let window = info.n_swa.is_some();
        Ok(CacheLayout { layers, n_blocks: info.n_kv_caches(), block: 0, window })
    }
}

/// A long load's progress, `(phase, done, total)`, reported as each unit of work ends: chunks
/// when streaming, layers (scored, then read) layer by layer, batches for a whole cache.
pub type Progress<'a> = dyn FnMut(&'static str, usize, usize) + 'a;

/// Prefills `prefix` (kept whole) then `doc`, compressing to `ratio` of the cells as it goes.
/// Afterwards the cache holds the composite cells, the last at position `prefix + doc - 1`.
pub fn prefill(session: &mut Session<'_>, input: Inputs<'_>, opts: &CompressOptions, progress: &mut Progress<'_>) -> Result<CompressStats> {
    let Inputs { prefix, doc, copy_intro, query } = input;
    let layout = CacheLayout::of(&session.model.info)?;
    let method = opts.method.method();
    let n_head_kv = session.model.info.n_head_kv;
    let n_total = prefix.len() + doc.len();
    let budget = ((opts.ratio * n_total as f64).ceil() as usize).clamp(prefix.len().max(1), n_total);
    // Per-layer sizes: the context was sized for the budget plus room for new tokens, which
    // every layer keeps beside its own compressed cells.
    let tail = session.n_ctx().saturating_sub(budget);
    let mut stats = CompressStats { cells_full: n_total, compressed_layers: layout.layers.clone(), ..Default::default() };

    let mut slots: Vec<LayerSlots> = layout.layers.iter().map(|_| LayerSlots::new(n_head_kv)).collect();
    let mut pos = 0;

    let n_chunks = doc.len().div_ceil(opts.chunk.max(1));
    for (i, chunk) in doc.chunks(opts.chunk.max(1)).enumerate() {
        // The prefix goes with the first chunk, in one decode as stock llama.cpp would.
        let first;
        let fed: &[LlamaToken] = if i == 0 {
            first = [prefix, chunk].concat();
            &first
        } else {
            chunk
        };
        let t0 = Instant::now();
        session.decode(fed, pos, false)?;
        stats.t_prefill_ms += ms(t0);
        let fed_pos: Vec<i32> = (pos..pos + fed.len() as i32).collect();
        for s in &mut slots {
            s.append(&fed_pos);
        }
        pos += fed.len() as i32;

        let t0 = Instant::now();
        // Layers hold different numbers of cells with per-layer sizes; their columns in the
        // attention are those cells, then the tail.
        let n_cells: Vec<usize> = slots.iter().map(LayerSlots::n_slots).collect();
        // Local scoring: led in by the previous chunk's end, scored against this chunk alone.
        let at = i * opts.chunk.max(1);
        let (lead, excluded) = match opts.local && i > 0 {
            true => (&doc[at.saturating_sub(LEAD_IN)..at], std::iter::once(prefix.len()..n_cells[0] - chunk.len()).collect()),
            false => (&doc[..0], Vec::new()),
        };
        let copy = [copy_intro, lead, chunk].concat();
        let mut passes = vec![(copy.as_slice(), PassScope { skip: copy_intro.len() + lead.len(), excluded })];
        passes.extend(query.map(|q| (q, PassScope::default())));
        // Baselines that read no scores skip the passes.
        for (tokens, scope) in passes.into_iter().filter(|_| method.needs_scores()) {
            // On iSWA models a pass must fit one ubatch: llama.cpp places a ubatch's cells
            // before its positions advance the window, so only cells already outside the
            // document's window are reused and the window layers keep the document's end.
            if layout.window && tokens.len() > session.n_ubatch() {
                return Err(Error::Llama(format!(
                    "a scoring pass of {} tokens exceeds the ubatch of {} (sliding-window models score one ubatch at a time; lower --kv-chunk or raise -ub)",
                    tokens.len(),
                    session.n_ubatch()
                )));
            }
            let maxima = session.score_pass(tokens, scope, pos, &layout.layers, &n_cells)?;
            session.truncate(pos)?;
            for (s, &l) in slots.iter_mut().zip(&layout.layers) {
                absorb(s, maxima[l].as_ref().expect("scored layer"), n_head_kv, opts);
            }
        }
        stats.t_score_ms += ms(t0);

        // At equality the rewrite keeps everything: ratio 1.0 goes through the same path.
        if n_cells.iter().sum::<usize>() >= budget * slots.len() {
            let t0 = Instant::now();
            stats.layer_budgets_global = global_budgets(&slots, budget, prefix.len(), opts);
            let sources: Vec<Vec<Vec<usize>>> = match opts.budget_mode {
                BudgetMode::GlobalMasked => masked_selection(session, &layout.layers, &slots, &stats.layer_budgets_global, method.as_ref(), prefix.len())?,
                _ => select_layers(&slots, budget, &stats.layer_budgets_global, prefix.len(), opts.budget_mode, method.as_ref()),
            };
            slots = slots.iter().zip(&sources).map(|(s, src)| s.gather(src)).collect();
            if opts.budget_mode == BudgetMode::GlobalMasked {
                // The padding cells hold no token for their layer: never kept, never scored.
                for (s, &b) in slots.iter_mut().zip(&stats.layer_budgets_global) {
                    s.clear_from(b);
                }
            }
            let sel = Selection { positions: slot_positions(&slots, pos), sources };
            let mut state = session.state_bytes()?;
            cache::compose(&mut state, layout.n_blocks, layout.block, &sel, n_head_kv)?;
            if opts.budget_mode == BudgetMode::Global {
                let mut n_comp = vec![0; session.model.info.n_layer];
                for (&l, s) in layout.layers.iter().zip(&slots) {
                    n_comp[l] = s.n_slots();
                }
                session.set_layer_cells(tail, &n_comp)?;
            }
            session.write_state(&state)?;
            if session.pos_max() != pos - 1 {
                return Err(Error::Llama(format!("after rewrite the cache ends at position {}, expected {}", session.pos_max(), pos - 1)));
            }
            stats.steps += 1;
            stats.t_compress_ms += ms(t0);
        }
        progress("reading chunks", i + 1, n_chunks);
    }
    stats.layer_cells = slots.iter().map(LayerSlots::n_slots).collect();
    // Per layer on average with per-layer sizes (the same total as a uniform budget).
    stats.cells_kept = stats.layer_cells.iter().sum::<usize>().div_ceil(slots.len().max(1));
    if stats.steps == 0 {
        stats.layer_budgets_global = stats.layer_cells.clone();
    }
    stats.origins = slots.into_iter().map(|s| s.origin).collect();
    Ok(stats)
}

/// A whole document in the cache with every cell scored: what a compression needs, whatever its
/// ratio, method, layer budgets or score aggregation, so the benchmark reads and scores a case
/// once and tries each setting on the host.
#[derive(Debug, Clone)]
pub struct ScoredDocument {
    /// Sequence state of the whole cache: prefix and document.
    pub state: Vec<u8>,
    /// Per compressed layer (`CacheLayout::layers` order): max attention per (query head, cell).
    pub maxima: Vec<HeadCellMax>,
    pub n_prefix: usize,
    pub t_prefill_ms: f64,
    pub t_score_ms: f64,
}

/// One scoring copy of a document: lead-in tokens (not scored), then the document's tokens
/// `doc`; `local` leaves the document's other cells out of the copy's softmax (but not out of
/// what its hidden states see), as KVzip scores each chunk against itself and the sinks.
#[derive(Debug, Clone)]
pub struct ScoringCopy {
    pub intro: Vec<LlamaToken>,
    pub doc: std::ops::Range<usize>,
    pub local: bool,
}

/// Prefills `prefix` and `doc` whole, keeps the cache's state and scores every cell with
/// `copies`, each decoded after the document and removed after (a cell's score is its max over
/// them). The context holds the document and the longest copy.
pub fn prefill_scored(
    session: &mut Session<'_>,
    prefix: &[LlamaToken],
    doc: &[LlamaToken],
    copies: &[ScoringCopy],
    progress: &mut Progress<'_>,
) -> Result<ScoredDocument> {
    let layout = CacheLayout::of(&session.model.info)?;
    let full = [prefix, doc].concat();
    let t0 = Instant::now();
    let n_batch = session.n_batch();
    for (i, batch) in full.chunks(n_batch).enumerate() {
        session.decode(batch, (i * n_batch) as i32, false)?;
        progress("reading", ((i + 1) * n_batch).min(full.len()), full.len());
    }
    let t_prefill_ms = ms(t0);
    let state = session.state_bytes()?;
    let t0 = Instant::now();
    let pos = full.len() as i32;
    let n_cells = vec![full.len(); layout.layers.len()];
    let mut maxima: Vec<HeadCellMax> = Vec::new();
    for (i, c) in copies.iter().enumerate() {
        let tokens = [&c.intro[..], &doc[c.doc.clone()]].concat();
        let (start, end) = (prefix.len() + c.doc.start, prefix.len() + c.doc.end);
        let excluded = if c.local { vec![prefix.len()..start, end..full.len()] } else { Vec::new() };
        let mut m = session.score_pass(&tokens, PassScope { skip: c.intro.len(), excluded }, pos, &layout.layers, &n_cells)?;
        session.truncate(pos)?;
        let m: Vec<HeadCellMax> = layout.layers.iter().map(|&l| m[l].take().expect("scored layer")).collect();
        if maxima.is_empty() {
            maxima = m;
        } else {
            for (acc, new) in maxima.iter_mut().zip(&m) {
                acc.data.iter_mut().zip(&new.data).for_each(|(a, &b)| *a = a.max(b));
            }
        }
        progress("scoring", i + 1, copies.len());
    }
    Ok(ScoredDocument { state, maxima, n_prefix: prefix.len(), t_prefill_ms, t_score_ms: ms(t0) })
}

/// Compresses a scored document's cache on the host, no decode: the selection that `opts`
/// makes from `doc`'s scores, composed from its whole state. Returns the composed state (for a
/// fresh context; per-layer rows with global budgets) and what it holds.
pub fn compress_scored(info: &ModelInfo, doc: &ScoredDocument, opts: &CompressOptions) -> Result<(Vec<u8>, CompressStats)> {
    let t0 = Instant::now();
    let layout = CacheLayout::of(info)?;
    if opts.budget_mode == BudgetMode::GlobalMasked || opts.local {
        return Err(Error::Usage("a scored document is compressed with uniform, global or per-head budgets, scored whole".into()));
    }

    let n_total = Layout::parse(&doc.state, layout.n_blocks)?.caches[layout.block].n_cells();
    let method = opts.method.method();
    if opts.budget_mode == BudgetMode::Heads && !method.needs_scores() {
        return Err(Error::Usage("per-head budgets follow the scores: a method that reads none keeps one token set".into()));
    }
    let all: Vec<i32> = (0..n_total as i32).collect();
    let mut slots: Vec<LayerSlots> = Vec::with_capacity(layout.layers.len());
    for m in &doc.maxima {
        if m.n_cells != n_total {
            return Err(Error::StateFormat(format!("scores for {} cells, a cache of {n_total}", m.n_cells)));
        }
        let mut s = LayerSlots::new(info.n_head_kv);
        s.append(&all);
        if method.needs_scores() {
            absorb(&mut s, m, info.n_head_kv, opts);
        }
        slots.push(s);
    }
    let budget = ((opts.ratio * n_total as f64).ceil() as usize).clamp(doc.n_prefix.max(1), n_total);
    let (budgets, sources, head_cells) = match opts.budget_mode {
        BudgetMode::Heads => {
            let scores: Vec<Vec<Vec<f32>>> = slots.iter().map(|s| s.score.clone()).collect();
            let counts = allocate_heads(&scores, budget * slots.len() * info.n_head_kv, doc.n_prefix);
            let sources = slots.iter().zip(&counts).map(|(s, c)| select_heads(s, c, doc.n_prefix)).collect();
            (counts.iter().map(|c| c.iter().copied().max().unwrap_or(0)).collect(), sources, counts)
        }
        _ => {
            let budgets = global_budgets(&slots, budget, doc.n_prefix, opts);
            let sources = select_layers(&slots, budget, &budgets, doc.n_prefix, opts.budget_mode, method.as_ref());
            (budgets, sources, Vec::new())
        }
    };
    let slots: Vec<LayerSlots> = slots.iter().zip(&sources).map(|(s, src)| s.gather(src)).collect();
    let sel = Selection { positions: slot_positions(&slots, n_total as i32), sources };
    let mut state = doc.state.clone();
    cache::compose(&mut state, layout.n_blocks, layout.block, &sel, info.n_head_kv)?;
    let layer_cells: Vec<usize> = slots.iter().map(LayerSlots::n_slots).collect();
    let stats = CompressStats {
        cells_full: n_total,
        cells_kept: layer_cells.iter().sum::<usize>().div_ceil(layer_cells.len().max(1)),
        steps: 1,
        t_prefill_ms: doc.t_prefill_ms,
        t_score_ms: doc.t_score_ms,
        t_compress_ms: ms(t0),
        layer_budgets_global: budgets,
        alloc_cells_peak: 0,
        compressed_layers: layout.layers,
        origins: slots.into_iter().map(|s| s.origin).collect(),
        layer_cells,
        head_cells,
    };
    Ok((state, stats))
}

/// Each layer selects its own global budget; the cells up to the largest budget repeat the
/// layer's first slot and the probe masks them out of that layer's softmax (after the gather
/// they are cleared, so they are never kept or scored).
fn masked_selection(
    session: &mut Session<'_>,
    layers: &[usize],
    slots: &[LayerSlots],
    budgets: &[usize],
    method: &dyn Method,
    protected: usize,
) -> Result<Vec<Vec<Vec<usize>>>> {
    if session.seen_paths().flash_attn {
        return Err(Error::Usage("--kv-budget global-masked masks attention probabilities, which flash attention never forms: add -fa off".into()));
    }
    let cells = budgets.iter().copied().max().unwrap_or(0);
    let mut per_layer = vec![None; session.model.info.n_layer];
    for (&l, &b) in layers.iter().zip(budgets) {
        per_layer[l] = Some(LiveSlots { live: vec![b; session.model.info.n_head_kv], slots: cells });
    }
    session.set_live_slots(per_layer)?;
    Ok(slots
        .iter()
        .zip(budgets)
        .map(|(s, &b)| {
            let mut heads = method.select(s, b, protected);
            for h in &mut heads {
                h.resize(cells, h[0]);
            }
            heads
        })
        .collect())
}

/// KVCompose's global allocation of `budget` cells per layer over the layers; with global
/// budgets each layer keeps at least the prompt prefix and the `--kv-floor` share.
fn global_budgets(slots: &[LayerSlots], budget: usize, protected: usize, opts: &CompressOptions) -> Vec<usize> {
    let composite: Vec<Vec<f32>> = slots.iter().map(|s| composite_scores(&s.score, opts.scores.composite)).collect();
    let floor = match opts.budget_mode {
        BudgetMode::Uniform => 0,
        _ => protected.max((opts.layer_floor * budget as f64) as usize),
    };
    allocate_global(&composite, budget * slots.len(), floor)
}

/// Each head's own top `counts[h]` slots, padded to the longest head with its first slot (which
/// the head's mask hides).
fn select_heads(slots: &LayerSlots, counts: &[usize], protected: usize) -> Vec<Vec<usize>> {
    let width = counts.iter().copied().max().unwrap_or(0);
    (0..slots.origin.len())
        .map(|h| {
            let one = LayerSlots { origin: vec![slots.origin[h].clone()], score: vec![slots.score[h].clone()] };
            let mut kept = top_k_per_head(&one, counts[h], protected).remove(0);
            let first = kept.first().copied().unwrap_or(0);
            kept.resize(width, first);
            kept
        })
        .collect()
}

/// Each head's kept slots per layer: `budget` in every layer (uniform), else the layer's own
/// global budget.
fn select_layers(slots: &[LayerSlots], budget: usize, budgets: &[usize], protected: usize, mode: BudgetMode, method: &dyn Method) -> Vec<Vec<Vec<usize>>> {
    match mode {
        BudgetMode::Uniform => slots.iter().map(|s| method.select(s, budget, protected)).collect(),
        _ => slots.iter().zip(budgets).map(|(s, &b)| method.select(s, b, protected)).collect(),
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Prefills the prefix and document one layer at a time and compresses once, as the reference
/// does after a whole prefill, but with memory that follows the budget. Each layer reads the
/// hidden states of the layer below for the document and its scoring copy, and only that
/// layer's cache holds them, so the scores and the K/V rows are exactly a whole prefill's while
/// the cache holds one full layer (with the copy) at a time. Two passes: the first scores every
/// layer (the global allocation needs them all), the second recomputes each layer's rows and
/// keeps its selection; the kept rows wait in host memory (the compressed cache's size) until
/// the cache is laid out for them. Llama architecture only (llama.cpp's layer ranges).
// Each layer's passes index its slots, sources and kept rows alike.
#[allow(clippy::needless_range_loop)]
pub fn prefill_layerwise(session: &mut Session<'_>, input: Inputs<'_>, opts: &CompressOptions, progress: &mut Progress<'_>) -> Result<CompressStats> {
    let Inputs { prefix, doc, copy_intro, query } = input;
    let layout = CacheLayout::of(&session.model.info)?;
    if layout.window || opts.budget_mode == BudgetMode::GlobalMasked {
        return Err(Error::Usage("layer-by-layer prefill needs a model without sliding-window layers and `global` or `uniform` budgets".into()));
    }
    let method = opts.method.method();
    let (n_layer, n_head_kv) = (session.model.info.n_layer, session.model.info.n_head_kv);
    let full = [prefix, doc].concat();
    let copy = [copy_intro, doc].concat();
    let n_total = full.len();
    let pos = n_total as i32;
    let budget = ((opts.ratio * n_total as f64).ceil() as usize).clamp(prefix.len().max(1), n_total);
    let tail = session.n_ctx().saturating_sub(budget);
    let mut stats = CompressStats { cells_full: n_total, compressed_layers: layout.layers.clone(), steps: 1, ..Default::default() };
    let all: Vec<i32> = (0..pos).collect();
    let mut slots: Vec<LayerSlots> = (0..n_layer)
        .map(|_| {
            let mut s = LayerSlots::new(n_head_kv);
            s.append(&all);
            s
        })
        .collect();
    // One layer holds the document and, after it, the longest pass; the others hold nothing.
    let only = |l: usize, n: usize| -> Vec<usize> { (0..n_layer).map(|i| if i == l { n } else { 0 }).collect() };
    let none = vec![0; n_layer];
    // Pass 1 holds the document and the longest scoring pass (pass 2 the document alone) in
    // one layer; a layer that stores nothing still has one row (see the patch).
    let n_pass = n_total + if method.needs_scores() { copy.len().max(query.map_or(0, <[LlamaToken]>::len)) } else { 0 };
    stats.alloc_cells_peak = n_pass + n_layer - 1;

    if method.needs_scores() {
        let t0 = Instant::now();
        let (mut h_doc, mut h_copy, mut h_query) = (Vec::new(), Vec::new(), Vec::new());
        for l in 0..n_layer {
            session.set_layer_tails(n_pass, &none, &only(l, n_pass))?;
            h_doc = session.decode_layers(layer_input(l, &full, &h_doc), 0, l, l + 1)?;
            let scope = PassScope { skip: copy_intro.len(), excluded: Vec::new() };
            let (m, h) = session.score_layer(layer_input(l, &copy, &h_copy), scope, pos, l, n_total)?;
            absorb(&mut slots[l], &m, n_head_kv, opts);
            h_copy = h;
            if let Some(q) = query {
                session.truncate(pos)?;
                let (m, h) = session.score_layer(layer_input(l, q, &h_query), PassScope::default(), pos, l, n_total)?;
                absorb(&mut slots[l], &m, n_head_kv, opts);
                h_query = h;
            }
            progress("scoring layers", l + 1, 2 * n_layer);
        }
        stats.t_score_ms = ms(t0);
    }

    let t0 = Instant::now();
    stats.layer_budgets_global = global_budgets(&slots, budget, prefix.len(), opts);
    let sources = select_layers(&slots, budget, &stats.layer_budgets_global, prefix.len(), opts.budget_mode, method.as_ref());
    slots = slots.iter().zip(&sources).map(|(s, src)| s.gather(src)).collect();
    stats.t_compress_ms += ms(t0);

    // Pass 2: each layer's rows again, its selection kept aside.
    let t0 = Instant::now();
    let mut kept: Vec<LayerKv> = Vec::with_capacity(n_layer);
    let mut header = None;
    let mut h_doc = Vec::new();
    for l in 0..n_layer {
        session.set_layer_tails(n_total, &none, &only(l, n_total))?;
        h_doc = session.decode_layers(layer_input(l, &full, &h_doc), 0, l, l + 1)?;
        let t1 = Instant::now();
        let mut state = session.state_bytes()?;
        let keep: Vec<Vec<Vec<usize>>> = (0..n_layer).map(|i| if i == l { sources[l].clone() } else { vec![Vec::new(); n_head_kv] }).collect();
        let n_keep = sources[l].first().map_or(0, Vec::len);
        cache::compose(&mut state, layout.n_blocks, layout.block, &Selection { positions: (0..n_keep as i32).collect(), sources: keep }, n_head_kv)?;
        let mut seq = SeqState::decode(&state, layout.n_blocks)?;
        let data = seq.caches.swap_remove(layout.block).data.ok_or_else(|| Error::StateFormat("empty KV cache after a layer pass".into()))?;
        header.get_or_insert((seq.seq_id, data.v_trans, data.n_rot_k, data.n_rot_v));
        kept.push(data.layers.into_iter().nth(l).ok_or_else(|| Error::StateFormat(format!("no layer {l} in the state")))?);
        stats.t_compress_ms += ms(t1);
        let scored = if method.needs_scores() { n_layer } else { 0 };
        progress("reading layers", scored + l + 1, scored + n_layer);
    }
    stats.t_prefill_ms = ms(t0) - stats.t_compress_ms;

    // The cache laid out for the kept cells (per layer, or the stock layout for uniform
    // budgets), then the composite cells written into it.
    let t0 = Instant::now();
    let (seq_id, v_trans, n_rot_k, n_rot_v) = header.ok_or_else(|| Error::Llama("a model without layers".into()))?;
    let positions = slot_positions(&slots, pos);
    let rows_counted = kept.iter().any(|l| l.rows != positions.len());
    let state = SeqState {
        seq_id,
        caches: vec![CacheState {
            seq_ids: vec![vec![seq_id]; positions.len()],
            positions,
            data: Some(CacheData { v_trans, rows_counted, n_rot_k, n_rot_v, layers: kept }),
        }],
    };
    match opts.budget_mode {
        BudgetMode::Global => session.set_layer_cells(tail, &slots.iter().map(LayerSlots::n_slots).collect::<Vec<_>>())?,
        _ => session.set_layer_cells(session.n_ctx(), &none)?,
    }
    session.write_state(&state.encode())?;
    if session.pos_max() != pos - 1 {
        return Err(Error::Llama(format!("after rewrite the cache ends at position {}, expected {}", session.pos_max(), pos - 1)));
    }
    stats.t_compress_ms += ms(t0);
    stats.layer_cells = slots.iter().map(LayerSlots::n_slots).collect();
    stats.cells_kept = stats.layer_cells.iter().sum::<usize>().div_ceil(n_layer.max(1));
    stats.origins = slots.into_iter().map(|s| s.origin).collect();
    Ok(stats)
}

/// A layer's input: the tokens for the first layer, else the hidden states the layer below left.
fn layer_input<'a>(l: usize, tokens: &'a [LlamaToken], hidden: &'a [f32]) -> LayerInput<'a> {
    if l == 0 {
        LayerInput::Tokens(tokens)
    } else {
        LayerInput::Hidden(hidden)
    }
}

fn absorb(slots: &mut LayerSlots, m: &HeadCellMax, n_head_kv: usize, opts: &CompressOptions) {
    let heads: Vec<&[f32]> = (0..m.n_head).map(|h| m.head(h)).collect();
    slots.absorb(&kv_head_scores(&heads, n_head_kv, opts.scores));
}
