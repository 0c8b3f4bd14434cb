//! Layer-range decoding (kvcompose's llama.cpp patch): run some layers of the model over a
//! batch of hidden states, so a long prompt can be prefilled one layer at a time.

use std::num::NonZeroI32;

use crate::context::LlamaContext;
use crate::DecodeError;

impl LlamaContext<'_> {
    /// Makes `decode` run model layers `[il_begin, il_end)` only (`il_end < 0`: to the last
    /// layer). Returns `false` for an architecture without layer ranges or a range outside the
    /// model.
    pub fn set_layer_range(&mut self, il_begin: i32, il_end: i32) -> bool {
        // SAFETY: a live context, borrowed mutably; the function checks the range itself.
        unsafe { llama_cpp_sys_2::llama_set_layer_range(self.context.as_mut_ptr(), il_begin, il_end) }
    }

    /// Whether decodes output, for every token, the hidden states entering layer `lid`
    /// (`lid` = the number of layers: the last layer's output before the output norm). Returns
    /// `false`, changing nothing, for a `lid` beyond that.
    pub fn set_embeddings_layer_inp(&mut self, lid: u32, on: bool) -> bool {
        if lid > self.n_layer() {
            return false;
        }
        // SAFETY: a live context, borrowed mutably; `lid` is within the `n_layer + 1` flags
        // llama.cpp keeps (it asserts, which would abort, otherwise).
        unsafe { llama_cpp_sys_2::llama_set_embeddings_layer_inp(self.context.as_mut_ptr(), lid, on) }
        true
    }

    /// The hidden states entering layer `lid` of the last decode: `n_tokens * n_embd` floats,
    /// token by token. `None` for a `lid` beyond the model or more tokens than a batch holds.
    /// The output must have been asked for with [`Self::set_embeddings_layer_inp`] before that
    /// decode: llama.cpp aborts otherwise.
    #[must_use]
    pub fn embeddings_layer_inp(&self, lid: u32, n_tokens: usize) -> Option<&[f32]> {
        if lid > self.n_layer() || n_tokens > self.n_batch() as usize {
            return None;
        }
        let n = n_tokens * self.n_embd();
        // SAFETY: llama.cpp keeps `n_embd * n_batch` floats per enabled layer output, valid
        // until the next decode, which needs `&mut self` and so ends this borrow; `n_tokens`
        // is at most `n_batch` (checked above).
        let p = unsafe { llama_cpp_sys_2::llama_get_embeddings_layer_inp(self.synchronizable_ptr(), lid) };
        // SAFETY: `p` points to at least `n` initialised floats (above) when it is not null.
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, n) })
    }

    fn n_embd(&self) -> usize {
        // SAFETY: the context's model outlives it; the function only reads a hyperparameter.
        let n = unsafe { llama_cpp_sys_2::llama_model_n_embd(self.model_ptr()) };
        usize::try_from(n).unwrap_or(0)
    }

    fn n_layer(&self) -> u32 {
        // SAFETY: as in `n_embd`.
        let n = unsafe { llama_cpp_sys_2::llama_model_n_layer(self.model_ptr()) };
        u32::try_from(n).unwrap_or(0)
    }

    /// Decodes hidden states (`n_embd` floats per token) at positions `pos0..` of sequence
    /// `seq_id`, without outputs: the input of the first layer of the range set by
    /// [`Self::set_layer_range`].
    ///
    /// # Errors
    ///
    /// - `DecodeError` if llama.cpp refuses the batch.
    pub fn decode_embeddings(&mut self, embd: &[f32], pos0: i32, seq_id: i32) -> Result<(), DecodeError> {
        let n_embd = self.n_embd().max(1);
        let n_tokens = embd.len() / n_embd;
        let Ok(n) = i32::try_from(n_tokens) else { return Err(DecodeError::NoKvCacheSlot) };
        if n == 0 || embd.len() != n_tokens * n_embd {
            return Err(DecodeError::NTokensZero);
        }
        // SAFETY: `llama_batch_init(n, n_embd, 1)` allocates `n * n_embd` floats of `embd`
        // (exactly `embd.len()`, checked above) and `n` entries of `pos`, `n_seq_id`, `seq_id`
        // (each with room for one id) and `logits`, all written in bounds; the batch is freed
        // once, after the decode that reads it.
        let result = unsafe {
            let mut batch = llama_cpp_sys_2::llama_batch_init(n, n_embd as i32, 1);
            std::ptr::copy_nonoverlapping(embd.as_ptr(), batch.embd, embd.len());
            for i in 0..n_tokens {
                *batch.pos.add(i) = pos0 + i as i32;
                *batch.n_seq_id.add(i) = 1;
                *(*batch.seq_id.add(i)) = seq_id;
                *batch.logits.add(i) = 0;
            }
            batch.n_tokens = n;
            let r = llama_cpp_sys_2::llama_decode(self.context.as_mut_ptr(), batch);
            llama_cpp_sys_2::llama_batch_free(batch);
            r
        };
        match NonZeroI32::new(result) {
            None => Ok(()),
            Some(error) => Err(DecodeError::from(error)),
        }
    }
}
