//! Scored documents: the whole document read and scored once, every compression of it made on
//! the host from its state (the benchmark's fast loop).

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::{
    absorb, budget_cells, choose, keep_as, layer_floor, ms, BudgetMode, CompressOptions, CompressStats, CompressedLayers, Progress, Scorer, Store, LEAD_IN,
};
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

/// KVzip's scoring chunk, in document tokens.
pub const KVZIP_CHUNK: usize = 2048;
/// The chunk of `Scorer::Chunks`, whose copies see only their own chunk: KVzip's. Copies of
/// 1k-token chunks lost more of the fidelity suite's answers (`docs/results/2026-12-06-copies-alone`).
pub const ALONE_CHUNK: usize = 2048;

/// The copies that score `doc` with `scorer`: `repeat` (the repeat turn) leads in the whole
/// copy or the first chunk's, `part` (KVzip's request to repeat a part) each later chunk's,
/// followed by the previous chunk's last [`LEAD_IN`] tokens.
pub fn scoring_copies(scorer: Scorer, doc: &[LlamaToken], repeat: &[LlamaToken], part: &[LlamaToken]) -> Vec<ScoringCopy> {
    let n = doc.len();
    let chunked = |len: usize, local: bool, alone: bool| -> Vec<ScoringCopy> {
        (0..n)
            .step_by(len)
            .map(|at| {
                let intro = match at {
                    0 => repeat.to_vec(),
                    _ => [part, &doc[at - LEAD_IN.min(at)..at]].concat(),
                };
                ScoringCopy { intro, doc: at..(at + len).min(n), local, alone }
            })
            .collect()
    };
    let whole = |intro: &[LlamaToken]| vec![ScoringCopy { intro: intro.to_vec(), doc: 0..n, local: false, alone: false }];
    match scorer {
        // `Auto` is resolved before ([`Scorer::resolve`]); unresolved, it is the whole copy.
        Scorer::Auto | Scorer::Repeat => whole(repeat),
        Scorer::Refeed => whole(&[]),
        Scorer::Kvzip => chunked(KVZIP_CHUNK, true, false),
        Scorer::Chunks => chunked(ALONE_CHUNK, false, true),
    }
}

impl ScoringCopy {
    /// Tokens decoded: the intro and the copy's part of the document.
    pub fn n_tokens(&self) -> usize {
        self.intro.len() + self.doc.len()
    }

    /// The tokens decoded: the intro, then the copy's part of `doc`.
    pub fn tokens(&self, doc: &[LlamaToken]) -> Vec<LlamaToken> {
        [&self.intro[..], &doc[self.doc.clone()]].concat()
    }

    /// What the copy's pass scores, in a cache of `n_prefix` prefix cells and `n_total` in all:
    /// its document tokens, attending to every cell or (local) to the prefix and its own part.
    pub fn scope(&self, n_prefix: usize, n_total: usize) -> PassScope {
        let (start, end) = (n_prefix + self.doc.start, n_prefix + self.doc.end);
        let excluded = if self.local { vec![n_prefix..start, end..n_total] } else { Vec::new() };
        PassScope { skip: self.intro.len(), excluded }
    }

    /// Readies the session for the copy's pass and returns the position it starts at: after the
    /// document, or, alone, after its own part, in a sequence that shares only the prefix's and
    /// that part's cells (llama.cpp wants a sequence's positions consecutive; the copy then
    /// reads as if the document were its part).
    pub fn begin(&self, session: &mut Session<'_>, n_prefix: usize, n_total: usize) -> Result<i32> {
        if !self.alone {
            return Ok(n_total as i32);
        }
        let (start, end) = ((n_prefix + self.doc.start) as i32, (n_prefix + self.doc.end) as i32);
        session.share_with_copy(&[0..n_prefix as i32, start..end])?;
        Ok(end)
    }

    /// Removes what the copy's pass added to a cache of `n_total` cells.
    pub fn end(&self, session: &mut Session<'_>, n_total: usize) -> Result<()> {
        match self.alone {
            true => session.drop_copy(),
            false => session.truncate(n_total as i32),
        }
    }
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
    let n_cells = vec![full.len(); layout.layers.len()];
    let mut maxima: Vec<HeadCellMax> = Vec::new();
    for (i, c) in copies.iter().enumerate() {
        let at = c.begin(session, prefix.len(), full.len())?;
        let mut m = session.score_pass(&c.tokens(doc), c.scope(prefix.len(), full.len()), at, &layout.layers, &n_cells)?;
        c.end(session, full.len())?;
        let m: Vec<HeadCellMax> = layout.layers.iter().map(|&l| m[l].take().expect("scored layer")).collect();
        if maxima.is_empty() {
            maxima = m;
        } else {
            maxima.iter_mut().zip(&m).for_each(|(acc, new)| acc.raise(new));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_copies_cover_the_document_once_each_led_in_by_the_chunk_before() {
        let doc: Vec<LlamaToken> = (0..5000).map(LlamaToken::new).collect();
        let (repeat, part) = ([LlamaToken::new(-1)], [LlamaToken::new(-2), LlamaToken::new(-3)]);
        let copies = scoring_copies(Scorer::Chunks, &doc, &repeat, &part);
        let parts: Vec<_> = copies.iter().map(|c| c.doc.clone()).collect();
        assert_eq!(parts, [0..ALONE_CHUNK, ALONE_CHUNK..2 * ALONE_CHUNK, 2 * ALONE_CHUNK..5000]);
        assert!(copies.iter().all(|c| c.alone && !c.local));
        assert_eq!(copies[0].intro, repeat);
        let lead: Vec<LlamaToken> = (ALONE_CHUNK - LEAD_IN..ALONE_CHUNK).map(|t| LlamaToken::new(t as i32)).collect();
        assert_eq!(copies[1].intro, [&part[..], &lead].concat());
        assert_eq!(copies[1].tokens(&doc).len(), part.len() + LEAD_IN + ALONE_CHUNK);
        // KVzip's copies see the whole document but score locally; the repeat scorer is one copy.
        assert!(scoring_copies(Scorer::Kvzip, &doc, &repeat, &part).iter().all(|c| c.local && !c.alone));
        let whole = scoring_copies(Scorer::Repeat, &doc, &repeat, &part);
        assert_eq!((whole.len(), whole[0].doc.clone(), whole[0].intro.clone()), (1, 0..5000, repeat.to_vec()));
        assert!(scoring_copies(Scorer::Refeed, &doc, &repeat, &part)[0].intro.is_empty());
        // A local copy's scope leaves the other chunks out, the prefix in.
        let scope = scoring_copies(Scorer::Kvzip, &doc, &repeat, &part)[1].scope(10, 5010);
        assert_eq!(scope.excluded, [10..10 + KVZIP_CHUNK, 10 + 2 * KVZIP_CHUNK..5010]);
    }
}
