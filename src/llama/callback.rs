//! The eval-callback hook that gathers attention scores during scoring passes.
//!
//! Without flash attention it reads `kq_soft_max-L` (probabilities, `[n_kv, n_tokens, n_head]`,
//! column = cache cell). With flash attention there is no probability tensor, so it asks for the
//! flash-attention node of each layer and recomputes `softmax(scale * q.k + mask)` from that node's own inputs:
//! the (rotated, RoPE'd) queries, the cached keys of the same cells and the same mask, which
//! makes both paths agree on the same cells. Per layer it keeps, for each query head and cell,
//! the maximum probability over all scoring queries.
//!
//! With kvcompose's llama.cpp patches (`llama_set_attn_scores`) llama.cpp itself reduces the
//! probabilities to their max over a batch's queries, and the probe reads that `attn_scores-L`
//! tensor, `[n_kv, 1, n_head]`, where the pass's scope allows it (`SessionParams::scores`):
//! on the CPU with flash attention over an f16/f32 K the kernel writes it beside its output
//! (the node's sixth source), otherwise ops on the graph form it (a `pool_2d` node).

use std::ops::Range;

use rayon::prelude::*;

use super::ffi::{self, EvalHook, Op, Tensor};

/// Max attention probability per (query head, cell) of one layer, `data[h * n_cells + c]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadCellMax {
    pub n_head: usize,
    pub n_cells: usize,
    pub data: Vec<f32>,
}

impl HeadCellMax {
    fn new(n_head: usize, n_cells: usize) -> Self {
        HeadCellMax { n_head, n_cells, data: vec![0.0; n_head * n_cells] }
    }

    pub fn head(&self, h: usize) -> &[f32] {
        &self.data[h * self.n_cells..(h + 1) * self.n_cells]
    }

    /// Takes the max with `other`'s scores of the same heads and cells: a cell's score over
    /// several passes.
    pub fn raise(&mut self, other: &HeadCellMax) {
        debug_assert_eq!((self.n_head, self.n_cells), (other.n_head, other.n_cells));
        self.data.iter_mut().zip(&other.data).for_each(|(a, &b)| *a = a.max(b));
    }
}

/// Which attention path the graph used, as seen by the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeenPaths {
    pub softmax: bool,
    pub flash_attn: bool,
}

/// Which query rows and cells of a scoring pass count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassScope {
    /// Leading query rows that do not score (a prompt before the scoring tokens).
    pub skip: usize,
    /// Cells left out of the scores and of the softmax's normalisation, so the pass scores the
    /// other cells as if these were absent (KVzip scores each chunk against itself).
    pub excluded: Vec<Range<usize>>,
}

/// Per cell of `n_kv`: whether one of `excluded` holds it.
fn dead_cells(excluded: &[Range<usize>], n_kv: usize) -> Vec<bool> {
    let mut dead = vec![false; n_kv];
    for r in excluded {
        dead[r.start.min(n_kv)..r.end.min(n_kv)].fill(true);
    }
    dead
}

/// A layer whose KV head `g` attends to only the first `live[g]` of the `slots` compressed
/// cells: the others hold other layers' or heads' tokens and are masked out of its softmax
/// (per-layer budgets inside shared cells; per-head budgets inside a layer's cells).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSlots {
    pub live: Vec<usize>,
    pub slots: usize,
}

#[derive(Debug, Default)]
pub struct AttentionProbe {
    /// Per model layer: `Some` while that layer is being scored.
    layers: Vec<Option<HeadCellMax>>,
    /// Per model layer: its live compressed cells, applied to every graph while set.
    pub live: Vec<Option<LiveSlots>>,
    scope: PassScope,
    /// Query rows each layer has seen so far (a pass may span several ubatches).
    rows_seen: Vec<usize>,
    /// Read the graph's `attn_scores-L` nodes instead of the attention nodes.
    on_graph: bool,
    /// Per model layer: nodes reduced in this pass.
    nodes_seen: Vec<usize>,
    /// Attention nodes seen in any graph, armed or not.
    pub seen: SeenPaths,
    pub error: Option<String>,
}

/// Where a layer's scores come from.
enum Source<'t> {
    /// `kq_soft_max`'s probabilities, reduced on the host.
    Softmax,
    /// Recomputed on the host from the flash-attention node's inputs.
    FlashAttn,
    /// Already reduced by llama.cpp (kvcompose's patch): the `attn_scores` tensor.
    Graph(Tensor<'t>),
}

