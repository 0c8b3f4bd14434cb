//! Per-head top-k selection and composite alignment.

/// The composite slots of one compressed layer: for KV head `h` and slot `i`, the original
/// position of the token it holds and that token's running score.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSlots {
    pub origin: Vec<Vec<i32>>,
    pub score: Vec<Vec<f32>>,
}

impl LayerSlots {
    /// A layer of `n_head_kv` heads holding nothing yet.
    pub fn new(n_head_kv: usize) -> LayerSlots {
        LayerSlots { origin: vec![Vec::new(); n_head_kv], score: vec![Vec::new(); n_head_kv] }
    }

    /// Appends freshly decoded tokens: every head holds the tokens at `positions`, unscored.
    pub fn append(&mut self, positions: &[i32]) {
        for (o, s) in self.origin.iter_mut().zip(&mut self.score) {
            o.extend_from_slice(positions);
            s.resize(o.len(), 0.0);
        }
    }

    pub fn n_slots(&self) -> usize {
        self.origin.first().map_or(0, Vec::len)
    }

    /// Raises each running score to at least `new[h][c]` (scores are maxima over queries).
    /// Empty slots (see `clear_from`) stay empty.
    pub fn absorb(&mut self, new: &[Vec<f32>]) {
        for ((old, new), origin) in self.score.iter_mut().zip(new).zip(&self.origin) {
            for ((o, &n), &at) in old.iter_mut().zip(new).zip(origin) {
                if at >= 0 {
                    *o = o.max(n);
                }
            }
        }
    }

    /// Raises each slot's score to the best of its token's word (`words[position]`) in its head.
    pub fn pool_words(&mut self, words: &[u32]) {
        for (score, origin) in self.score.iter_mut().zip(&self.origin) {
            super::words::pool_words(score, origin, words);
        }
    }

    /// Empties every head's slots from `from` on: they hold no token for this layer (origin -1,
    /// score -inf), so no selection keeps them while other layers use those cells.
    pub fn clear_from(&mut self, from: usize) {
        for (o, s) in self.origin.iter_mut().zip(&mut self.score) {
            o.iter_mut().skip(from).for_each(|x| *x = -1);
            s.iter_mut().skip(from).for_each(|x| *x = f32::NEG_INFINITY);
        }
    }

    /// Applies a selection: slot `i` of head `h` becomes old slot `sources[h][i]`.
    pub fn gather(&self, sources: &[Vec<usize>]) -> LayerSlots {
        fn pick<T: Copy>(sources: &[Vec<usize>], v: &[Vec<T>]) -> Vec<Vec<T>> {
            sources.iter().zip(v).map(|(s, row)| s.iter().map(|&c| row[c]).collect()).collect()
        }
        LayerSlots { origin: pick(sources, &self.origin), score: pick(sources, &self.score) }
    }
}

/// For each head, the `keep` slots with the highest scores (slots in `protected` always kept),
/// ordered by original position so that slot `i` is each head's `i`-th kept token.
pub fn top_k_per_head(slots: &LayerSlots, keep: usize, protected: usize) -> Vec<Vec<usize>> {
    let n = slots.n_slots();
    let keep = keep.clamp(protected.min(n), n);
    slots
        .score
        .iter()
        .zip(&slots.origin)
        .map(|(score, origin)| {
            // Protected slots are those holding the first `protected` positions (prompt prefix).
            let mut idx: Vec<usize> = (0..n).collect();
            let key = |c: usize| if (0..protected as i32).contains(&origin[c]) { f32::INFINITY } else { score[c] };
            idx.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(origin[a].cmp(&origin[b])));
            idx.truncate(keep);
            idx.sort_by_key(|&c| origin[c]);
            idx
        })
        .collect()
}

/// The outcome of compressing all layers: per-layer sources for the cache rewrite and the
/// position each composite cell gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// `sources[layer][h][i]`: cell that slot `i` of head `h` comes from.
    pub sources: Vec<Vec<Vec<usize>>>,
    pub positions: Vec<i32>,
}

/// Cell positions for composite slots: the latest original position among the tokens a slot
/// holds (so each slot is visible exactly when all of its tokens would be), with the last slot
/// at `n_tokens - 1` so that decoding continues at the original length.
pub fn slot_positions(layers: &[LayerSlots], n_tokens: i32) -> Vec<i32> {
    // Layers may hold different numbers of slots (per-layer sizes): slot i is the layers' that have it.
    let n = layers.iter().map(LayerSlots::n_slots).max().unwrap_or(0);
    let mut pos: Vec<i32> = (0..n).map(|i| layers.iter().flat_map(|l| l.origin.iter().filter_map(move |o| o.get(i).copied())).max().unwrap_or(0)).collect();
    if let Some(last) = pos.last_mut() {
        *last = n_tokens - 1;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cleared_slots_are_never_kept_or_scored() {
        let mut slots = LayerSlots { origin: vec![vec![0, 1, 2, 3]], score: vec![vec![0.0, 0.1, 0.9, 0.8]] };
        slots.clear_from(2);
        slots.absorb(&[vec![0.5, 0.5, 0.7, 0.7]]);
        assert_eq!(slots.origin, vec![vec![0, 1, -1, -1]]);
        assert_eq!(slots.score[0][..2], [0.5, 0.5]);
        assert!(slots.score[0][2..].iter().all(|s| *s == f32::NEG_INFINITY));
        slots.append(&[4, 5]);
        assert_eq!(top_k_per_head(&slots, 3, 1), vec![vec![0, 1, 4]]);
    }

    #[test]
    fn heads_keep_their_own_tokens_in_position_order() {
        let slots =
            LayerSlots { origin: vec![vec![0, 1, 2, 3, 4], vec![0, 1, 2, 3, 4]], score: vec![vec![0.0, 0.9, 0.1, 0.8, 0.2], vec![0.0, 0.1, 0.9, 0.2, 0.8]] };
        let sel = top_k_per_head(&slots, 3, 1);
        assert_eq!(sel, vec![vec![0, 1, 3], vec![0, 2, 4]]);
        let out = slots.gather(&sel);
        assert_eq!(out.origin, vec![vec![0, 1, 3], vec![0, 2, 4]]);
        assert_eq!(slot_positions(&[out], 5), vec![0, 2, 4]);
    }

    proptest! {
        #[test]
        fn selection_is_the_top_k_of_each_head(scores in proptest::collection::vec(proptest::collection::vec(0f32..1.0, 16), 1..4), keep in 1usize..16, protected in 0usize..4) {
            let n_head = scores.len();
            let slots = LayerSlots { origin: vec![(0..16).collect(); n_head], score: scores.clone() };
            let sel = top_k_per_head(&slots, keep, protected);
            let keep = keep.max(protected);
            for (h, kept) in sel.iter().enumerate() {
                prop_assert_eq!(kept.len(), keep);
                prop_assert!(kept.windows(2).all(|w| w[0] < w[1]));
                prop_assert!((0..protected).all(|p| kept.contains(&p)));
                // No dropped unprotected slot scores higher than a kept unprotected one.
                let min_kept = kept.iter().filter(|&&c| c >= protected).map(|&c| scores[h][c]).fold(f32::INFINITY, f32::min);
                let max_dropped = (protected..16).filter(|c| !kept.contains(c)).map(|c| scores[h][c]).fold(f32::NEG_INFINITY, f32::max);
                prop_assert!(max_dropped <= min_kept);
            }
            let positions = slot_positions(&[slots.gather(&sel)], 16);
            prop_assert_eq!(*positions.last().unwrap(), 15);
        }
    }
}
