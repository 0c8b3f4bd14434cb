//! Words: which tokens of a document belong together, so that a head keeps a number or a name
//! whole or not at all. A compressed cache that keeps "72913" of "7291310" answers with the
//! truncated number; pooling each token's score over its word makes the word's tokens rank
//! together.

/// The most tokens one word spans: a longer run of letters and digits (a hash, a URL without
/// spaces) is split into words of this many tokens, so one high score cannot pull in a whole
/// run.
pub const MAX_WORD_TOKENS: usize = 16;

/// Whether `b` is part of a word: ASCII letters and digits, and any byte of a non-ASCII
/// character (letters of other scripts; punctuation outside ASCII is rare in documents).
fn wordy(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// The word of each token, from the tokens' text pieces (`pieces[i]`: token `i` as bytes):
/// numbered from 0, non-decreasing. A token continues the word before it when it starts with a
/// word byte and the token before it ends with one: "Mar" "lowe" and "729" "131" "0" join, " is"
/// and ":" do not.
pub fn word_ids<P: AsRef<[u8]>>(pieces: &[P]) -> Vec<u32> {
    let mut ids = Vec::with_capacity(pieces.len());
    let (mut id, mut len) = (0u32, 0usize);
    let mut prev_ends_wordy = false;
    for (i, p) in pieces.iter().enumerate() {
        let p = p.as_ref();
        let joins = prev_ends_wordy && p.first().is_some_and(|&b| wordy(b)) && len < MAX_WORD_TOKENS;
        if i > 0 && !joins {
            id += 1;
            len = 0;
        }
        len += 1;
        ids.push(id);
        prev_ends_wordy = p.last().is_some_and(|&b| wordy(b));
    }
    ids
}

/// Raises each score to the best score of its word: `scores[c]` belongs to the token at
/// position `origins[c]`, whose word is `words[origins[c]]`. Cells holding no token (origin
/// -1) or a position `words` does not cover keep their score.
pub fn pool_words(scores: &mut [f32], origins: &[i32], words: &[u32]) {
    let word = |c: usize| usize::try_from(origins[c]).ok().and_then(|p| words.get(p)).map(|&w| w as usize);
    let n_words = words.last().map_or(0, |&w| w as usize + 1);
    let mut best = vec![f32::NEG_INFINITY; n_words];
    for (c, &s) in scores.iter().enumerate() {
        if let Some(w) = word(c) {
            best[w] = best[w].max(s);
        }
    }
    for (c, s) in scores.iter_mut().enumerate() {
        if let Some(w) = word(c) {
            *s = best[w];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_names_and_split_words_are_one_word_each() {
        let pieces = ["The", " number", " is", ":", " ", "7", "2", "9", "1", "3", "1", "0", ".", " Mar", "lowe", " runs", "\n\n", "Über", "all"];
        let ids = word_ids(&pieces);
        assert_eq!(ids.len(), pieces.len());
        // "7291310" is one word, after the lone space.
        assert!(ids[5..12].iter().all(|&w| w == ids[5]));
        assert!(ids[4] < ids[5] && ids[11] < ids[12]);
        // " Mar" "lowe": one; " runs": another.
        assert_eq!(ids[13], ids[14]);
        assert!(ids[15] > ids[14]);
        // Non-ASCII letters join like ASCII ones.
        assert_eq!(ids[17], ids[18]);
        assert!(ids[17] > ids[16]);
    }

    #[test]
    fn a_long_run_is_split_into_bounded_words() {
        let pieces = vec!["ab"; 40];
        let ids = word_ids(&pieces);
        assert_eq!(ids.iter().filter(|&&w| w == 0).count(), MAX_WORD_TOKENS);
        assert_eq!(*ids.last().unwrap(), 2);
    }

    #[test]
    fn pooling_gives_every_token_its_words_best_score() {
        let words = [0, 1, 1, 1, 2];
        // Cells in another order than positions, and one empty cell.
        let origins = [4, 2, 1, -1, 3, 0];
        let mut scores = [0.5, 0.1, 0.9, 7.0, 0.2, 0.3];
        pool_words(&mut scores, &origins, &words);
        assert_eq!(scores, [0.5, 0.9, 0.9, 7.0, 0.9, 0.3]);
    }

    proptest! {
        #[test]
        fn ids_start_at_zero_and_rise_by_at_most_one(pieces in proptest::collection::vec("[a-z0-9 .:]{0,4}", 0..60)) {
            let ids = word_ids(&pieces);
            prop_assert_eq!(ids.len(), pieces.len());
            prop_assert!(ids.first().is_none_or(|&w| w == 0));
            prop_assert!(ids.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1));
        }

        /// Pooled scores are the max of their word, never lower than before, and pooling twice
        /// changes nothing (so it commutes with the running max of several passes).
        #[test]
        fn pooling_is_the_word_max_and_idempotent(raw in proptest::collection::vec(0f32..1.0, 1..40), cut in proptest::collection::vec(any::<bool>(), 40)) {
            let n = raw.len();
            let mut words = Vec::with_capacity(n);
            let mut w = 0u32;
            for (i, &c) in cut.iter().enumerate().take(n) {
                w += u32::from(i > 0 && c);
                words.push(w);
            }
            let origins: Vec<i32> = (0..n as i32).collect();
            let mut pooled = raw.clone();
            pool_words(&mut pooled, &origins, &words);
            for c in 0..n {
                let best = (0..n).filter(|&d| words[d] == words[c]).map(|d| raw[d]).fold(f32::MIN, f32::max);
                prop_assert_eq!(pooled[c], best);
                prop_assert!(pooled[c] >= raw[c]);
            }
            let mut again = pooled.clone();
            pool_words(&mut again, &origins, &words);
            prop_assert_eq!(again, pooled);
        }

        /// After pooling, a head's top-k keeps each word whole or not at all, but for at most one
        /// word that the budget cuts (scores distinct before pooling).
        #[test]
        fn a_head_keeps_words_whole_but_one(seed in any::<u64>(), n in 2usize..60, keep in 1usize..60, cut in proptest::collection::vec(any::<bool>(), 60)) {
            let mut words = vec![0u32];
            for i in 1..n {
                words.push(words[i - 1] + u32::from(cut[i]));
            }
            // Distinct scores: a shuffled ramp.
            let mut raw: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let mut x = seed;
            for i in (1..n).rev() {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                raw.swap(i, (x >> 33) as usize % (i + 1));
            }
            let mut slots = crate::compress::LayerSlots::new(1);
            slots.append(&(0..n as i32).collect::<Vec<_>>());
            slots.absorb(&[raw]);
            slots.pool_words(&words);
            let kept = crate::compress::select::top_k_per_head(&slots, keep.min(n), 0).remove(0);
            let cut_words = (0..=words[n - 1])
                .filter(|&w| {
                    let all: Vec<usize> = (0..n).filter(|&p| words[p] == w).collect();
                    let k = all.iter().filter(|p| kept.contains(p)).count();
                    k != 0 && k != all.len()
                })
                .count();
            prop_assert!(cut_words <= 1, "{} words cut", cut_words);
        }
    }
}