fn layer_of(name: &str, prefix: &str) -> Option<usize> {
    name.strip_prefix(prefix)?.strip_prefix('-')?.parse().ok()
}

/// Layer of a view of llama.cpp's cache tensor, named `cache_k_l<il>` (plus view suffixes).
fn cache_layer(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("cache_k_l")?;
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse().ok()
}

impl AttentionProbe {
    /// Starts a scoring pass over the first `n_cells[i]` attention columns of layer
    /// `scored[i]` (with per-layer KV sizes, a layer's own cells), by the queries of the pass's
    /// tokens after the first `scope.skip`; `on_graph`: read from the graph's `attn_scores`
    /// nodes, which llama.cpp forms from those queries only (the session sets where they start).
    pub fn arm(&mut self, n_layer: usize, scored: &[usize], n_head: usize, n_cells: &[usize], scope: PassScope, on_graph: bool) {
        self.layers = (0..n_layer).map(|_| None).collect();
        self.rows_seen = vec![0; n_layer];
        self.nodes_seen = vec![0; n_layer];
        self.scope = scope;
        self.on_graph = on_graph;
        for (&l, &n) in scored.iter().zip(n_cells) {
            self.layers[l] = Some(HeadCellMax::new(n_head, n));
        }
        self.error = None;
    }

    /// Ends the pass and returns the per-layer maxima (`None` for unscored layers), and a
    /// scored layer whose attention the pass never saw, if any.
    pub fn disarm(&mut self) -> (Vec<Option<HeadCellMax>>, Option<usize>) {
        let unseen = self.layers.iter().zip(&self.nodes_seen).position(|(m, &n)| m.is_some() && n == 0);
        (std::mem::take(&mut self.layers), unseen)
    }

    fn target<'t>(&mut self, t: &Tensor<'t>) -> Option<(usize, Source<'t>)> {
        let (layer, source) = match (t.op(), self.on_graph) {
            (Op::SoftMax, false) => (layer_of(t.name(), "kq_soft_max")?, Source::Softmax),
            // The flash-attention node is unnamed; its K input is a view of `cache_k_l<il>`.
            (Op::FlashAttn, false) => (cache_layer(t.src(1)?.name())?, Source::FlashAttn),
            (Op::Pool2d, true) => (layer_of(t.name(), "attn_scores")?, Source::Graph(*t)),
            // On the CPU the flash-attention kernel writes them into its sixth source.
            (Op::FlashAttn, true) => {
                let scores = t.src(5)?;
                (layer_of(scores.name(), "attn_scores")?, Source::Graph(scores))
            }
            _ => return None,
        };
        self.layers.get(layer)?.as_ref()?;
        Some((layer, source))
    }

    fn live_of(&self, t: &Tensor<'_>) -> Option<(usize, LiveSlots)> {
        if t.op() != Op::SoftMax {
            return None;
        }
        let layer = layer_of(t.name(), "kq_soft_max")?;
        Some((layer, self.live.get(layer)?.clone()?))
    }

    fn fail(&mut self, msg: String) -> bool {
        self.error.get_or_insert(msg);
        true // keep computing; the error is reported after decode
    }
}

impl EvalHook for AttentionProbe {
    fn ask(&mut self, t: &Tensor<'_>) -> bool {
        match t.op() {
            Op::SoftMax if t.name().starts_with("kq_soft_max") => self.seen.softmax = true,
            Op::FlashAttn => self.seen.flash_attn = true,
            _ => {}
        }
        self.target(t).is_some() || self.live_of(t).is_some() || (t.op() == Op::FlashAttn && self.live.iter().any(Option::is_some))
    }

    fn eval(&mut self, t: &Tensor<'_>) -> bool {
        // Masking comes first, so a scoring pass sees each layer's live cells only.
        if let Some((layer, live)) = self.live_of(t) {
            if let Err(e) = mask_softmax(t, live) {
                return self.fail(format!("layer {layer}: {e}"));
            }
        } else if t.op() == Op::FlashAttn && self.live.iter().any(Option::is_some) {
            return self.fail("per-layer budgets mask the attention probabilities, which flash attention never forms: use -fa off".into());
        }
        let Some((layer, source)) = self.target(t) else { return true };
        let acc = self.layers[layer].as_mut().expect("target checked");
        let first_row = self.scope.skip.saturating_sub(self.rows_seen[layer]);
        self.nodes_seen[layer] += 1;
        let result = match source {
            Source::Softmax => reduce_softmax(t, acc, first_row, &self.scope.excluded),
            Source::Graph(scores) => reduce_graph_scores(&scores, acc),
            Source::FlashAttn => reduce_flash_attn(t, acc, first_row, &self.scope.excluded),
        };
        // Rows of this node: its query tokens (`ne[1]` of the softmax, of q for flash attention).
        self.rows_seen[layer] += match source {
            Source::Softmax => t.ne()[1],
            _ => t.src(0).map_or(0, |q| q.ne()[1]),
        };
        match result {
            Ok(()) => true,
            Err(e) => self.fail(format!("layer {layer}: {e}")),
        }
    }
}

