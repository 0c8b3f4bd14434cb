//! The streaming prefill: the document chunk by chunk, the cache compressed after each, so later
//! chunks read the compressed cache. Any model (sliding-window ones included).

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::{absorb, choose, install, ms, per_model_layer, BudgetMode, CompressOptions, CompressStats, CompressedLayers, Inputs, Plan, Progress, LEAD_IN};
use crate::compress::select::slot_positions;
use crate::compress::{LayerSlots, Selection};
use crate::error::Result;
use crate::llama::callback::{LiveSlots, PassScope};
use crate::llama::{cache, Session};

/// Prefills `prefix` (kept whole) then `doc`, compressing to `plan.budget` cells per layer as it
/// goes. Afterwards the cache holds the composite cells, the last at position `prefix + doc - 1`.
pub fn prefill_chunks(session: &mut Session<'_>, input: Inputs<'_>, opts: &CompressOptions, plan: &Plan, progress: &mut Progress<'_>) -> Result<CompressStats> {
    let Inputs { prefix, doc, copy_intro, query, words, .. } = input;
    let layout = CompressedLayers::of(&session.model.info)?;
    let needs_scores = opts.method.method().needs_scores();
    let (n_layer, n_head_kv) = (session.model.info.n_layer, session.model.info.n_head_kv);
    let n_total = prefix.len() + doc.len();
    let mut stats = CompressStats { cells_full: n_total, compressed_layers: layout.layers.clone(), ..Default::default() };

    let mut slots: Vec<LayerSlots> = layout.layers.iter().map(|_| LayerSlots::new(n_head_kv)).collect();
    let mut pos = 0;
    let n_chunks = doc.len().div_ceil(plan.chunk);
    for (i, chunk) in doc.chunks(plan.chunk).enumerate() {
        // The prefix goes with the first chunk, in one decode as stock llama.cpp would.
        let fed: Vec<LlamaToken> = if i == 0 { [prefix, chunk].concat() } else { chunk.to_vec() };
        let t0 = Instant::now();
        session.decode(&fed, pos, false)?;
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
        let at = i * plan.chunk;
        let (lead, excluded) = match opts.local && i > 0 {
            true => (&doc[at.saturating_sub(LEAD_IN)..at], std::iter::once(prefix.len()..n_cells[0] - chunk.len()).collect()),
            false => (&doc[..0], Vec::new()),
        };
        let copy = [copy_intro, lead, chunk].concat();
        let mut passes = vec![(copy.as_slice(), PassScope { skip: copy_intro.len() + lead.len(), excluded })];
        passes.extend(query.map(|q| (q, PassScope::default())));
        // Baselines that read no scores skip the passes. `Plan::new` checked that each pass fits
        // one ubatch on sliding-window models.
        for (tokens, scope) in passes.into_iter().filter(|_| needs_scores) {
            let maxima = session.score_pass(tokens, scope, pos, &layout.layers, &n_cells)?;
            session.truncate(pos)?;
            for (s, &l) in slots.iter_mut().zip(&layout.layers) {
                absorb(s, maxima[l].as_ref().expect("scored layer"), n_head_kv, opts, words);
            }
        }
        stats.t_score_ms += ms(t0);

        // At equality the rewrite keeps everything: ratio 1.0 goes through the same path.
        if n_cells.iter().sum::<usize>() >= plan.budget * slots.len() {
            let t0 = Instant::now();
            let choice = choose(&slots, plan.budget, prefix.len(), opts);
            let layer_cells = choice.layer_cells();
            slots = slots.iter().zip(&choice.sources).map(|(s, src)| s.gather(src)).collect();
            if opts.budget_mode == BudgetMode::GlobalMasked {
                // Each layer attends to its own budget's cells; the padding holds no token for its
                // layer: masked, never kept, never scored.
                let live = choice.budgets.iter().zip(&layer_cells).map(|(&b, &slots)| Some(LiveSlots { live: vec![b; n_head_kv], slots }));
                session.set_live_slots(per_model_layer(n_layer, &layout.layers, live, None))?;
                for (s, &b) in slots.iter_mut().zip(&choice.budgets) {
                    s.clear_from(b);
                }
            }
            let sel = Selection { positions: slot_positions(&slots, pos), sources: choice.sources };
            let mut state = session.state_bytes()?;
            cache::compose(&mut state, layout.n_blocks, layout.block, &sel, n_head_kv)?;
            let cells = per_model_layer(n_layer, &layout.layers, layer_cells.iter().copied(), 0);
            let sizes = (opts.budget_mode == BudgetMode::Global).then_some((plan.tail(session), cells.as_slice()));
            install(session, &state, sizes, None, pos)?;
            stats.layer_budgets_global = choice.budgets;
            stats.steps += 1;
            stats.t_compress_ms += ms(t0);
        }
        progress("reading chunks", i + 1, n_chunks);
    }
    stats.layer_cells = slots.iter().map(LayerSlots::n_slots).collect();
    stats.mean_layer_cells = stats.layer_cells.iter().sum::<usize>().div_ceil(slots.len().max(1));
    if stats.steps == 0 {
        stats.layer_budgets_global = stats.layer_cells.clone();
    }
    stats.origins = slots.into_iter().map(|s| s.origin).collect();
    Ok(stats)
}
