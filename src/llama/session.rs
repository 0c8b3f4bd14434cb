//! A llama.cpp context for one sequence: chunked decode, scoring passes through the attention
//! probe, sequence-state access and generation.

use std::num::NonZeroU32;
use std::sync::Mutex;

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::callback::{AttentionProbe, HeadCellMax, LiveSlots, PassScope, SeenPaths};
use super::ffi;
use super::model::Model;
use super::state::SeqState;
use crate::error::{Error, Result};

const SEQ: i32 = 0;
/// The sequence a scoring copy that sees only part of the cache is decoded in
/// ([`Session::share_with_copy`]); its cells go with [`Session::drop_copy`].
const COPY_SEQ: i32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashAttn {
    Auto,
    On,
    Off,
}

impl FlashAttn {
    /// Flash attention on or off, as a cache file records it.
    pub fn from_on(on: bool) -> FlashAttn {
        if on {
            FlashAttn::On
        } else {
            FlashAttn::Off
        }
    }
}

/// A KV cache element type, by its llama.cpp name (`-ctk`/`-ctv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvType(pub KvCacheType);

impl KvType {
    pub const NAMES: [(&'static str, KvCacheType); 8] = [
        ("f32", KvCacheType::F32),
        ("f16", KvCacheType::F16),
        ("bf16", KvCacheType::BF16),
        ("q8_0", KvCacheType::Q8_0),
        ("q4_0", KvCacheType::Q4_0),
        ("q4_1", KvCacheType::Q4_1),
        ("q5_0", KvCacheType::Q5_0),
        ("q5_1", KvCacheType::Q5_1),
    ];

    pub const Q8_0: KvType = KvType(KvCacheType::Q8_0);

    /// The ggml type id.
    pub fn ggml(self) -> u32 {
        self.0.into()
    }

    /// The type of ggml type id `t` (as a sequence state writes it), if a cache can take it.
    pub fn from_ggml(t: i32) -> Result<KvType> {
        Self::NAMES
            .iter()
            .map(|&(_, k)| KvType(k))
            .find(|k| i64::from(k.ggml()) == i64::from(t))
            .ok_or_else(|| Error::UnsupportedCacheType(super::ffi::type_name(t as u32)))
    }

    pub fn parse(s: &str) -> Result<KvType> {
        Self::NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)).map(|&(_, t)| KvType(t)).ok_or_else(|| Error::UnknownCacheType(s.to_string()))
    }

    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, t)| *t == self.0).map_or("?", |(n, _)| n)
    }
}

#[derive(Debug, Clone)]
pub struct SessionParams {
    pub n_ctx: usize,
    pub n_batch: usize,
    pub n_ubatch: usize,
    pub n_threads: i32,
    pub flash_attn: FlashAttn,
    pub type_k: KvType,
    pub type_v: KvType,
    /// Install the attention probe (needed for scoring passes).
    pub probe: bool,
    /// Where scoring passes' attention is reduced to its maxima.
    pub scores: ScoreReduction,
    /// A second sequence in the same cells, for scoring copies that see only part of the
    /// document (llama.cpp's mask hides the cells not shared with it).
    pub copy_seq: bool,
}

/// Where a scoring pass's attention probabilities are reduced to their max per head and cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScoreReduction {
    /// On llama.cpp's graph (kvcompose's patch), except with flash attention over a K cache
    /// of another type than f16 or f32: the CPU kernel forms the scores beside its output only
    /// for those, and the graph would otherwise attend twice, slower than the host.
    #[default]
    Auto,
    /// On the host, from the attention node (its probabilities, or the flash-attention
    /// node's inputs, recomputed).
    Host,
    /// On llama.cpp's graph wherever the pass allows it.
    Graph,
}

impl ScoreReduction {
    /// Whether scoring passes go to llama.cpp's graph with this attention and K type.
    pub fn on_graph(self, flash_attn: FlashAttn, type_k: KvType) -> bool {
        match self {
            ScoreReduction::Host => false,
            ScoreReduction::Graph => true,
            ScoreReduction::Auto => flash_attn == FlashAttn::Off || matches!(type_k.0, KvCacheType::F16 | KvCacheType::F32),
        }
    }
}

/// What a layer-range decode is fed: tokens (from the first layer) or the hidden states that
/// enter its first layer, `n_embd` floats per token.
#[derive(Debug, Clone)]
pub enum LayerInput<'a> {
    Tokens(&'a [LlamaToken]),
    /// Hidden states, `n_embd` floats per token; the layers' output overwrites them in place,
    /// so a long document holds one copy of its states, not two.
    Hidden(Vec<f32>),
}