fn f32s(bytes: &[u8]) -> std::borrow::Cow<'_, [f32]> {
    match bytemuck::try_cast_slice(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()),
    }
}

/// Zeroes the cells `[live, slots)` of every row of a `kq_soft_max` node and renormalises the
/// row: the same probabilities as a softmax that never saw those cells.
fn mask_softmax(t: &Tensor<'_>, m: LiveSlots) -> Result<(), String> {
    let [n_kv, n_tokens, n_head, _] = t.ne();
    let nb = t.nb();
    if nb[0] != 4 || m.live.is_empty() || n_head % m.live.len() != 0 {
        return Err(format!("unexpected kq_soft_max strides {nb:?} or {} query heads for {} KV heads", n_head, m.live.len()));
    }
    let group = n_head / m.live.len();
    let (s1, s2) = (nb[1] / 4, nb[2] / 4);
    t.update_f32(|p| {
        for h in 0..n_head {
            let dead = m.live[h / group].min(n_kv)..m.slots.min(n_kv);
            for q in 0..n_tokens {
                let row = &mut p[h * s2 + q * s1..][..n_kv];
                let kept = 1.0 - row[dead.clone()].iter().sum::<f32>();
                row[dead.clone()].fill(0.0);
                if kept > 0.0 {
                    row.iter_mut().for_each(|x| *x /= kept);
                }
            }
        }
    })
}

/// `kq_soft_max`: `[n_kv, n_tokens, n_head]` f32; max over the token rows from `first_row` into
/// `acc`, each row renormalised without the `excluded` cells.
fn reduce_softmax(t: &Tensor<'_>, acc: &mut HeadCellMax, first_row: usize, excluded: &[Range<usize>]) -> Result<(), String> {
    let [n_kv, n_tokens, n_head, _] = t.ne();
    let nb = t.nb();
    if t.ggml_type() != llama_cpp_sys_2::GGML_TYPE_F32 || n_head != acc.n_head || nb[0] != 4 {
        return Err(format!("unexpected kq_soft_max layout {:?} {:?}", t.ne(), nb));
    }
    let n_cells = acc.n_cells.min(n_kv);
    let bytes = t.bytes();
    let probs = f32s(&bytes);
    let (s1, s2) = (nb[1] / 4, nb[2] / 4);
    let dead = dead_cells(excluded, n_kv);
    acc.data.par_chunks_mut(acc.n_cells).enumerate().for_each(|(h, out)| {
        for q in first_row..n_tokens {
            let row = &probs[h * s2 + q * s1..][..n_kv];
            let kept = 1.0 - row.iter().zip(&dead).filter(|(_, &d)| d).map(|(p, _)| p).sum::<f32>();
            if kept <= 0.0 {
                continue;
            }
            for (c, (o, &p)) in out.iter_mut().zip(&row[..n_cells]).enumerate() {
                if !dead[c] {
                    *o = o.max(p / kept);
                }
            }
        }
    });
    Ok(())
}

/// `attn_scores` (kvcompose's llama.cpp patch): `[n_kv, 1, n_head]` f32, each head's
/// probabilities already reduced to their max over the batch's queries on the graph.
fn reduce_graph_scores(t: &Tensor<'_>, acc: &mut HeadCellMax) -> Result<(), String> {
    let [n_kv, rows, n_head, n_stream] = t.ne();
    if t.ggml_type() != llama_cpp_sys_2::GGML_TYPE_F32 || rows != 1 || n_head != acc.n_head || n_stream != 1 || t.nb()[2] != n_kv * 4 {
        return Err(format!("unexpected attn_scores layout {:?} {:?}", t.ne(), t.nb()));
    }
    let n_cells = acc.n_cells.min(n_kv);
    let bytes = t.bytes();
    let maxima = f32s(&bytes);
    for (out, head) in acc.data.chunks_mut(acc.n_cells).zip(maxima.chunks(n_kv)) {
        for (o, &p) in out[..n_cells].iter_mut().zip(head) {
            *o = o.max(p);
        }
    }
    Ok(())
}

