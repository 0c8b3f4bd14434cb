//! Rewriting the live KV cache: a sequence state recomposed, in its own buffer, from a
//! per-layer, per-head selection.

use super::state::{v_trans_word, DataLayout, LayerKv, Layout};
use super::{ffi, KvType};
use crate::compress::Selection;
use crate::error::{Error, Result};

/// Rewrites the raw sequence state `buf` (holding `n_caches` KV caches) so that cache block
/// `block` holds the composite cells of `sel`: cell `i` of layer `l` holds, for KV head `h`, the
/// K and V bytes of old cell `sel.sources[l][h][i]`. The other blocks (an iSWA window) are
/// emptied: writing the result back leaves their caches untouched.
///
/// Layers may keep different numbers of cells (per-layer sizes): layer `l` then holds the first
/// `sel.sources[l][h].len()` of the `sel.positions.len()` cells, and the state counts each
/// layer's rows. Old states with per-layer rows are read the same way.
///
/// In place, because the state is the size of the cache: when the composed state never gets
/// ahead of what is still to be read (compression keeps fewer cells), it is written behind the
/// read cursor and the only extra memory is one layer's K or V; otherwise it reads from a copy.
pub fn compose(buf: &mut Vec<u8>, n_caches: usize, block: usize, sel: &Selection, n_head_kv: usize) -> Result<()> {
    let layout = Layout::parse(buf, n_caches)?;
    let cache = layout.caches.get(block).ok_or_else(|| Error::StateFormat(format!("no KV cache block {block}")))?;
    let data = cache.data.as_ref().ok_or_else(|| Error::StateFormat("empty KV cache".into()))?;
    if data.layers.len() != sel.sources.len() {
        return Err(Error::StateFormat(format!("{} layers in the cache, {} in the selection", data.layers.len(), sel.sources.len())));
    }
    let n_out = sel.positions.len();
    for l in &data.layers {
        splits_into_heads(l.k_row, l.v_unit, l.v_embd, data.v_trans, n_head_kv)?;
    }
    // Rows per layer out: every head of a layer keeps the same number, at most the cells.
    let mut rows_out = Vec::with_capacity(sel.sources.len());
    for (l, heads) in data.layers.iter().zip(&sel.sources) {
        let n = heads.first().map_or(0, Vec::len);
        if heads.len() != n_head_kv || heads.iter().any(|h| h.len() != n) || n > n_out {
            return Err(Error::StateFormat(format!("a selection for {n_head_kv} heads per layer of at most {n_out} cells is not that shape")));
        }
        if heads.iter().flatten().any(|&c| c >= l.rows) {
            return Err(Error::StateFormat("selection refers to a cell beyond the cache".into()));
        }
        rows_out.push(n);
    }
    let counted = rows_out.iter().any(|&n| n != n_out);

    let copy = (!fits_in_place(block, data, &rows_out, n_out, counted)).then(|| buf.clone());
    let mut w = Writer { buf, at: 8 };
    let mut old = Vec::new();
    for b in 0..layout.caches.len() {
        w.u32(1);
        if b != block {
            w.u32(0);
            continue;
        }
        w.u32(n_out as u32);
        for &pos in &sel.positions {
            w.bytes(&pos.to_le_bytes());
            w.u32(1);
            w.bytes(&layout.seq_id.to_le_bytes());
        }
        for x in [v_trans_word(data.v_trans, counted), data.layers.len() as u32, data.n_rot_k, data.n_rot_v] {
            w.u32(x);
        }
        for ((l, src), &n) in data.layers.iter().zip(&sel.sources).zip(&rows_out) {
            w.bytes(&l.k_type.to_le_bytes());
            w.bytes(&(l.k_row as u64).to_le_bytes());
            if counted {
                w.u32(n as u32);
            }
            // The old rows go aside first: the new ones overwrite them.
            set_aside(&mut old, copy.as_deref().unwrap_or(w.buf.as_slice()), &l.k);
            heads_of_rows(&old, l.k_row, src, |b| w.bytes(b));
        }
        for ((l, src), &n) in data.layers.iter().zip(&sel.sources).zip(&rows_out) {
            w.bytes(&l.v_type.to_le_bytes());
            if data.v_trans {
                w.u32(l.v_unit as u32);
                w.u32(l.v_embd as u32);
            } else {
                w.bytes(&(l.v_unit as u64).to_le_bytes());
            }
            if counted {
                w.u32(n as u32);
            }
            set_aside(&mut old, copy.as_deref().unwrap_or(w.buf.as_slice()), &l.v);
            if data.v_trans {
                heads_of_planes(&old, l.rows, l.v_unit, l.v_embd, src, |b| w.bytes(b));
            } else {
                heads_of_rows(&old, l.v_unit, src, |b| w.bytes(b));
            }
        }
    }
    let end = w.at;
    buf.truncate(end);
    Ok(())
}

