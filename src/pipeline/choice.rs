//! The step every compressed path shares, free of llama.cpp: from each layer's scored slots to
//! the cells each layer keeps and the slots each of its heads keeps in them.

use super::{BudgetMode, CompressOptions, DEFAULT_LAYER_FLOOR};
use crate::compress::budget::{allocate_global, allocate_heads, composite_scores};
use crate::compress::select::top_k_per_head;
use crate::compress::LayerSlots;

/// Cells a compressed layer keeps on average: `ratio` of the prefix and document, at least the
/// prefix (and one cell), at most all of them.
pub fn budget_cells(ratio: f64, n_total: usize, n_prefix: usize) -> usize {
    ((ratio * n_total as f64).ceil() as usize).clamp(n_prefix.max(1).min(n_total), n_total)
}

/// What a compression keeps, per compressed layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// KVCompose's global allocation: the cells each layer would keep (what `Global` holds;
    /// `Uniform` holds the budget everywhere, `Heads` each layer's longest head).
    pub budgets: Vec<usize>,
    /// `sources[l][h]`: the slots head `h` of layer `l` keeps, in original-position order, all
    /// heads of a layer padded to the same width with their first slot.
    pub sources: Vec<Vec<Vec<usize>>>,
    /// Per-head budgets (`Heads`): the first `head_cells[l][h]` of layer `l`'s cells are head
    /// `h`'s, the rest its padding; empty for the other modes.
    pub head_cells: Vec<Vec<usize>>,
}

impl Choice {
    /// Cells each layer holds once the selection is applied.
    pub fn layer_cells(&self) -> Vec<usize> {
        self.sources.iter().map(|heads| heads.first().map_or(0, Vec::len)).collect()
    }
}

/// A layer's composite scores, best first: what the global allocation ranks.
pub fn composite(slots: &LayerSlots, opts: &CompressOptions) -> Vec<f32> {
    composite_scores(&slots.score, opts.scores.composite)
}

/// The least each layer keeps under `opts`' budget mode: the protected prefix and, with global
/// budgets, the `--kv-floor` share of the budget.
pub fn floor_cells(budget: usize, protected: usize, opts: &CompressOptions) -> usize {
    match opts.budget_mode {
        BudgetMode::Uniform => 0,
        // Unresolved only where no model is known (pure tests): the full-attention default.
        _ => protected.max((opts.layer_floor.unwrap_or(DEFAULT_LAYER_FLOOR) * budget as f64) as usize),
    }
}

/// KVCompose's global allocation of `budget` cells per layer on average, from each layer's
/// composite scores (`composite[l]`, best first; a layer's leading part suffices where the rest
/// cannot be allocated). Under uniform budgets it is what the global allocation would give.
pub fn layer_budgets(composite: &[Vec<f32>], budget: usize, protected: usize, opts: &CompressOptions) -> Vec<usize> {
    allocation(composite, composite.len(), budget, protected, opts)
}

/// The most cells each of the layers read so far (`composite`, best first, `n_layer` layers in
/// all) can still be allocated: one top-k over more layers' scores only takes cells away.
pub fn budget_bounds(composite: &[Vec<f32>], n_layer: usize, budget: usize, protected: usize, opts: &CompressOptions) -> Vec<usize> {
    match opts.budget_mode {
        BudgetMode::Uniform => vec![budget; composite.len()],
        _ => allocation(composite, n_layer, budget, protected, opts),
    }
}

/// The global allocation of `budget` cells for each of `n_layer` layers over the layers whose
/// composite scores are given.
fn allocation(composite: &[Vec<f32>], n_layer: usize, budget: usize, protected: usize, opts: &CompressOptions) -> Vec<usize> {
    allocate_global(composite, budget * n_layer, floor_cells(budget, protected, opts))
}

/// Chooses, for `budget` cells per layer on average, what every head of every layer keeps
/// (slots holding the first `protected` positions always among them), as `opts`' method and
/// budget mode say.
pub fn choose(slots: &[LayerSlots], budget: usize, protected: usize, opts: &CompressOptions) -> Choice {
    let composite: Vec<Vec<f32>> = slots.iter().map(|s| composite(s, opts)).collect();
    choose_with(slots, &composite, budget, protected, opts)
}