/// `flash_attn_ext(q, k, v, mask)`: recompute the probabilities of the scored cells for the
/// query rows from `first_row`, without the `excluded` cells.
fn reduce_flash_attn(t: &Tensor<'_>, acc: &mut HeadCellMax, first_row: usize, excluded: &[Range<usize>]) -> Result<(), String> {
    let (Some(q), Some(k)) = (t.src(0), t.src(1)) else { return Err("flash attention node without q/k".into()) };
    let mask = t.src(3);
    let scale = t.op_param_f32(0);
    let max_bias = t.op_param_f32(1);
    let softcap = t.op_param_f32(2);
    if max_bias != 0.0 || softcap != 0.0 {
        return Err("ALiBi or logit soft-capping is not supported by the scorer".into());
    }
    let [hd, n_tokens, n_head, _] = q.ne();
    let [hd_k, n_kv, n_head_kv, _] = k.ne();
    if q.ggml_type() != llama_cpp_sys_2::GGML_TYPE_F32 || hd != hd_k || n_head != acc.n_head || n_head_kv == 0 {
        return Err(format!("unexpected flash attention layout q {:?} k {:?}", q.ne(), k.ne()));
    }
    let group = n_head / n_head_kv;

    // Keys of every cell, dequantized: kf[(g * n_kv + c) * hd ..].
    let kb = k.bytes();
    let knb = k.nb();
    let mut kf = Vec::with_capacity(n_head_kv * n_kv * hd);
    for g in 0..n_head_kv {
        for c in 0..n_kv {
            let at = g * knb[2] + c * knb[1];
            ffi::to_f32(k.ggml_type(), &kb[at..], hd, &mut kf).map_err(|e| e.to_string())?;
        }
    }
    // The mask (f16, one row per query) is converted a block of rows at a time, once for all
    // heads: a whole f32 copy would be `n_tokens x n_kv` floats, the largest host buffer of a
    // long document.
    let mask = mask.map(|m| (m.ggml_type(), m.nb()[1], m.bytes()));
    if let Some((ty, row, mb)) = &mask {
        let need = (n_tokens.max(1) - 1) * row + ffi::row_size(*ty, n_kv);
        if mb.len() < need {
            return Err(format!("flash attention mask of {} bytes, {need} expected", mb.len()));
        }
    }
    let qb = q.bytes();
    let qnb = q.nb();
    let qf = f32s(&qb);
    let (q_row, q_head) = (qnb[1] / 4, qnb[2] / 4);
    if q_row < hd || (n_head - 1) * q_head + n_tokens.max(1).saturating_sub(1) * q_row + hd > qf.len() {
        return Err(format!("flash attention queries of {} floats for strides {qnb:?}", qf.len()));
    }
    let n_cells = acc.n_cells.min(n_kv);
    let dead = dead_cells(excluded, n_kv);
    let block = (BLOCK_FLOATS / n_kv.max(1)).clamp(8, 128);
    let mut bias = Vec::with_capacity(block * n_kv);
    for r0 in (first_row..n_tokens).step_by(block) {
        let rows = block.min(n_tokens - r0);
        // Each row's additive mask, with the excluded cells masked too; under a causal mask
        // the cells past the block's last visible one need no logits at all.
        bias.clear();
        for i in 0..rows {
            match &mask {
                Some((ty, row, mb)) => ffi::to_f32(*ty, &mb[(r0 + i) * row..], n_kv, &mut bias).map_err(|e| e.to_string())?,
                None => bias.resize((i + 1) * n_kv, 0.0),
            }
            for (b, _) in bias[i * n_kv..].iter_mut().zip(&dead).filter(|(_, &d)| d) {
                *b = f32::NEG_INFINITY;
            }
        }
        let n_vis = bias.chunks_exact(n_kv).map(|m| m.iter().rposition(|&m| m != f32::NEG_INFINITY).map_or(0, |c| c + 1)).max().unwrap_or(0);
        if n_vis > 0 {
            let bias = &bias;
            acc.data.par_chunks_mut(acc.n_cells).enumerate().for_each(|(h, out)| {
                LOGITS.with_borrow_mut(|logits| {
                    let keys = &kf[(h / group) * n_kv * hd..][..n_vis * hd];
                    logits.resize(rows * n_vis, 0.0);
                    ffi::gemm_rows(rows, hd, scale, &qf[h * q_head + r0 * q_row..], q_row, keys, logits);
                    for (l, m) in logits.chunks_exact_mut(n_vis).zip(bias.chunks_exact(n_kv)) {
                        let Some(sum) = softmax_in_place(l, &m[..n_vis]) else { continue };
                        // Masked and excluded cells hold 0 now, which leaves their maximum alone.
                        let inv = 1.0 / sum;
                        for (o, &l) in out[..n_cells.min(n_vis)].iter_mut().zip(l.iter()) {
                            *o = o.max(l * inv);
                        }
                    }
                });
            });
        }
    }
    Ok(())
}

