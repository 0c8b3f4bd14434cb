//! The layer-by-layer prefill: every layer reads the whole document and is compressed once, as
//! after a whole prefill, while the cache holds one layer's document at a time (llama.cpp's
//! layer ranges, kvcompose's patch: the llama and gemma3 architectures).

use std::collections::HashMap;
use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::choice::{self, budget_bounds, choose_with};
use super::{absorb, install, keep_as, ms, per_model_layer, BudgetMode, CompressOptions, CompressStats, CompressedLayers, Inputs, Plan, Progress, ScoringCopy};
use crate::compress::select::slot_positions;
use crate::compress::LayerSlots;
use crate::error::{Error, Result};
use crate::llama::callback::{HeadCellMax, PassScope};
use crate::llama::state::{CacheData, CacheState, DataLayout, LayerKv, Layout, SeqState};
use crate::llama::{cache, LayerInput, Session};

/// Prefills the prefix and document one layer at a time and compresses once, as the reference
/// does after a whole prefill, but with memory that follows the budget. Each layer reads the
/// hidden states of the layer below for the document and its scoring copy, and only that
/// layer's cache holds them, so the scores and the K/V rows are exactly a whole prefill's while
/// the cache holds one full layer (with the copy) at a time.
///
/// One pass over the layers. The global allocation needs every layer's scores, but adding layers
/// to one top-k only takes cells away from those already read ([`budget_bounds`]); so each layer,
/// once read, keeps the rows of each head's best tokens up to its bound, and the layers read
/// before it are cut to their new bounds. Selections are nested ([`crate::compress::Method`]),
/// so the final choice among these candidates is the choice among all tokens, and the candidates
/// in host memory (`host_cells_peak`) never exceed the compressed cache's cells.
///
/// On a sliding-window model (gemma3) the window layers are read the same way through their own
/// cache, which slides as stock's does; each keeps the document's last window, as after a stock
/// prefill, and only the global layers are scored and compressed.
pub fn prefill_layers(session: &mut Session<'_>, input: Inputs<'_>, opts: &CompressOptions, plan: &Plan, progress: &mut Progress<'_>) -> Result<CompressStats> {
    let Inputs { prefix, doc, copies, query, words, .. } = input;
    let layout = CompressedLayers::of(&session.model.info)?;
    // `Plan::new` resolved `Layers` only for models and options that it fits.
    debug_assert!(opts.budget_mode != BudgetMode::GlobalMasked);
    let method = opts.method.method();
    let (n_layer, n_head_kv) = (session.model.info.n_layer, session.model.info.n_head_kv);
    let full = [prefix, doc].concat();
    let copy_tokens: Vec<Vec<LlamaToken>> = copies.iter().map(|c| c.tokens(doc)).collect();
    let n_total = full.len();
    let pos = n_total as i32;
    let mut stats = CompressStats { cells_full: n_total, compressed_layers: layout.layers.clone(), steps: 1, ..Default::default() };
    let all: Vec<i32> = (0..pos).collect();
    // One layer holds the document and, after it, the longest scoring pass; the others hold
    // nothing (a layer that stores nothing still has one row, see the patch).
    let only = |l: usize, n: usize| -> Vec<usize> { (0..n_layer).map(|i| if i == l { n } else { 0 }).collect() };
    let none = vec![0; n_layer];
    let longest = copies.iter().map(ScoringCopy::n_tokens).max().unwrap_or(0);
    let n_pass = n_total + if method.needs_scores() { longest.max(query.map_or(0, <[LlamaToken]>::len)) } else { 0 };
    // At most: one layer holding the passes, a row in each other global layer, the window cache.
    let window_cells: usize = (0..n_layer).filter(|l| !layout.layers.contains(l)).map(|l| session.layer_cells(l)).sum();
    // Or the context's own cache, allocated before the first pass.
    let context_cells: usize = (0..n_layer).map(|l| session.layer_cells(l)).sum();
    stats.alloc_cells_peak = (n_pass + layout.layers.len() - 1 + window_cells).max(context_cells);

    let (mut h_doc, mut h_query) = (Vec::new(), Vec::new());
    // Each copy's hidden states, from one layer to the next.
    let mut h_copies: Vec<Vec<f32>> = vec![Vec::new(); copies.len()];
    let n_comp = layout.layers.len();
    // Per compressed layer read: its composite scores (all its tokens), each head's candidate
    // slots and their K/V rows.
    let mut composite: Vec<Vec<f32>> = Vec::with_capacity(n_comp);
    let mut candidates: Vec<LayerSlots> = Vec::with_capacity(n_comp);
    let mut kept: Vec<LayerKv> = Vec::with_capacity(n_comp);
    let mut kept_types = None;
    // The sequence id and row layout every layer shares, from the first layer read.
    let mut format: Option<(i32, DataFormat)> = None;
    let mut window = WindowRows::default();
    for l in 0..n_layer {
        let t0 = Instant::now();
        if layout.window {
            // The window cache still holds the layer below's document.
            session.truncate(0)?;
        }
        let Some(c) = layout.layers.iter().position(|&g| g == l) else {
            // A window layer: its cache slides over the document as stock's does, and keeps
            // its last window; the copy passes through it only to reach the global layers above.
            // (The global layers' cells still count the passes' positions, none of them stored.)
            session.set_layer_tails(n_pass, &none, &none)?;
            h_doc = session.decode_layers(layer_input(l, &full, std::mem::take(&mut h_doc)), 0, l, l + 1)?;
            window.read(session, &layout, l)?;
            stats.t_prefill_ms += ms(t0);
            let t0 = Instant::now();
            if method.needs_scores() && layout.layers.iter().any(|&g| g > l) {
                for ((c, tokens), h) in copies.iter().zip(&copy_tokens).zip(&mut h_copies) {
                    let at = c.begin(session, prefix.len(), n_total)?;
                    *h = session.decode_layers(layer_input(l, tokens, std::mem::take(h)), at, l, l + 1)?;
                    c.end(session, n_total)?;
                }
                if let Some(q) = query {
                    h_query = session.decode_layers(layer_input(l, q, std::mem::take(&mut h_query)), pos, l, l + 1)?;
                    session.truncate(pos)?;
                }
            }
            stats.t_score_ms += ms(t0);
            progress("reading layers", l + 1, n_layer);
            continue;
        };
        session.set_layer_tails(n_pass, &none, &only(l, n_pass))?;
        h_doc = session.decode_layers(layer_input(l, &full, std::mem::take(&mut h_doc)), 0, l, l + 1)?;
        stats.t_prefill_ms += ms(t0);
        let t0 = Instant::now();
        let mut slots = LayerSlots::new(n_head_kv);
        slots.append(&all);
        if method.needs_scores() {
            // A cell's score is its max over the copies, aggregated once, as a scored document's.
            let mut maxima: Option<HeadCellMax> = None;
            for ((c, tokens), h) in copies.iter().zip(&copy_tokens).zip(&mut h_copies) {
                let at = c.begin(session, prefix.len(), n_total)?;
                let (m, hidden) = session.score_layer(layer_input(l, tokens, std::mem::take(h)), c.scope(prefix.len(), n_total), at, l, n_total)?;
                c.end(session, n_total)?;
                *h = hidden;
                match &mut maxima {
                    Some(acc) => acc.raise(&m),
                    None => maxima = Some(m),
                }
            }
            if let Some(m) = maxima {
                absorb(&mut slots, &m, n_head_kv, opts, words);
            }
            if let Some(q) = query {
                let (m, h) = session.score_layer(layer_input(l, q, std::mem::take(&mut h_query)), PassScope::default(), pos, l, n_total)?;
                absorb(&mut slots, &m, n_head_kv, opts, words);
                h_query = h;
                session.truncate(pos)?;
            }
        }
        stats.t_score_ms += ms(t0);

        let t0 = Instant::now();
        composite.push(choice::composite(&slots, opts));
        let bounds = budget_bounds(&composite, n_comp, plan.budget, prefix.len(), opts);
        // The layers read before this one, cut to their new bounds.
        for j in 0..c {
            if bounds[j] < candidates[j].n_slots() {
                let sel = method.select(&candidates[j], bounds[j], prefix.len());
                kept[j] = cache::gather_layer(&kept[j], &sel, format.is_some_and(|f| f.1.v_trans))?;
                candidates[j] = candidates[j].gather(&sel);
            }
        }
        // This layer's candidates, their rows read while the cache holds the layer.
        let sources = method.select(&slots, bounds[c], prefix.len());
        // Only this layer's rows are copied out of the state: the others hold nothing of it.
        let bytes = session.state_bytes()?;
        let state = Layout::parse(&bytes, layout.n_blocks)?;
        let data = state.caches[layout.block].data.as_ref().ok_or_else(|| Error::StateFormat("empty KV cache after a layer pass".into()))?;
        let rows = data.layers.get(c).ok_or_else(|| Error::StateFormat(format!("no layer {l} in the state")))?;
        // Converted now rather than at the end: the candidates wait on the host in the bytes
        // of the type they are kept in (the same types for every layer).
        let mut layer = cache::gather_layer(&rows.copy_from(&bytes), &sources, data.v_trans)?;
        kept_types = keep_as(&mut layer, data.v_trans, plan.store)?;
        kept.push(layer);
        format.get_or_insert((state.seq_id, DataFormat::of(data)));
        candidates.push(slots.gather(&sources));
        stats.host_cells_peak = stats.host_cells_peak.max(candidates.iter().map(LayerSlots::n_slots).sum());
        stats.t_compress_ms += ms(t0);
        progress("reading layers", l + 1, n_layer);
    }

    // The allocation among the candidates, their rows composed into the kept cells, and the
    // cache laid out for them (per layer, or the stock layout for uniform budgets).
    let t0 = Instant::now();
    let choice = choose_with(&candidates, &composite, plan.budget, prefix.len(), opts);
    let slots: Vec<LayerSlots> = candidates.iter().zip(&choice.sources).map(|(s, src)| s.gather(src)).collect();
    let (seq_id, mut fmt) = format.ok_or_else(|| Error::UnsupportedArch("a model without layers".into()))?;
    for (layer, src) in kept.iter_mut().zip(&choice.sources) {
        *layer = cache::gather_layer(layer, src, fmt.v_trans)?;
    }
    stats.layer_cells = choice.layer_cells();
    let positions = slot_positions(&slots, pos);
    fmt.rows_counted = stats.layer_cells.iter().any(|&n| n != positions.len());
    let data = fmt.with(kept);
    let mut caches = vec![CacheState { seq_ids: vec![vec![seq_id]; positions.len()], positions, data: Some(data) }];
    if layout.window {
        caches.push(window.into_state(seq_id)?);
        // Both caches are written whole: none may keep a cell of the last pass.
        session.truncate(0)?;
    }
    let state = SeqState { seq_id, caches };
    let cells = match opts.budget_mode {
        BudgetMode::Global => (plan.tail(session), per_model_layer(n_layer, &layout.layers, stats.layer_cells.iter().copied(), 0)),
        // The stock layout: the kept cells and the tail in every layer.
        _ => (plan.budget + plan.tail(session), none),
    };
    install(session, &state.encode(), Some((cells.0, &cells.1)), kept_types, pos)?;
    stats.t_compress_ms += ms(t0);
    stats.store = plan.store;
    stats.layer_budgets_global = choice.budgets;
    stats.mean_layer_cells = stats.layer_cells.iter().sum::<usize>().div_ceil(layout.layers.len().max(1));
    stats.origins = slots.into_iter().map(|s| s.origin).collect();
    Ok(stats)
}