/// One layer's decoded rows recomposed per head, as [`compose`] recomposes them inside a state:
/// head `h` of row `i` becomes head `h` of row `sources[h][i]`.
pub fn gather_layer(l: &LayerKv, sources: &[Vec<usize>], v_trans: bool) -> Result<LayerKv> {
    let n = sources.first().map_or(0, Vec::len);
    if sources.is_empty() || sources.iter().any(|h| h.len() != n) || sources.iter().flatten().any(|&c| c >= l.rows) {
        return Err(Error::StateFormat(format!("a selection of {n} cells per head from {} rows is not that shape", l.rows)));
    }
    splits_into_heads(l.k_row, l.v_unit, l.v_embd, v_trans, sources.len())?;
    let (mut k, mut v) = (Vec::with_capacity(n * l.k_row), Vec::with_capacity(l.v.len() / l.rows.max(1) * n));
    heads_of_rows(&l.k, l.k_row, sources, |b| k.extend_from_slice(b));
    if v_trans {
        heads_of_planes(&l.v, l.rows, l.v_unit, l.v_embd, sources, |b| v.extend_from_slice(b));
    } else {
        heads_of_rows(&l.v, l.v_unit, sources, |b| v.extend_from_slice(b));
    }
    Ok(LayerKv { rows: n, k_type: l.k_type, k_row: l.k_row, k, v_type: l.v_type, v_unit: l.v_unit, v_embd: l.v_embd, v })
}

/// Stores every K and V row of a layer in `k` and `v` (ggml's rounding through f32): the kept
/// cells in the types they are kept in. V must be in rows (flash attention) to change its type.
pub fn layer_as(l: &mut LayerKv, v_trans: bool, k: KvType, v: KvType) -> Result<()> {
    if l.k_type as u32 != k.ggml() {
        (l.k, l.k_row) = ffi::convert_rows(l.k_type as u32, &l.k, l.k_row, k.ggml())?;
        l.k_type = k.ggml() as i32;
    }
    if l.v_type as u32 == v.ggml() {
        return Ok(());
    }
    if v_trans {
        return Err(Error::UnsupportedCacheType(format!("V kept in {} needs flash attention (-fa on)", v.name())));
    }
    (l.v, l.v_unit) = ffi::convert_rows(l.v_type as u32, &l.v, l.v_unit, v.ggml())?;
    l.v_type = v.ggml() as i32;
    Ok(())
}

/// Rows of `k_row` (K) and `v_unit` (V rows) bytes, or `v_embd` V elements a cell, that split
/// into `n_head` whole blocks per head.
fn splits_into_heads(k_row: usize, v_unit: usize, v_embd: usize, v_trans: bool, n_head: usize) -> Result<()> {
    if k_row % n_head != 0 || (!v_trans && v_unit % n_head != 0) || (v_trans && v_embd % n_head != 0) {
        return Err(Error::UnsupportedCacheType("rows that do not split into whole blocks per head".into()));
    }
    Ok(())
}

