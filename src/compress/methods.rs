//! Compression methods: which tokens each KV head keeps when a layer is cut to `keep` slots.
//! A method is a small selection rule over the running scores; adding a baseline means one
//! more type here and one more name in [`MethodName`].

use super::select::{top_k_per_head, LayerSlots};

/// Chooses, per KV head, the slots a layer keeps.
pub trait Method: Send + Sync {
    /// Whether the method reads attention scores (scoring passes are decoded only then).
    fn needs_scores(&self) -> bool {
        true
    }

    /// `sources[h]`: the slots head `h` keeps, `keep` of them (slots holding the first
    /// `protected` positions always among them), in original-position order.
    ///
    /// Selections must be nested: choosing `keep` from what a larger selection kept gives the
    /// same tokens as choosing `keep` from all of them. The layer-by-layer prefill relies on it
    /// to keep a layer's candidates before the allocation says how many it keeps.
    fn select(&self, slots: &LayerSlots, keep: usize, protected: usize) -> Vec<Vec<usize>>;
}

/// The methods the CLI and the benchmark know, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodName {
    /// KVCompose: each head keeps its own best tokens (composite slots).
    #[default]
    Kvcompose,
    /// One token set for all heads, by the mean score over heads (SnapKV-style, token level).
    Tokens,
    /// Attention sinks plus the most recent tokens (StreamingLLM; what context shift keeps).
    Streaming,
    /// Uniformly random tokens, the same in every head (a fixed seed).
    Random,
    /// KVzip (as kvpress implements it): each head keeps its own best tokens by chunked
    /// reconstruction scores, one threshold over all layers and heads. Its scorer and per-head
    /// budgets come with it (`CompressOptions::effective`); scored documents only.
    Kvzip,
}

impl MethodName {
    pub fn method(self) -> Box<dyn Method> {
        match self {
            MethodName::Kvcompose | MethodName::Kvzip => Box::new(KvCompose),
            MethodName::Tokens => Box::new(TokenLevel),
            MethodName::Streaming => Box::new(Streaming { sinks: 4 }),
            MethodName::Random => Box::new(Random { seed: 0x6b76_636f_6d70 }),
        }
    }
}

pub struct KvCompose;

impl Method for KvCompose {
    fn select(&self, slots: &LayerSlots, keep: usize, protected: usize) -> Vec<Vec<usize>> {
        top_k_per_head(slots, keep, protected)
    }
}

/// The same slots in every head: a single head whose score is the mean over heads, then copied.
/// Token-level methods hold each head's original tokens in every slot, so head 0's origins
/// stand for all.
pub struct TokenLevel;

impl Method for TokenLevel {
    fn select(&self, slots: &LayerSlots, keep: usize, protected: usize) -> Vec<Vec<usize>> {
        let n_head = slots.score.len();
        let n = slots.n_slots();
        let mean = (0..n).map(|c| slots.score.iter().map(|s| s[c]).sum::<f32>() / n_head as f32).collect();
        same_tokens(slots, mean, keep, protected)
    }
}

pub struct Streaming {
    /// Tokens after the protected prefix kept as attention sinks.
    pub sinks: usize,
}

impl Method for Streaming {
    fn needs_scores(&self) -> bool {
        false
    }

    fn select(&self, slots: &LayerSlots, keep: usize, protected: usize) -> Vec<Vec<usize>> {
        let first = protected + self.sinks;
        // Earlier positions score higher only among the sinks; after them, later is better.
        let score = |o: i32| if (o as usize) < first { f32::INFINITY } else { o as f32 };
        by_origin_score(slots, keep, protected, score)
    }
}

pub struct Random {
    pub seed: u64,
}

impl Method for Random {
    fn needs_scores(&self) -> bool {
        false
    }