/// [`choose`] with the layers' composite scores given (those of all their tokens, while `slots`
/// may hold only each head's leading candidates, as the layer-by-layer prefill keeps them).
pub fn choose_with(slots: &[LayerSlots], composite: &[Vec<f32>], budget: usize, protected: usize, opts: &CompressOptions) -> Choice {
    let method = opts.method.method();
    if opts.budget_mode == BudgetMode::Heads {
        let n_head_kv = slots.first().map_or(0, |s| s.origin.len());
        let scores: Vec<Vec<Vec<f32>>> = slots.iter().map(|s| s.score.clone()).collect();
        let counts = allocate_heads(&scores, budget * slots.len() * n_head_kv, protected);
        let sources = slots.iter().zip(&counts).map(|(s, c)| select_heads(s, c, protected)).collect();
        let budgets = counts.iter().map(|c| c.iter().copied().max().unwrap_or(0)).collect();
        return Choice { budgets, sources, head_cells: counts };
    }
    let budgets = layer_budgets(composite, budget, protected, opts);
    let widest = budgets.iter().copied().max().unwrap_or(0);
    let sources = slots
        .iter()
        .zip(&budgets)
        .map(|(s, &b)| match opts.budget_mode {
            BudgetMode::Uniform => method.select(s, budget, protected),
            // Every layer as wide as the largest budget: the padding repeats the first slot and
            // each layer's mask hides it.
            BudgetMode::GlobalMasked => {
                let mut heads = method.select(s, b, protected);
                heads.iter_mut().for_each(|h| h.resize(widest, h[0]));
                heads
            }
            _ => method.select(s, b, protected),
        })
        .collect();
    Choice { budgets, sources, head_cells: Vec::new() }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::MethodName;
    use proptest::prelude::*;

    fn opts(mode: BudgetMode, floor: f64) -> CompressOptions {
        CompressOptions {
            ratio: 0.5,
            method: MethodName::Kvcompose,
            chunk: 0,
            prefill: super::super::Prefill::Auto,
            scorer: super::super::Scorer::Repeat,
            scores: Default::default(),
            local: false,
            budget_mode: mode,
            layer_floor: Some(floor),
            store: crate::pipeline::Store::Cache,
        }
    }

    /// Layers of `n_head` heads over cells `0..n`, scored by `score(layer, head, cell)`.
    fn layers(n_layer: usize, n_head: usize, n: usize, mut score: impl FnMut(usize, usize, usize) -> f32) -> Vec<LayerSlots> {
        (0..n_layer)
            .map(|l| LayerSlots {
                origin: vec![(0..n as i32).collect(); n_head],
                score: (0..n_head).map(|h| (0..n).map(|c| score(l, h, c)).collect()).collect(),
            })
            .collect()
    }

    #[test]
    fn the_budget_is_the_ratio_rounded_up_within_the_prefix_and_the_whole() {
        assert_eq!(budget_cells(0.25, 100, 4), 25);
        assert_eq!(budget_cells(0.251, 100, 4), 26);
        assert_eq!(budget_cells(0.01, 100, 4), 4);
        assert_eq!(budget_cells(1.0, 100, 4), 100);
        assert_eq!(budget_cells(0.5, 0, 0), 0);
    }

    #[test]
    fn uniform_budgets_keep_the_budget_in_every_layer_and_global_ones_follow_the_scores() {
        // Layer 1 is sharp (a few high scores), layer 0 flat.
        let s = layers(2, 2, 40, |l, h, c| if l == 1 && (c + h) % 5 == 0 { 1.0 } else { 0.01 * (l * 10 + c % 3) as f32 });
        let uniform = choose(&s, 10, 2, &opts(BudgetMode::Uniform, 0.0));
        assert_eq!(uniform.layer_cells(), vec![10, 10]);
        let global = choose(&s, 10, 2, &opts(BudgetMode::Global, 0.0));
        assert_eq!(global.budgets.iter().sum::<usize>(), 20);
        assert!(global.budgets[1] > global.budgets[0], "{:?}", global.budgets);
        assert_eq!(global.layer_cells(), global.budgets);
        // A floor of a half: no layer under 5 cells.
        let floored = choose(&s, 10, 2, &opts(BudgetMode::Global, 0.5));
        assert!(floored.budgets.iter().all(|&b| b >= 5), "{:?}", floored.budgets);
        // Masked: the same allocation, every layer as wide as the largest.
        let masked = choose(&s, 10, 2, &opts(BudgetMode::GlobalMasked, 0.0));
        assert_eq!(masked.budgets, global.budgets);
        assert_eq!(masked.layer_cells(), vec![global.budgets[1]; 2]);
    }

    proptest! {
        /// Whatever the scores: each head keeps distinct slots in position order, the prefix
        /// among them, and the cells held add up to the budget (uniform and global) or the
        /// per-head counts to the whole (heads).
        #[test]
        fn choices_keep_the_prefix_and_add_up(seed in any::<u64>(), budget in 3usize..30, mode in 0usize..3) {
            let mode = [BudgetMode::Uniform, BudgetMode::Global, BudgetMode::Heads][mode];
            let mut x = seed;
            let s = layers(3, 2, 30, |_, _, _| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (x >> 40) as f32
            });
            let c = choose(&s, budget, 2, &opts(mode, 0.0));
            for (l, heads) in c.sources.iter().enumerate() {
                for (h, kept) in heads.iter().enumerate() {
                    let own = if mode == BudgetMode::Heads { c.head_cells[l][h] } else { kept.len() };
                    let own = &kept[..own];
                    prop_assert!(own.windows(2).all(|w| w[0] < w[1]));
                    prop_assert!(own.starts_with(&[0, 1]));
                }
            }
            match mode {
                BudgetMode::Heads => prop_assert_eq!(c.head_cells.iter().flatten().sum::<usize>(), budget * 3 * 2),
                _ => prop_assert_eq!(c.layer_cells().iter().sum::<usize>(), budget * 3),
            }
        }
    }
}
