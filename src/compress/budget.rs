//! KVCompose's global allocation: one top-k over the composite scores of all layers.

/// Composite score of slot `i` in a layer: the mean over heads of each head's `i`-th best score.
pub fn composite_scores(head_scores: &[Vec<f32>]) -> Vec<f32> {
    let mut sorted: Vec<Vec<f32>> = head_scores.to_vec();
    for s in &mut sorted {
        s.sort_by(|a, b| b.total_cmp(a));
    }
    let n = sorted.first().map_or(0, Vec::len);
    (0..n).map(|i| sorted.iter().map(|s| s[i]).sum::<f32>() / sorted.len() as f32).collect()
}

/// Per-layer budgets from one top-`total` over all layers' composite scores, each layer given at
/// least `floor` slots (capped by its size). Budgets sum to `total` when the layers allow it.
pub fn allocate_global(composite: &[Vec<f32>], total: usize, floor: usize) -> Vec<usize> {
    let mut budgets: Vec<usize> = composite.iter().map(|c| floor.min(c.len())).collect();
    let mut rest = total.saturating_sub(budgets.iter().sum());
    // Candidates beyond each layer's floor, best first; composite scores are sorted descending.
    let mut cand: Vec<(f32, usize)> = composite
        .iter()
        .enumerate()
        .flat_map(|(l, c)| c.iter().skip(budgets[l]).map(move |&s| (s, l)))
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn informative_layers_get_more() {
        let a = composite_scores(&[vec![0.9, 0.8, 0.1, 0.0], vec![0.7, 0.6, 0.0, 0.0]]);
        let b = composite_scores(&[vec![0.05, 0.02, 0.01, 0.0], vec![0.04, 0.01, 0.0, 0.0]]);
        assert_eq!(allocate_global(&[a.clone(), b.clone()], 4, 0), vec![3, 1]);
        assert_eq!(allocate_global(&[a, b], 4, 2), vec![2, 2]);
    }

    proptest! {
        #[test]
        fn budgets_sum_to_total_and_respect_floor(layers in proptest::collection::vec(proptest::collection::vec(0f32..1.0, 1..20), 1..6), frac in 0.0f64..1.0, floor in 0usize..5) {
            let comp: Vec<Vec<f32>> = layers.iter().map(|l| composite_scores(&[l.clone()])).collect();
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