    fn select(&self, slots: &LayerSlots, keep: usize, protected: usize) -> Vec<Vec<usize>> {
        // A hash of (seed, position): the same draw for a token at every step and in every layer.
        let seed = self.seed;
        by_origin_score(slots, keep, protected, move |o| (splitmix64(seed ^ o as u64) >> 40) as f32)
    }
}

/// Token-level selection by a score of each token's original position (head 0's origins).
fn by_origin_score(slots: &LayerSlots, keep: usize, protected: usize, score: impl Fn(i32) -> f32) -> Vec<Vec<usize>> {
    same_tokens(slots, slots.origin[0].iter().map(|&o| score(o)).collect(), keep, protected)
}

/// The top-`keep` slots by one score per slot (head 0's origins), the same set in every head.
fn same_tokens(slots: &LayerSlots, score: Vec<f32>, keep: usize, protected: usize) -> Vec<Vec<usize>> {
    let one = LayerSlots { origin: vec![slots.origin[0].clone()], score: vec![score] };
    vec![top_k_per_head(&one, keep, protected).remove(0); slots.origin.len()]
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layer(scores: Vec<Vec<f32>>) -> LayerSlots {
        let n = scores[0].len() as i32;
        LayerSlots { origin: vec![(0..n).collect(); scores.len()], score: scores }
    }

    #[test]
    fn kvcompose_lets_heads_differ_and_token_level_does_not() {
        let l = layer(vec![vec![0.0, 0.9, 0.1, 0.8, 0.2], vec![0.0, 0.1, 0.9, 0.2, 0.8]]);
        assert_eq!(KvCompose.select(&l, 3, 1), vec![vec![0, 1, 3], vec![0, 2, 4]]);
        // Means: 0.5, 0.5, 0.5, 0.5 after the prefix: ties go to the earlier position.
        assert_eq!(TokenLevel.select(&l, 3, 1), vec![vec![0, 1, 2]; 2]);
    }

    #[test]
    fn streaming_keeps_prefix_sinks_and_the_most_recent() {
        let l = layer(vec![vec![0.0; 12]]);
        assert_eq!(Streaming { sinks: 2 }.select(&l, 6, 1), vec![vec![0, 1, 2, 9, 10, 11]]);
    }

    proptest! {
        #[test]
        fn every_method_keeps_keep_sorted_slots_with_the_prefix(
            scores in proptest::collection::vec(proptest::collection::vec(0f32..1.0, 20), 1..4),
            keep in 1usize..20, protected in 0usize..4, name in proptest::sample::select(vec![
                MethodName::Kvcompose, MethodName::Tokens, MethodName::Streaming, MethodName::Random,
            ]),
        ) {
            let l = layer(scores);
            let sel = name.method().select(&l, keep, protected);
            prop_assert_eq!(sel.len(), l.score.len());
            for kept in &sel {
                prop_assert_eq!(kept.len(), keep.max(protected));
                prop_assert!(kept.windows(2).all(|w| w[0] < w[1]));
                prop_assert!((0..protected).all(|p| kept.contains(&p)));
            }
            if name != MethodName::Kvcompose {
                prop_assert!(sel.iter().all(|k| k == &sel[0]), "token-level methods keep one set");
            }
        }

        #[test]
        fn every_method_chooses_alike_from_a_larger_selection(
            scores in proptest::collection::vec(proptest::collection::vec(0f32..1.0, 20), 1..4),
            keep in 1usize..20, more in 0usize..10, protected in 0usize..4, name in proptest::sample::select(vec![
                MethodName::Kvcompose, MethodName::Tokens, MethodName::Streaming, MethodName::Random,
            ]),
        ) {
            let (l, m) = (layer(scores), name.method());
            let wide = l.gather(&m.select(&l, keep + more, protected));
            let from_wide = wide.gather(&m.select(&wide, keep, protected));
            let direct = l.gather(&m.select(&l, keep, protected));
            prop_assert_eq!(from_wide.origin, direct.origin);
        }
    }
}
