//! Scored documents: the whole document read and scored once, every compression of it made on
//! the host from its state (the benchmark's fast loop).

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::{absorb, budget_cells, choose, keep_as, layer_floor, ms, BudgetMode, CompressOptions, CompressStats, CompressedLayers, Progress, Store};
use crate::compress::select::slot_positions;
use crate::compress::{LayerSlots, Selection};
use crate::error::{Error, Result};
use crate::llama::callback::{HeadCellMax, PassScope};
use crate::llama::state::{Layout, SeqState};
use crate::llama::{cache, KvType, ModelInfo, Session};

/// A whole document in the cache with every cell scored: what a compression needs, whatever its
/// ratio, method, layer budgets or score aggregation, so the benchmark reads and scores a case
/// once and tries each setting on the host.
#[derive(Debug, Clone)]
pub struct ScoredDocument {
    /// Sequence state of the whole cache: prefix and document.
    pub state: Vec<u8>,
    /// Per compressed layer (`CompressedLayers::layers` order): max attention per (query head, cell).
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
    /// The copy sees only the prompt prefix and its own chunk, in its hidden states as in its
    /// softmax (llama.cpp's mask hides the rest), so its attention costs its chunk's length,
    /// not the document's. Needs a session with `copy_seq`.
    pub alone: bool,
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
    let layout = CompressedLayers::of(&session.model.info)?;
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
        // A copy alone follows its chunk: llama.cpp wants a sequence's positions consecutive,
        // and the copy then reads as if the document were its chunk.
        let at = if c.alone {
            session.share_with_copy(&[0..prefix.len() as i32, start as i32..end as i32])?;
            end as i32
        } else {
            pos
        };
        let mut m = session.score_pass(&tokens, PassScope { skip: c.intro.len(), excluded }, at, &layout.layers, &n_cells)?;
        if c.alone {
            session.drop_copy()?;
        } else {
            session.truncate(pos)?;
        }
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
/// makes from `doc`'s scores (`words`: the word of each of its positions), composed from its
/// whole state. Returns the composed state (for a fresh context; per-layer rows with global
/// budgets) and what it holds.
pub fn compress_scored(info: &ModelInfo, doc: &ScoredDocument, words: &[u32], opts: &CompressOptions) -> Result<(Vec<u8>, CompressStats)> {
    let t0 = Instant::now();
    let layout = CompressedLayers::of(info)?;
    let opts = &CompressOptions { layer_floor: Some(layer_floor(opts, info)), ..opts.clone() };
    if opts.budget_mode == BudgetMode::GlobalMasked || opts.local {
        return Err(Error::Usage("a scored document is compressed with uniform, global or per-head budgets, scored whole".into()));
    }

    let parsed = Layout::parse(&doc.state, layout.n_blocks)?;
    let n_total = parsed.caches[layout.block].n_cells();
    let method = opts.method.method();
    let all: Vec<i32> = (0..n_total as i32).collect();
    let mut slots: Vec<LayerSlots> = Vec::with_capacity(layout.layers.len());
    for m in &doc.maxima {
        if m.n_cells != n_total {
            return Err(Error::StateFormat(format!("scores for {} cells, a cache of {n_total}", m.n_cells)));
        }
        let mut s = LayerSlots::new(info.n_head_kv);
        s.append(&all);
        if method.needs_scores() {
            absorb(&mut s, m, info.n_head_kv, opts, words);
        }
        slots.push(s);
    }
    // The ratio counts the cache's bytes, in the types its state holds.
    let Some(l) = parsed.caches[layout.block].data.as_ref().and_then(|d| d.layers.first()) else {
        return Err(Error::StateFormat("a scored document without KV rows".into()));
    };
    let (cache_k, cache_v) = (KvType::from_ggml(l.k_type)?, KvType::from_ggml(l.v_type)?);
    let cells = opts.store.cell_ratio(opts.ratio, info, cache_k, cache_v);
    let choice = choose(&slots, budget_cells(cells, n_total, doc.n_prefix), doc.n_prefix, opts);
    let sources = choice.sources;
    let slots: Vec<LayerSlots> = slots.iter().zip(&sources).map(|(s, src)| s.gather(src)).collect();
    let sel = Selection { positions: slot_positions(&slots, n_total as i32), sources };
    // The window layers' cache (iSWA: the last block) is the whole prefill's, as after a
    // layer-by-layer prefill; `compose` empties it, so it is put back for the fresh context.
    let window = layout.window.then(|| doc.state[parsed.caches[layout.n_blocks - 1].head.start..].to_vec());
    let mut state = doc.state.clone();
    cache::compose(&mut state, layout.n_blocks, layout.block, &sel, info.n_head_kv)?;
    if let Some(window) = window {
        // An emptied block is its stream count (1) and a cell count of 0.
        let empty = state.len() - 8;
        debug_assert_eq!(state[empty..], [1, 0, 0, 0, 0, 0, 0, 0]);
        state.truncate(empty);
        state.extend_from_slice(&window);
    }
    if opts.store != Store::Cache {
        let mut seq = SeqState::decode(&state, layout.n_blocks)?;
        if let Some(data) = seq.caches[layout.block].data.as_mut() {
            for l in &mut data.layers {
                keep_as(l, data.v_trans, opts.store)?;
            }
        }
        state = seq.encode();
    }
    let layer_cells: Vec<usize> = slots.iter().map(LayerSlots::n_slots).collect();
    let stats = CompressStats {
        cells_full: n_total,
        mean_layer_cells: layer_cells.iter().sum::<usize>().div_ceil(layer_cells.len().max(1)),
        steps: 1,
        t_prefill_ms: doc.t_prefill_ms,
        t_score_ms: doc.t_score_ms,
        t_compress_ms: ms(t0),
        layer_budgets_global: choice.budgets,
        alloc_cells_peak: 0,
        host_cells_peak: 0,
        compressed_layers: layout.layers,
        origins: slots.into_iter().map(|s| s.origin).collect(),
        layer_cells,
        head_cells: choice.head_cells,
        store: opts.store,
    };
    Ok((state, stats))
}
