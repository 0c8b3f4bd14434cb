//! Attention scores on the graph (kvcompose's llama.cpp patch): each attention layer also forms
//! its probabilities' maximum over the batch's queries, so an eval callback reads a
//! `[n_kv, 1, n_head, n_stream]` tensor per layer instead of recomputing the attention.

use crate::context::LlamaContext;

impl LlamaContext<'_> {
    /// Whether the graphs of later decodes form `attn_scores-<il>`: per attention layer, the
    /// maximum of `softmax(scale * q.k + mask)` over the queries at positions `>= pos_min`, with
    /// or without flash attention (`pos_min < 0`: off). Not formed for layers with a KQ bias,
    /// attention sinks or a logit soft-cap.
    pub fn set_attn_scores(&mut self, pos_min: i32) {
        // SAFETY: a live context, borrowed mutably.
        unsafe { llama_cpp_sys_2::llama_set_attn_scores(self.context.as_mut_ptr(), pos_min) }
    }
}