/// Lanes of the vectorised loops below: independent accumulators, so that the compiler can
/// keep them in SIMD registers without reassociating floating-point sums itself.
const LANES: usize = 16;

/// `l = exp(l + m - max)` over the row, returning the sum of the exponentials (the softmax's
/// normaliser), or `None` when every cell is masked.
fn softmax_in_place(l: &mut [f32], m: &[f32]) -> Option<f32> {
    let mut max = [f32::NEG_INFINITY; LANES];
    let (mut lc, mc) = (l.chunks_exact_mut(LANES), m.chunks_exact(LANES));
    let tail_m = mc.remainder();
    for (l, m) in (&mut lc).zip(mc) {
        for i in 0..LANES {
            l[i] += m[i];
            max[i] = max[i].max(l[i]);
        }
    }
    let mut max = max.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for (l, &m) in lc.into_remainder().iter_mut().zip(tail_m) {
        *l += m;
        max = max.max(*l);
    }
    if max == f32::NEG_INFINITY {
        return None;
    }
    let mut sum = [0f32; LANES];
    let mut lc = l.chunks_exact_mut(LANES);
    for l in &mut lc {
        for i in 0..LANES {
            l[i] = exp(l[i] - max);
            sum[i] += l[i];
        }
    }
    let mut sum = sum.iter().sum::<f32>();
    for l in lc.into_remainder() {
        *l = exp(*l - max);
        sum += *l;
    }
    Some(sum)
}

/// `e^x` within a few ulp for `x <= 0`, 0 below -87 (so a masked cell's `-inf` gives 0):
/// Cephes' `expf` polynomial after a Cody-Waite reduction, branch-free so that the softmax's
/// loops vectorise (a call to libm's `expf` per cell was the scorer's largest cost).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let xc = x.clamp(-87.0, 88.0);
    let t = xc * LOG2E + ROUND;
    let n = t - ROUND;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r + 0.5;
    let p = p * r * r + r + 1.0;
    let two_n = f32::from_bits(((t.to_bits() as i32 - ROUND.to_bits() as i32 + 127) << 23) as u32);
    if x < -87.0 {
        0.0
    } else {
        p * two_n
    }
}

/// Floats of one block of logits (and of its mask) in the flash-attention recompute: its query
/// rows, 8 to 128, amortise matrixmultiply's packing of the keys (a strided copy for every
/// product), and one block per thread keeps a 16k-token document's buffers at a few MiB.
const BLOCK_FLOATS: usize = 1 << 20;

thread_local! {
    /// One block of logits per scoring thread, kept between blocks and layers.
    static LOGITS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn exp_is_within_a_few_ulp_of_libm(x in -87.0f32..=0.0) {
            let (ours, libm) = (exp(x), x.exp());
            prop_assert!((ours - libm).abs() <= 4.0 * f32::EPSILON * libm, "exp({x}) = {ours}, libm {libm}");
        }

        #[test]
        fn softmax_in_place_matches_the_plain_softmax(row in prop::collection::vec((-30.0f32..30.0, any::<bool>()), 1..70)) {
            let mut l: Vec<f32> = row.iter().map(|r| r.0).collect();
            let m: Vec<f32> = row.iter().map(|r| if r.1 { f32::NEG_INFINITY } else { 0.0 }).collect();
            let live: Vec<f32> = row.iter().filter(|r| !r.1).map(|r| r.0).collect();
            let sum = softmax_in_place(&mut l, &m);
            if live.is_empty() {
                prop_assert!(sum.is_none());
                return Ok(());
            }
            let max = live.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let want: f32 = live.iter().map(|x| (x - max).exp()).sum();
            let sum = sum.unwrap();
            prop_assert!((sum - want).abs() <= 1e-5 * want);
            for (i, r) in row.iter().enumerate() {
                if r.1 {
                    prop_assert_eq!(l[i], 0.0);
                } else {
                    prop_assert!((l[i] - (r.0 - max).exp()).abs() <= 1e-6);
                }
            }
        }
    }

    #[test]
    fn exp_of_a_masked_cell_is_zero() {
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }
}
