//! From per-query-head attention maxima to one score per (KV head, cell).

/// How the query heads of a GQA group are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    #[default]
    Mean,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoreOptions {
    /// Combination of the query heads of a GQA group (reference: mean).
    pub group: Aggregation,
    /// Add the mean over KV heads to every head's score (reference: on).
    pub add_head_mean: bool,
    /// Max-pool each head's scores over this many neighbouring cells on each side, so that
    /// the tokens around an important one (the rest of a number, a name) are kept with it.
    pub pool: usize,
    /// Combination of a layer's heads' `i`-th best scores into its composite slot's score, which
    /// the global allocation ranks: the mean (KVCompose), or the max (a layer then gets as many
    /// slots as its head with the most scores above the global threshold).
    #[serde(default)]
    pub composite: Aggregation,
    /// Raise each token's score to the best of its word ([`super::words`]), so that a head
    /// keeps a number or a name whole. Off in results and cache files written before it existed.
    #[serde(default)]
    pub words: bool,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions { group: Aggregation::Mean, add_head_mean: true, pool: 0, composite: Aggregation::Mean, words: true }
    }
}

/// Max over `[i - r, i + r]` for every `i`.
pub fn max_pool(xs: &[f32], r: usize) -> Vec<f32> {
    if r == 0 {
        return xs.to_vec();
    }
    (0..xs.len()).map(|i| xs[i.saturating_sub(r)..(i + r + 1).min(xs.len())].iter().copied().fold(f32::MIN, f32::max)).collect()
}

/// `per_query_head[h][c]` (max attention of query head `h` to cell `c`) to `[g][c]` per KV head.
pub fn kv_head_scores(per_query_head: &[&[f32]], n_head_kv: usize, opts: ScoreOptions) -> Vec<Vec<f32>> {
    let n_head = per_query_head.len();
    assert!(n_head_kv > 0 && n_head % n_head_kv == 0, "{n_head} query heads do not split into {n_head_kv} groups");
    let group = n_head / n_head_kv;
    let n_cells = per_query_head.first().map_or(0, |h| h.len());
    let mut out: Vec<Vec<f32>> = (0..n_head_kv)
        .map(|g| {
            let heads = &per_query_head[g * group..(g + 1) * group];
            (0..n_cells)
                .map(|c| {
                    let vals = heads.iter().map(|h| h[c]);
                    match opts.group {
                        Aggregation::Mean => vals.sum::<f32>() / group as f32,
                        Aggregation::Max => vals.fold(f32::MIN, f32::max),
                    }
                })
                .collect()
        })
        .collect();
    if opts.pool > 0 {
        for head in &mut out {
            *head = max_pool(head, opts.pool);
        }
    }
    if opts.add_head_mean && n_head_kv > 1 {
        let mean: Vec<f32> = (0..n_cells).map(|c| out.iter().map(|h| h[c]).sum::<f32>() / n_head_kv as f32).collect();
        for head in &mut out {
            for (s, m) in head.iter_mut().zip(&mean) {
                *s += m;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_pool_spreads_peaks_to_neighbours() {
        assert_eq!(max_pool(&[0.0, 1.0, 0.0, 0.0, 0.5], 1), vec![1.0, 1.0, 1.0, 0.5, 0.5]);
        assert_eq!(max_pool(&[0.3, 0.1], 0), vec![0.3, 0.1]);
    }

    #[test]
    fn mean_of_group_plus_mean_of_heads() {
        // 4 query heads, 2 KV heads, 2 cells.
        let q: Vec<Vec<f32>> = vec![vec![0.2, 0.0], vec![0.4, 0.2], vec![0.0, 0.6], vec![0.2, 0.2]];
        let refs: Vec<&[f32]> = q.iter().map(Vec::as_slice).collect();
        let plain = kv_head_scores(&refs, 2, ScoreOptions { add_head_mean: false, ..Default::default() });
        assert_eq!(plain, vec![vec![0.3, 0.1], vec![0.1, 0.4]]);
        let with_mean = kv_head_scores(&refs, 2, ScoreOptions::default());
        let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
        assert!(close(with_mean[0][0], 0.3 + 0.2) && close(with_mean[1][1], 0.4 + 0.25));
        let max = kv_head_scores(&refs, 2, ScoreOptions { group: Aggregation::Max, add_head_mean: false, ..Default::default() });
        assert_eq!(max, vec![vec![0.4, 0.2], vec![0.2, 0.6]]);
    }
}