/// Composite rows from `rows` (one row of `row` bytes per old cell, head-major), emitted in
/// order: slot `i` takes head `h` of old row `sources[h][i]`.
fn heads_of_rows(rows: &[u8], row: usize, sources: &[Vec<usize>], mut emit: impl FnMut(&[u8])) {
    let hb = row / sources.len();
    for i in 0..sources.first().map_or(0, Vec::len) {
        for (h, s) in sources.iter().enumerate() {
            emit(&rows[s[i] * row + h * hb..][..hb]);
        }
    }
}

/// The same for transposed V (`v_embd` element-major planes of `n_rows` elements of `el`
/// bytes): element `j` of slot `i` comes from old cell `sources[j / head_dim][i]`.
fn heads_of_planes(v: &[u8], n_rows: usize, el: usize, v_embd: usize, sources: &[Vec<usize>], mut emit: impl FnMut(&[u8])) {
    let head_dim = v_embd / sources.len();
    for j in 0..v_embd {
        let plane = &v[j * n_rows * el..(j + 1) * n_rows * el];
        for &c in &sources[j / head_dim] {
            emit(&plane[c * el..(c + 1) * el]);
        }
    }
}

/// Whether the composed state stays behind the read cursor: each layer's K or V is set aside
/// once its header is written, so the header must end before that data starts.
fn fits_in_place(block: usize, data: &DataLayout, rows_out: &[usize], n_out: usize, counted: bool) -> bool {
    let count = if counted { 4 } else { 0 };
    // Blocks before ours are emptied (8 bytes each), ours lists its cells and a 16-byte header.
    let mut at = 8 + 8 * block + 8 + 12 * n_out + 16;
    let mut ok = true;
    for (l, &n) in data.layers.iter().zip(rows_out) {
        at += 12 + count;
        ok &= at <= l.k.start;
        at += n * l.k_row;
    }
    for (l, &n) in data.layers.iter().zip(rows_out) {
        at += 12 + count;
        ok &= at <= l.v.start;
        at += n * if data.v_trans { l.v_embd * l.v_unit } else { l.v_unit };
    }
    ok
}

/// Writes over a buffer from a cursor that stays behind the bytes still to be read (or reads
/// come from a copy and the buffer grows).
struct Writer<'a> {
    buf: &'a mut Vec<u8>,
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        if self.at + b.len() > self.buf.len() {
            self.buf.resize(self.at + b.len(), 0);
        }
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u32(&mut self, x: u32) {
        self.bytes(&x.to_le_bytes());
    }
}

