//! KVCompose's global allocation: one top-k over the composite scores of all layers.

use super::Aggregation;

/// Composite score of slot `i` in a layer: the mean (or max) over heads of each head's `i`-th
/// best score.
pub fn composite_scores(head_scores: &[Vec<f32>], agg: Aggregation) -> Vec<f32> {
    let mut sorted: Vec<Vec<f32>> = head_scores.to_vec();
    for s in &mut sorted {
        s.sort_by(|a, b| b.total_cmp(a));
    }
    let n = sorted.first().map_or(0, Vec::len);
    let at = |i: usize| sorted.iter().map(move |s| s[i]);
    match agg {
        Aggregation::Mean => (0..n).map(|i| at(i).sum::<f32>() / sorted.len() as f32).collect(),
        Aggregation::Max => (0..n).map(|i| at(i).fold(f32::MIN, f32::max)).collect(),
    }
}

/// Per-layer budgets from one top-`total` over all layers' composite scores, each layer given at
/// least `floor` slots (capped by its size). Budgets sum to `total` when the layers allow it.
pub fn allocate_global(composite: &[Vec<f32>], total: usize, floor: usize) -> Vec<usize> {
    let mut budgets: Vec<usize> = composite.iter().map(|c| floor.min(c.len())).collect();
    let mut rest = total.saturating_sub(budgets.iter().sum());
    // Candidates beyond each layer's floor, best first; composite scores are sorted descending.
    let mut cand: Vec<(f32, usize)> = composite.iter().enumerate().flat_map(|(l, c)| c.iter().skip(budgets[l]).map(move |&s| (s, l))).collect();
    cand.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, l) in cand {
        if rest == 0 {
            break;
        }
        budgets[l] += 1;
        rest -= 1;
    }
    budgets
}

/// KVzip's allocation: one top-`total` over every (layer, KV head, cell) score, `scores[l][h][c]`,
/// each head keeping at least its first `floor` cells (the prompt prefix). Returns how many cells
/// each head of each layer keeps; heads of one layer may differ.
pub fn allocate_heads(scores: &[Vec<Vec<f32>>], total: usize, floor: usize) -> Vec<Vec<usize>> {
    let mut counts: Vec<Vec<usize>> = scores.iter().map(|l| l.iter().map(|h| floor.min(h.len())).collect()).collect();
    let rest = total.saturating_sub(counts.iter().flatten().sum());
    let mut cand: Vec<(f32, usize, usize)> = Vec::new();
    for (l, layer) in scores.iter().enumerate() {
        for (h, head) in layer.iter().enumerate() {
            cand.extend(head.iter().skip(floor).map(|&s| (s, l, h)));
        }
    }
    // Only the best `rest` matter: a partial sort, then ties broken by layer and head.
    let rest = rest.min(cand.len());
    if rest > 0 && rest < cand.len() {
        cand.select_nth_unstable_by(rest - 1, |a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    }
    for &(_, l, h) in &cand[..rest] {
        counts[l][h] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn informative_layers_get_more() {
        let a = composite_scores(&[vec![0.9, 0.8, 0.1, 0.0], vec![0.7, 0.6, 0.0, 0.0]], Aggregation::Mean);
        let b = composite_scores(&[vec![0.05, 0.02, 0.01, 0.0], vec![0.04, 0.01, 0.0, 0.0]], Aggregation::Mean);
        assert_eq!(allocate_global(&[a.clone(), b.clone()], 4, 0), vec![3, 1]);
        assert_eq!(allocate_global(&[a, b], 4, 2), vec![2, 2]);
        // Max: a layer is as long as its head with the most high scores.
        assert_eq!(composite_scores(&[vec![0.9, 0.0], vec![0.1, 0.8]], Aggregation::Max), vec![0.9, 0.1]);
    }

    #[test]
    fn heads_share_one_threshold_over_all_layers() {
        let scores = vec![vec![vec![1.0, 0.9, 0.8, 0.1], vec![1.0, 0.2, 0.1, 0.0]], vec![vec![1.0, 0.7, 0.05, 0.0], vec![1.0, 0.6, 0.5, 0.4]]];
        // The first cell of every head is kept (floor 1), then the 5 best of the rest.
        assert_eq!(allocate_heads(&scores, 9, 1), vec![vec![3, 1], vec![2, 3]]);
    }

    proptest! {
        #[test]
        fn head_counts_sum_to_total_and_respect_floor(layers in proptest::collection::vec(proptest::collection::vec(proptest::collection::vec(0f32..1.0, 8), 1..4), 1..5), frac in 0.0f64..1.0, floor in 0usize..3) {
            let size: usize = layers.iter().flatten().map(Vec::len).sum();
            let total = (size as f64 * frac) as usize;
            let counts = allocate_heads(&layers, total, floor);
            let floors: usize = layers.iter().flatten().map(|h| floor.min(h.len())).sum();
            prop_assert_eq!(counts.iter().flatten().sum::<usize>(), total.max(floors));
            prop_assert!(counts.iter().flatten().all(|&c| (floor..=8).contains(&c)));
        }

        #[test]
        fn budgets_sum_to_total_and_respect_floor(layers in proptest::collection::vec(proptest::collection::vec(0f32..1.0, 1..20), 1..6), frac in 0.0f64..1.0, floor in 0usize..5) {
            let comp: Vec<Vec<f32>> = layers.iter().map(|l| composite_scores(std::slice::from_ref(l), Aggregation::Mean)).collect();
            let size: usize = comp.iter().map(Vec::len).sum();
            let total = (size as f64 * frac) as usize;
            let b = allocate_global(&comp, total, floor);
            let floors: usize = comp.iter().map(|c| floor.min(c.len())).sum();
            prop_assert_eq!(b.iter().sum::<usize>(), total.max(floors));
            for (bl, c) in b.iter().zip(&comp) {
                prop_assert!(*bl >= floor.min(c.len()) && *bl <= c.len());
            }
        }
    }
}