/// A layer's input: the tokens for the first layer, else the hidden states the layer below left.
fn layer_input(l: usize, tokens: &[LlamaToken], hidden: Vec<f32>) -> LayerInput<'_> {
    if l == 0 {
        LayerInput::Tokens(tokens)
    } else {
        LayerInput::Hidden(hidden)
    }
}

/// The window layers' cache as each window layer left it after the document: the same cells
/// (the document's last window, in stock's cell order) with each layer's own rows.
#[derive(Default)]
struct WindowRows {
    /// The window cache's cell positions and row format, as the first window layer left them.
    cells: Option<(Vec<i32>, DataFormat)>,
    /// Each window layer's rows (by its index in the window cache), once read.
    layers: Vec<Option<LayerKv>>,
}

/// How a cache's rows are laid out in the state (`CacheData` without its rows), for both
/// caches the load writes back.
#[derive(Clone, Copy)]
struct DataFormat {
    v_trans: bool,
    rows_counted: bool,
    n_rot_k: u32,
    n_rot_v: u32,
}

impl DataFormat {
    fn of(d: &DataLayout) -> DataFormat {
        DataFormat { v_trans: d.v_trans, rows_counted: d.rows_counted, n_rot_k: d.n_rot_k, n_rot_v: d.n_rot_v }
    }