/// Copies `range` of `from` into `old`, reusing its allocation.
fn set_aside(old: &mut Vec<u8>, from: &[u8], range: &std::ops::Range<usize>) {
    old.clear();
    old.extend_from_slice(&from[range.clone()]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llama::state::tests::{sample, sample_rows};
    use crate::llama::state::SeqState;
    use proptest::prelude::*;

    /// Composes `s` with `sources` (per layer, per head) and checks every head's bytes.
    fn check_compose(s: &SeqState, sources: &[Vec<Vec<usize>>], n_out: usize, n_head_kv: usize) -> std::result::Result<(), TestCaseError> {
        let sel = Selection { sources: sources.to_vec(), positions: (0..n_out as i32).map(|p| p * 2).collect() };
        let mut buf = s.encode();
        compose(&mut buf, s.caches.len(), 0, &sel, n_head_kv).unwrap();
        let out = SeqState::decode(&buf, s.caches.len()).unwrap();
        let (old, new) = (s.caches[0].data.as_ref().unwrap(), out.caches[0].data.as_ref().unwrap());
        prop_assert_eq!(&out.caches[0].positions, &sel.positions);
        prop_assert!(out.caches.iter().skip(1).all(|c| c.n_cells() == 0));
        prop_assert_eq!(new.rows_counted, sources.iter().any(|l| l[0].len() != n_out));
        for (l, heads) in sources.iter().enumerate() {
            prop_assert_eq!(new.layers[l].rows, heads[0].len());
            for i in 0..heads[0].len() {
                for (h, src) in heads.iter().enumerate() {
                    let c = src[i];
                    prop_assert_eq!(new.layers[l].k_head(i, h, n_head_kv), old.layers[l].k_head(c, h, n_head_kv));
                    prop_assert_eq!(new.layers[l].v_head_bytes(i, h, n_head_kv, old.v_trans), old.layers[l].v_head_bytes(c, h, n_head_kv, old.v_trans));
                }
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn compose_moves_each_heads_bytes_and_empties_the_other_blocks(n_cells in 2usize..12, n_layer in 1usize..3, v_trans: bool, window: bool, seed in 0u64..1000) {
            let n_head_kv = 3;
            let s = sample(n_cells, n_layer, v_trans, n_head_kv, window);
            // Up to three cells more than the cache holds (repeats), which reads from a copy.
            let n_out = 1 + (seed as usize % (n_cells + 3));
            let sources: Vec<Vec<Vec<usize>>> = (0..n_layer)
                .map(|l| (0..n_head_kv).map(|h| (0..n_out).map(|i| (i * (h + 2) + l + seed as usize) % n_cells).collect()).collect())
                .collect();
            check_compose(&s, &sources, n_out, n_head_kv)?;
            // One layer gathered on its own is what the composed state holds for it.
            let mut buf = s.encode();
            compose(&mut buf, s.caches.len(), 0, &Selection { sources: sources.clone(), positions: (0..n_out as i32).collect() }, n_head_kv).unwrap();
            let composed = SeqState::decode(&buf, s.caches.len()).unwrap();
            let data = s.caches[0].data.as_ref().unwrap();
            for (l, heads) in sources.iter().enumerate() {
                prop_assert_eq!(&gather_layer(&data.layers[l], heads, v_trans).unwrap(), &composed.caches[0].data.as_ref().unwrap().layers[l]);
            }
        }

        /// Per-layer sizes: layers hold different numbers of rows before and after.
        #[test]
        fn compose_with_per_layer_rows(rows_in in proptest::collection::vec(1usize..10, 1..4), v_trans: bool, window: bool, seed in 0u64..1000) {
            let n_head_kv = 2;
            let n_cells = rows_in.iter().max().unwrap() + seed as usize % 3;
            let s = sample_rows(&rows_in, n_cells, v_trans, n_head_kv, window);
            let rows_out: Vec<usize> = rows_in.iter().enumerate().map(|(l, &r)| 1 + (seed as usize + l * 5) % (r + 2)).collect();
            let n_out = *rows_out.iter().max().unwrap();
            let sources: Vec<Vec<Vec<usize>>> = rows_out
                .iter()
                .zip(&rows_in)
                .enumerate()
                .map(|(l, (&n, &r))| (0..n_head_kv).map(|h| (0..n).map(|i| (i * (h + 3) + l + seed as usize) % r).collect()).collect())
                .collect();
            check_compose(&s, &sources, n_out, n_head_kv)?;
        }
    }

    #[test]
    fn selections_of_the_wrong_shape_are_errors() {
        let s = sample(4, 1, false, 2, false);
        let bad = [
            Selection { sources: vec![vec![vec![0, 9], vec![0, 1]]], positions: vec![0, 1] },
            Selection { sources: vec![vec![vec![0], vec![0, 1]]], positions: vec![0, 1] },
            Selection { sources: vec![vec![vec![0, 1], vec![0, 1]]; 2], positions: vec![0, 1] },
            Selection { sources: vec![vec![vec![0, 1, 2], vec![0, 1, 2]]], positions: vec![0, 1] },
        ];
        for sel in bad {
            let mut buf = s.encode();
            assert!(compose(&mut buf, 1, 0, &sel, 2).is_err(), "{sel:?}");
        }
    }
}