impl LayerInput<'_> {
    /// Number of tokens.
    pub fn len(&self, n_embd: usize) -> usize {
        match self {
            LayerInput::Tokens(t) => t.len(),
            LayerInput::Hidden(h) => h.len() / n_embd.max(1),
        }
    }
}

pub struct Session<'m> {
    // Field order is drop order: the context must go before the probe it points to.
    ctx: LlamaContext<'m>,
    probe: Option<Box<Mutex<AttentionProbe>>>,
    pub model: &'m Model,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    /// Index in the last batch of the token whose logits were requested.
    logits_at: Option<i32>,
    /// Reduce scoring passes on llama.cpp's graph where they allow it (`SessionParams::scores`).
    graph_scores: bool,
    /// The sequence that decodes go to: [`SEQ`], or [`COPY_SEQ`] while a copy is shared cells.
    seq: i32,
}

impl<'m> Session<'m> {
    pub fn new(model: &'m Model, p: &SessionParams) -> Result<Session<'m>> {
        let n_ctx = u32::try_from(p.n_ctx).ok().and_then(NonZeroU32::new).ok_or_else(|| Error::llama(format!("bad context size {}", p.n_ctx)))?;
        let n_batch = p.n_batch.min(p.n_ctx).max(1);
        let mut params = LlamaContextParams::default()
            .with_n_ctx(Some(n_ctx))
            .with_n_batch(n_batch as u32)
            .with_n_ubatch(p.n_ubatch.min(n_batch).max(1) as u32)
            .with_n_threads(p.n_threads)
            .with_n_threads_batch(p.n_threads)
            .with_type_k(p.type_k.0)
            .with_type_v(p.type_v.0)
            // Window layers keep their window (plus a ubatch), as llama.cpp's tools do; the C
            // API's default sizes them for the whole context.
            .with_swa_full(false)
            // One set of cells for both sequences: sharing cells then costs no copy.
            .with_n_seq_max(if p.copy_seq { 2 } else { 1 })
            .with_kv_unified(p.copy_seq)
            .with_flash_attention_policy(match p.flash_attn {
                FlashAttn::Auto => -1,
                FlashAttn::Off => 0,
                FlashAttn::On => 1,
            });
        let probe = p.probe.then(|| Box::new(Mutex::new(AttentionProbe::default())));
        if let Some(probe) = &probe {
            params = ffi::with_eval_hook(params, probe);
        }
        let ctx = model.inner.new_context(super::model::backend(false), params).map_err(Error::llama_failed(format!(
            "cannot create a context of {} tokens with K {} / V {} (flash attention {:?})",
            p.n_ctx,
            p.type_k.name(),
            p.type_v.name(),
            p.flash_attn
        )))?;
        // SAFETY of the probe pointer: `probe` is boxed (stable address) and stored after `ctx`.
        let graph_scores = p.scores.on_graph(p.flash_attn, p.type_k);
        Ok(Session { ctx, probe, model, batch: LlamaBatch::new(n_batch, 1), n_batch, logits_at: None, graph_scores, seq: SEQ })
    }

    pub fn n_ctx(&self) -> usize {
        self.ctx.n_ctx() as usize
    }

    /// Tokens one `decode` call sends to llama.cpp at a time (`-b`, at most the context).
    pub fn n_batch(&self) -> usize {
        self.n_batch
    }

    /// Decodes `tokens` at positions `start..`, in batches; logits only for the last token.
    pub fn decode(&mut self, tokens: &[LlamaToken], start: i32, logits_last: bool) -> Result<()> {
        for (i, chunk) in tokens.chunks(self.n_batch).enumerate() {
            let last_chunk = (i + 1) * self.n_batch >= tokens.len();
            self.batch.clear();
            for (j, &tok) in chunk.iter().enumerate() {
                let pos = start + (i * self.n_batch + j) as i32;
                let logits = logits_last && last_chunk && j + 1 == chunk.len();
                self.batch.add(tok, pos, &[self.seq], logits).map_err(Error::llama_failed("adding a token to the batch"))?;
            }
            self.ctx.decode(&mut self.batch).map_err(Error::llama_failed(format!("decode of {} tokens at position {start}", chunk.len())))?;
        }
        self.logits_at = logits_last.then(|| self.batch.n_tokens() - 1);
        match self.probe_error() {
            Some(e) => Err(Error::llama(format!("attention probe: {e}"))),
            None => Ok(()),
        }
    }

    /// Runs model layers `[l0, l1)` over `input` at positions `start..` and returns the hidden
    /// states leaving layer `l1 - 1`, `n_embd` floats per token (kvcompose's llama.cpp patch:
    /// layer-range graphs, llama and gemma3); none when the range ends at the last layer.
    /// Layers outside the range are not touched.
    pub fn decode_layers(&mut self, input: LayerInput<'_>, start: i32, l0: usize, l1: usize) -> Result<Vec<f32>> {
        if !self.ctx.set_layer_range(l0 as i32, l1 as i32) {
            return Err(Error::UnsupportedArch(format!(
                "{} cannot be prefilled layer by layer (llama.cpp's layer ranges cover the llama and gemma3 architectures)",
                self.model.info.arch
            )));
        }
        let hidden = l1 < self.model.info.n_layer;
        self.ctx.set_embeddings_layer_inp(l1 as u32, hidden);
        let n_embd = self.model.info.n_embd;
        let n = input.len(n_embd);
        let (tokens, mut out) = match input {
            LayerInput::Tokens(t) => (Some(t), Vec::with_capacity(if hidden { n * n_embd } else { 0 })),
            LayerInput::Hidden(h) => (None, h),
        };
        // Whole ubatches, as a stock prefill splits them. The context's batch is bounded by its
        // compressed size, which need not be a multiple of the ubatch: batches of that size leave
        // short ubatches, and one under 64 tokens takes llama.cpp's row-by-row CPU attention,
        // slower (more so with scores) and with other products than its tiles'.
        let ub = self.n_ubatch().clamp(1, self.n_batch);
        let step = self.n_batch / ub * ub;
        let mut at = 0;
        while at < n {
            let k = (n - at).min(step);
            let pos = start + at as i32;
            let rows = at * n_embd..(at + k) * n_embd;
            let done = match tokens {
                Some(t) => self.decode(&t[at..at + k], pos, false),
                None => self
                    .ctx
                    .decode_embeddings(&out[rows.clone()], pos, self.seq)
                    .map_err(Error::llama_failed(format!("decode of {k} hidden states at position {pos}"))),
            };
            let got = done.and_then(|()| match hidden {
                true => self.ctx.embeddings_layer_inp(l1 as u32, k).ok_or_else(|| Error::llama("no hidden states returned")),
                false => Ok(&[][..]),
            });
            match got {
                // llama.cpp has read this batch's input rows: its output takes their place.
                Ok(h) if tokens.is_none() && hidden => out[rows].copy_from_slice(h),
                Ok(h) => out.extend_from_slice(h),
                Err(e) => {
                    self.reset_layer_range(l1);
                    return Err(e);
                }
            }
            at += k;
        }
        if !hidden {
            out = Vec::new();
        }
        self.reset_layer_range(l1);
        match self.probe_error() {
            Some(e) => Err(Error::llama(format!("attention probe: {e}"))),
            None => Ok(out),
        }
    }

    fn reset_layer_range(&mut self, l1: usize) {
        self.ctx.set_embeddings_layer_inp(l1 as u32, false);
        self.ctx.set_layer_range(0, -1);
    }

    /// As [`Session::score_pass`] over layer `l` alone, fed `input`; also returns the hidden
    /// states leaving layer `l`.
    pub fn score_layer(&mut self, input: LayerInput<'_>, scope: PassScope, start: i32, l: usize, n_cells: usize) -> Result<(HeadCellMax, Vec<f32>)> {
        let (mut scores, hidden) = self.scored(scope, start, &[l], &[n_cells], |s| s.decode_layers(input, start, l, l + 1))?;
        Ok((scores[l].take().expect("checked by scored"), hidden))
    }

    /// Logits of the last token decoded with `logits_last`.
    pub fn logits(&self) -> &[f32] {
        self.ctx.get_logits_ith(self.logits_at.expect("decode with logits_last first"))
    }

    /// Decodes `tokens` at `start..` with the probe armed on `layers`, returning each scored
    /// layer's max attention per (query head, cell) over cells `[0, n_cells)`, by the queries
    /// and cells that `scope` counts.
    pub fn score_pass(&mut self, tokens: &[LlamaToken], scope: PassScope, start: i32, layers: &[usize], n_cells: &[usize]) -> Result<Vec<Option<HeadCellMax>>> {
        Ok(self.scored(scope, start, layers, n_cells, |s| s.decode(tokens, start, false))?.0)
    }

    /// Runs `decode` of a pass at positions `start..` with the probe armed on `layers` (their
    /// first `n_cells` columns) and returns each layer's maxima with what `decode` returned.
    fn scored<T>(
        &mut self,
        scope: PassScope,
        start: i32,
        layers: &[usize],
        n_cells: &[usize],
        decode: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<(Vec<Option<HeadCellMax>>, T)> {
        let info = &self.model.info;
        let probe = self.probe.as_ref().ok_or_else(|| Error::llama("session created without the attention probe"))?;
        let mut armed = probe.lock().expect("probe lock");
        // The graph's scores count every query of a batch and see the stock softmax: a scope
        // that leaves cells out, or budgets masked in the callback, stay on the host.
        let on_graph = self.graph_scores && scope.excluded.is_empty() && armed.live.iter().all(Option::is_none);
        if on_graph {
            self.ctx.set_attn_scores(start + scope.skip as i32);
        }
        armed.arm(info.n_layer, layers, info.n_head, n_cells, scope, on_graph);
        drop(armed);
        let decoded = decode(self);
        if on_graph {
            self.ctx.set_attn_scores(-1);
        }
        let mut probe = self.probe.as_ref().unwrap().lock().expect("probe lock");
        let (scores, unseen) = probe.disarm();
        let out = decoded?;
        if let Some(e) = probe.error.take() {
            return Err(Error::llama(format!("attention scoring failed: {e}")));
        }
        if let Some(l) = unseen {
            return Err(Error::llama(format!("attention scoring saw no attention node of layer {l}")));
        }
        Ok((scores, out))
    }

    /// Per model layer, the compressed cells it attends to (`None`: all); applies to every
    /// decode from now on. Needs the probe, and attention without flash attention.
    pub fn set_live_slots(&mut self, live: Vec<Option<LiveSlots>>) -> Result<()> {
        let probe = self.probe.as_ref().ok_or_else(|| Error::llama("session created without the attention probe"))?;
        probe.lock().expect("probe lock").live = live;
        Ok(())
    }

    /// An error the probe met outside a scoring pass (a masked decode), taken.
    pub fn probe_error(&self) -> Option<String> {
        self.probe.as_ref().and_then(|p| p.lock().expect("probe lock").error.take())
    }

    pub fn seen_paths(&self) -> SeenPaths {
        self.probe.as_ref().map(|p| p.lock().expect("probe lock").seen).unwrap_or_default()
    }

    pub fn pos_max(&self) -> i32 {
        self.ctx.kv_cache_seq_pos_max(SEQ)
    }

    /// Makes the cells at positions `ranges` visible to a copy decoded next, and only those:
    /// decodes go to the copy's sequence until [`Session::drop_copy`]. Needs
    /// `SessionParams::copy_seq`.
    pub fn share_with_copy(&mut self, ranges: &[std::ops::Range<i32>]) -> Result<()> {
        for r in ranges {
            self.ctx
                .copy_kv_cache_seq(SEQ, COPY_SEQ, Some(r.start as u32), Some(r.end as u32))
                .map_err(Error::llama_failed(format!("sharing cells {}..{} with a scoring copy", r.start, r.end)))?;
        }
        self.seq = COPY_SEQ;
        Ok(())
    }

    /// Removes the copy's cells and its share of the others; decodes go to the document again.
    pub fn drop_copy(&mut self) -> Result<()> {
        self.seq = SEQ;
        self.ctx.kv_cache_seq_rm(COPY_SEQ, None, None).map_err(Error::llama_failed("removing a scoring copy"))
    }

    /// Removes the sequence's cells at positions `>= pos`.
    pub fn truncate(&mut self, pos: i32) -> Result<()> {
        self.ctx.kv_cache_seq_rm(SEQ, Some(pos as u32), None).map_err(Error::llama_failed(format!("removing cells from position {pos}")))
    }

    pub fn read_state(&self, n_caches: usize) -> Result<SeqState> {
        SeqState::decode(&self.state_bytes()?, n_caches)
    }

    /// The sequence state as llama.cpp writes it (see `state` for the layout).
    pub fn state_bytes(&self) -> Result<Vec<u8>> {
        ffi::state_seq_read(&self.ctx, SEQ)
    }

    /// Replaces the sequence in each KV cache whose block in `state` has cells; llama.cpp's
    /// restore skips an empty block, so that cache (an iSWA window) stays exactly as it is.
    pub fn write_state(&mut self, state: &[u8]) -> Result<()> {
        ffi::state_seq_write(&mut self.ctx, SEQ, state)
    }

    /// Gives each model layer its own KV size (kvcompose's llama.cpp patch): `n_comp[l]`
    /// compressed cells in layer `l` plus `n_tail` cells for new tokens in every layer. Discards
    /// what the (full-attention) cache holds and reallocates it; a state written next restores
    /// into the compressed cells. With `types`, that cache's K and V tensors take them (the kept
    /// cells' types, kvcompose's patch 0008); else they keep theirs.
    pub fn set_layer_cells(&mut self, n_tail: usize, n_comp: &[usize], types: Option<(KvType, KvType)>) -> Result<()> {
        let counts: Vec<u32> = n_comp.iter().map(|&n| n as u32).collect();
        let done = match types {
            Some((k, v)) => self.ctx.kv_cache_set_layer_cells_typed(n_tail as u32, &counts, k.ggml(), v.ggml()),
            None => self.ctx.kv_cache_set_layer_cells(n_tail as u32, &counts),
        };
        if !done {
            return Err(Error::llama(format!("llama.cpp refused per-layer KV sizes ({n_tail} tail cells; see -v)")));
        }
        Ok(())
    }

    /// Per-layer sizes where layer `il` also stores only the first `n_tail_layer[il]` of the
    /// `n_tail` cells for new tokens (kvcompose's llama.cpp patch): one layer holds a whole
    /// document, the others nothing. Discards what the cache holds.
    pub fn set_layer_tails(&mut self, n_tail: usize, n_comp: &[usize], n_tail_layer: &[usize]) -> Result<()> {
        let comp: Vec<u32> = n_comp.iter().map(|&n| n as u32).collect();
        let tails: Vec<u32> = n_tail_layer.iter().map(|&n| n as u32).collect();
        if !self.ctx.kv_cache_set_layer_cells_tails(n_tail as u32, &comp, &tails) {
            return Err(Error::llama(format!("llama.cpp refused per-layer KV tails ({n_tail} tail cells; see -v)")));
        }
        Ok(())
    }

    /// Cells model layer `il` stores in its K and V tensors.
    pub fn layer_cells(&self, il: usize) -> usize {
        self.ctx.kv_cache_layer_cells(il as i32) as usize
    }

    /// Tokens one ubatch holds: a longer decode is split, and on iSWA models the window cache
    /// may then slide between the parts.
    pub fn n_ubatch(&self) -> usize {
        self.ctx.n_ubatch() as usize
    }

    /// Samples up to `max_tokens` tokens after the last decoded one (at position `start - 1`),
    /// streaming text pieces to `on_text`; the caller keeps `max_tokens` within the free cells.
    /// Returns the text and the number of tokens sampled.
    pub fn generate(&mut self, sampler: &mut LlamaSampler, start: i32, max_tokens: usize, mut on_text: impl FnMut(&str)) -> Result<(String, usize)> {
        let vocab = self.model.inner.vocab();
        let mut bytes = Vec::new();
        let mut text = String::new();
        let mut pos = start;
        let mut n = 0;
        while n < max_tokens {
            let idx = self.logits_at.expect("decode the prompt with logits_last first");
            let token = sampler.sample(&self.ctx, idx);
            sampler.accept(token);
            if vocab.is_eog(token) {
                break;
            }
            bytes.extend(vocab.token_to_piece(token, false, None));
            // Print only complete UTF-8; a multi-byte character may span tokens.
            let valid = match std::str::from_utf8(&bytes) {
                Ok(s) => s.len(),
                Err(e) if e.error_len().is_some() => bytes.len(),
                Err(e) => e.valid_up_to(),
            };
            let piece = String::from_utf8_lossy(&bytes[..valid]).into_owned();
            bytes.drain(..valid);
            on_text(&piece);
            text.push_str(&piece);
            n += 1;
            if n == max_tokens {
                break;
            }
            self.decode(&[token], pos, true)?;
            pos += 1;
        }
        Ok((text, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_reduces_on_the_graph_but_for_flash_attention_over_a_quantized_k() {
        let (f16, q8_0) = (KvType::parse("f16").unwrap(), KvType::Q8_0);
        for fa in [FlashAttn::On, FlashAttn::Auto] {
            assert!(ScoreReduction::Auto.on_graph(fa, f16));
            assert!(!ScoreReduction::Auto.on_graph(fa, q8_0));
        }
        assert!(ScoreReduction::Auto.on_graph(FlashAttn::Off, q8_0));
        assert!(!ScoreReduction::Host.on_graph(FlashAttn::Off, f16));
        assert!(ScoreReduction::Graph.on_graph(FlashAttn::On, q8_0));
    }
}