    fn with(self, layers: Vec<LayerKv>) -> CacheData {
        CacheData { v_trans: self.v_trans, rows_counted: self.rows_counted, n_rot_k: self.n_rot_k, n_rot_v: self.n_rot_v, layers }
    }
}

impl WindowRows {
    /// Takes window layer `l`'s rows from the window cache, which has just read the document
    /// through `l` alone; only that layer's rows are copied out of the state.
    fn read(&mut self, session: &Session<'_>, layout: &CompressedLayers, l: usize) -> Result<()> {
        let bytes = session.state_bytes()?;
        let state = Layout::parse(&bytes, layout.n_blocks)?;
        let w = state.caches.last().filter(|_| layout.n_blocks == 2).ok_or_else(|| Error::StateFormat("no window cache in the state".into()))?;
        let data = w.data.as_ref().ok_or_else(|| Error::StateFormat("empty window cache after a layer pass".into()))?;
        // Window layers in model order, as the window cache stores them.
        let i = (0..l).filter(|x| !layout.layers.contains(x)).count();
        let rows = data.layers.get(i).ok_or_else(|| Error::StateFormat(format!("no window layer {l} in the state")))?.copy_from(&bytes);
        let Some((positions, _)) = &self.cells else {
            self.cells = Some((w.positions.clone(), DataFormat::of(data)));
            self.layers = vec![None; data.layers.len()];
            self.layers[i] = Some(rows);
            return Ok(());
        };
        // Every window layer reads the same ubatches into the same emptied cache, so its cells
        // hold the same positions; their order is matched rather than assumed.
        let at: HashMap<i32, usize> = w.positions.iter().enumerate().map(|(c, &p)| (p, c)).collect();
        let order: Option<Vec<usize>> = positions.iter().map(|p| at.get(p).copied()).collect();
        let order = order
            .filter(|o| o.len() == w.positions.len())
            .ok_or_else(|| Error::StateFormat(format!("window layer {l} holds other positions than the first window layer")))?;
        let n_head = session.model.info.n_head_kv;
        let slot = self.layers.get_mut(i).ok_or_else(|| Error::StateFormat("window layers differ in number".into()))?;
        *slot = Some(cache::gather_layer(&rows, &vec![order; n_head], data.v_trans)?);
        Ok(())
    }

    fn into_state(self, seq_id: i32) -> Result<CacheState> {
        let layers: Option<Vec<LayerKv>> = self.layers.into_iter().collect();
        match (self.cells, layers) {
            (Some((positions, f)), Some(layers)) => Ok(CacheState { seq_ids: vec![vec![seq_id]; positions.len()], positions, data: Some(f.with(layers)) }),
            _ => Err(Error::StateFormat("a window layer was not read".into())),
        }
    }
}
