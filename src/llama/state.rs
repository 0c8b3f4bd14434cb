//! Codec for llama.cpp's per-sequence state (`llama_state_seq_get_data`) of attention KV caches.
//!
//! Layout (little-endian), as written by `llama_kv_cache::state_write`:
//! ```text
//! u32 magic | i32 seq_id | one block per KV cache (iSWA models: base cache, then SWA cache)
//! block: u32 n_stream, per stream: u32 cell_count (0: stream empty, next stream)
//!   cells: i32 pos, u32 n_seq_id, n_seq_id * i32 seq_id
//!   u32 v_trans (bit 0; bit 1: rows counted) | u32 n_layer | u32 n_rot_k | u32 n_rot_v
//!   per layer: i32 k_type, u64 k_row_bytes, [u32 rows], rows
//!   !v_trans: per layer: i32 v_type, u64 v_row_bytes, [u32 rows], rows
//!    v_trans: per layer: i32 v_type, u32 el_size, u32 n_embd_v, [u32 rows], n_embd_v * rows elements
//! ```
//! A layer holds one row per cell (`rows` = `cell_count`), except in a cache with per-layer sizes
//! (kvcompose's llama.cpp patch, `llama_memory_set_layer_cells`): there bit 1 is set and each
//! layer's row count follows its header; its rows are the first cells of the state.
//! Rows are head-major, so head `h` of a row is bytes `[h*row/n_head_kv, (h+1)*row/n_head_kv)`.

use std::ops::Range;

use crate::error::{Error, Result};

pub const MAGIC: u32 = 0xaf14_3cd8;

/// The `v_trans` word of a cache block: bit 0 transposed V, bit 1 per-layer row counts follow.
pub fn v_trans_word(v_trans: bool, rows_counted: bool) -> u32 {
    u32::from(v_trans) | if rows_counted { 2 } else { 0 }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeqState {
    pub seq_id: i32,
    pub caches: Vec<CacheState>,
}

/// One KV cache's part of the state. Only single-stream caches are supported.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheState {
    pub positions: Vec<i32>,
    pub seq_ids: Vec<Vec<i32>>,
    pub data: Option<CacheData>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheData {
    pub v_trans: bool,
    /// Each layer's row count is written (per-layer sizes).
    pub rows_counted: bool,
    pub n_rot_k: u32,
    pub n_rot_v: u32,
    pub layers: Vec<LayerKv>,
}

/// K and V of one layer for all cells of the cache state.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerKv {
    /// Cells this layer holds: the first `rows` of the state's cells.
    pub rows: usize,
    pub k_type: i32,
    pub k_row: usize,
    /// `cells * k_row` bytes, row per cell.
    pub k: Vec<u8>,
    pub v_type: i32,
    /// Non-transposed: bytes per cell row. Transposed: bytes per element.
    pub v_unit: usize,
    /// Transposed only: elements per cell (`n_embd_v_gqa`).
    pub v_embd: usize,
    /// Non-transposed: `cells * v_row`. Transposed: `v_embd * cells * el_size`, element-major.
    pub v: Vec<u8>,
}

impl CacheState {
    pub fn n_cells(&self) -> usize {
        self.positions.len()
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| Error::StateFormat(format!("truncated at byte {} reading {what} ({n} bytes)", self.at)))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn range(&mut self, count: usize, unit: usize, what: &str) -> Result<Range<usize>> {
        let n = count.checked_mul(unit).ok_or_else(|| Error::StateFormat(format!("size overflow in {what}")))?;
        let start = self.at;
        self.take(n, what)?;
        Ok(start..self.at)
    }
}

const MAX_LAYERS: u32 = 4096;
const MAX_SEQ_IDS: u32 = 256;

/// Where each part of a sequence state lies in its bytes, parsed without copying them.
#[derive(Debug, Clone)]
pub struct Layout {
    pub seq_id: i32,
    pub caches: Vec<CacheLayout>,
}

#[derive(Debug, Clone)]
pub struct CacheLayout {
    pub positions: Vec<i32>,
    pub seq_ids: Vec<Vec<i32>>,
    /// Bytes of this block's header and cell list (`n_stream` up to the data).
    pub head: Range<usize>,
    pub data: Option<DataLayout>,
}

#[derive(Debug, Clone)]
pub struct DataLayout {
    pub v_trans: bool,
    pub rows_counted: bool,
    pub n_rot_k: u32,
    pub n_rot_v: u32,
    pub layers: Vec<LayerLayout>,
}

/// One layer's K and V: their headers (as in `LayerKv`) and the byte ranges of their data.
#[derive(Debug, Clone)]
pub struct LayerLayout {
    pub rows: usize,
    pub k_type: i32,
    pub k_row: usize,
    pub k: Range<usize>,
    pub v_type: i32,
    pub v_unit: usize,
    pub v_embd: usize,
    pub v: Range<usize>,
}

impl LayerLayout {
    /// This layer's K and V, copied out of the state `buf` it was parsed from.
    pub fn copy_from(&self, buf: &[u8]) -> LayerKv {
        LayerKv {
            rows: self.rows,
            k_type: self.k_type,
            k_row: self.k_row,
            k: buf[self.k.clone()].to_vec(),
            v_type: self.v_type,
            v_unit: self.v_unit,
            v_embd: self.v_embd,
            v: buf[self.v.clone()].to_vec(),
        }
    }
}

impl CacheLayout {
    pub fn n_cells(&self) -> usize {
        self.positions.len()
    }
}

impl Layout {
    /// Parses a sequence state holding `n_caches` KV caches (2 for iSWA models).
    pub fn parse(buf: &[u8], n_caches: usize) -> Result<Layout> {
        let mut r = Reader { buf, at: 0 };
        let magic = r.u32("magic")?;
        if magic != MAGIC {
            return Err(Error::StateFormat(format!("bad magic {magic:#x}, expected {MAGIC:#x}")));
        }
        let seq_id = r.i32("seq_id")?;
        let caches = (0..n_caches).map(|_| parse_cache(&mut r)).collect::<Result<Vec<_>>>()?;
        if r.at != buf.len() {
            return Err(Error::StateFormat(format!("{} trailing bytes", buf.len() - r.at)));
        }
        Ok(Layout { seq_id, caches })
    }
}

impl SeqState {
    /// Parses a sequence state holding `n_caches` KV caches, copying out its K and V.
    pub fn decode(buf: &[u8], n_caches: usize) -> Result<SeqState> {
        let layout = Layout::parse(buf, n_caches)?;
        let caches = layout
            .caches
            .into_iter()
            .map(|c| CacheState {
                positions: c.positions,
                seq_ids: c.seq_ids,
                data: c.data.map(|d| CacheData {
                    v_trans: d.v_trans,
                    rows_counted: d.rows_counted,
                    n_rot_k: d.n_rot_k,
                    n_rot_v: d.n_rot_v,
                    layers: d.layers.iter().map(|l| l.copy_from(buf)).collect(),
                }),
            })
            .collect();
        Ok(SeqState { seq_id: layout.seq_id, caches })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.caches.iter().map(encoded_len_hint).sum::<usize>() + 8);
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&self.seq_id.to_le_bytes());
        for cache in &self.caches {
            encode_cache(cache, &mut out);
        }
        out
    }
}

fn parse_cache(r: &mut Reader) -> Result<CacheLayout> {
    let start = r.at;
    let n_stream = r.u32("n_stream")?;
    if n_stream != 1 {
        return Err(Error::StateFormat(format!("{n_stream} KV streams; only a unified cache (1 stream) is supported")));
    }
    let cell_count = r.u32("cell_count")? as usize;
    if cell_count > r.buf.len() / 8 {
        return Err(Error::StateFormat(format!("cell count {cell_count} exceeds the state size")));
    }
    let mut positions = Vec::with_capacity(cell_count);
    let mut seq_ids = Vec::with_capacity(cell_count);
    for _ in 0..cell_count {
        positions.push(r.i32("cell pos")?);
        let n = r.u32("cell n_seq_id")?;
        if n > MAX_SEQ_IDS {
            return Err(Error::StateFormat(format!("cell with {n} sequence ids")));
        }
        seq_ids.push((0..n).map(|_| r.i32("cell seq_id")).collect::<Result<Vec<_>>>()?);
    }
    let head = start..r.at;
    if cell_count == 0 {
        return Ok(CacheLayout { positions, seq_ids, head, data: None });
    }
    let word = r.u32("v_trans")?;
    if word > 3 {
        return Err(Error::StateFormat(format!("v_trans = {word}")));
    }
    let (v_trans, rows_counted) = (word & 1 == 1, word & 2 == 2);
    let rows_of = |r: &mut Reader, what: &str| -> Result<usize> {
        if !rows_counted {
            return Ok(cell_count);
        }
        match r.u32(what)? as usize {
            n if n <= cell_count => Ok(n),
            n => Err(Error::StateFormat(format!("{what}: {n} rows of {cell_count} cells"))),
        }
    };
    let n_layer = r.u32("n_layer")?;
    if n_layer == 0 || n_layer > MAX_LAYERS {
        return Err(Error::StateFormat(format!("n_layer = {n_layer}")));
    }
    let n_rot_k = r.u32("n_rot_k")?;
    let n_rot_v = r.u32("n_rot_v")?;
    let mut layers = Vec::with_capacity(n_layer as usize);
    for _ in 0..n_layer {
        let k_type = r.i32("k_type")?;
        let k_row = r.u64("k_row_bytes")? as usize;
        let rows = rows_of(r, "K row count")?;
        let k = r.range(rows, k_row, "K rows")?;
        layers.push(LayerLayout { rows, k_type, k_row, k, v_type: 0, v_unit: 0, v_embd: 0, v: 0..0 });
    }
    for layer in &mut layers {
        layer.v_type = r.i32("v_type")?;
        if v_trans {
            layer.v_unit = r.u32("v el_size")? as usize;
            layer.v_embd = r.u32("n_embd_v_gqa")? as usize;
        } else {
            layer.v_unit = r.u64("v_row_bytes")? as usize;
        }
        if rows_of(r, "V row count")? != layer.rows {
            return Err(Error::StateFormat("a layer's K and V hold different row counts".into()));
        }
        layer.v = match v_trans {
            true => {
                let n = layer.v_embd.checked_mul(layer.rows).ok_or_else(|| Error::StateFormat("V size overflow".into()))?;
                r.range(n, layer.v_unit, "V elements")?
            }
            false => r.range(layer.rows, layer.v_unit, "V rows")?,
        };
    }
    Ok(CacheLayout { positions, seq_ids, head, data: Some(DataLayout { v_trans, rows_counted, n_rot_k, n_rot_v, layers }) })
}

fn encoded_len_hint(c: &CacheState) -> usize {
    c.data.as_ref().map_or(0, |d| d.layers.iter().map(|l| l.k.len() + l.v.len() + 32).sum()) + c.n_cells() * 12 + 32
}

fn encode_cache(c: &CacheState, out: &mut Vec<u8>) {
    let put32 = |out: &mut Vec<u8>, x: u32| out.extend_from_slice(&x.to_le_bytes());
    put32(out, 1);
    put32(out, c.n_cells() as u32);
    for (pos, ids) in c.positions.iter().zip(&c.seq_ids) {
        out.extend_from_slice(&pos.to_le_bytes());
        put32(out, ids.len() as u32);
        for id in ids {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    let Some(d) = &c.data else { return };
    put32(out, v_trans_word(d.v_trans, d.rows_counted));
    put32(out, d.layers.len() as u32);
    put32(out, d.n_rot_k);
    put32(out, d.n_rot_v);
    let rows = |out: &mut Vec<u8>, l: &LayerKv| {
        if d.rows_counted {
            put32(out, l.rows as u32);
        }
    };
    for l in &d.layers {
        out.extend_from_slice(&l.k_type.to_le_bytes());
        out.extend_from_slice(&(l.k_row as u64).to_le_bytes());
        rows(out, l);
        out.extend_from_slice(&l.k);
    }
    for l in &d.layers {
        out.extend_from_slice(&l.v_type.to_le_bytes());
        if d.v_trans {
            put32(out, l.v_unit as u32);
            put32(out, l.v_embd as u32);
        } else {
            out.extend_from_slice(&(l.v_unit as u64).to_le_bytes());
        }
        rows(out, l);
        out.extend_from_slice(&l.v);
    }
}

impl LayerKv {
    /// Bytes of KV head `h` of cell `cell` in K.
    pub fn k_head(&self, cell: usize, h: usize, n_head_kv: usize) -> &[u8] {
        let hb = self.k_row / n_head_kv;
        &self.k[cell * self.k_row + h * hb..cell * self.k_row + (h + 1) * hb]
    }

    /// Bytes of KV head `h` of cell `cell` in V (non-transposed V only).
    pub fn v_head(&self, cell: usize, h: usize, n_head_kv: usize) -> &[u8] {
        let hb = self.v_unit / n_head_kv;
        &self.v[cell * self.v_unit + h * hb..cell * self.v_unit + (h + 1) * hb]
    }

    /// V bytes of head `h` of cell `cell`, gathered from the transposed planes when needed.
    pub fn v_head_bytes(&self, cell: usize, h: usize, n_head_kv: usize, v_trans: bool) -> Vec<u8> {
        if !v_trans {
            return self.v_head(cell, h, n_head_kv).to_vec();
        }
        let (head_dim, el, n) = (self.v_embd / n_head_kv, self.v_unit, self.rows);
        (h * head_dim..(h + 1) * head_dim).flat_map(|j| self.v[(j * n + cell) * el..(j * n + cell + 1) * el].iter().copied()).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A state of `n_cells` cells with distinct bytes everywhere; `window` adds a second block
    /// (an iSWA window cache) after the first.
    pub(crate) fn sample(n_cells: usize, n_layer: usize, v_trans: bool, n_head_kv: usize, window: bool) -> SeqState {
        sample_rows(&vec![n_cells; n_layer], n_cells, v_trans, n_head_kv, window)
    }

    /// As `sample`, with layer `l` holding the first `rows[l]` cells (per-layer sizes when they
    /// differ from `n_cells`).
    pub(crate) fn sample_rows(rows: &[usize], n_cells: usize, v_trans: bool, n_head_kv: usize, window: bool) -> SeqState {
        let row = 8 * n_head_kv;
        let layers = rows
            .iter()
            .enumerate()
            .map(|(l, &n_cells)| LayerKv {
                rows: n_cells,
                k_type: 1,
                k_row: row,
                k: (0..n_cells * row).map(|i| (i * 7 + l) as u8).collect(),
                v_type: 1,
                v_unit: if v_trans { 2 } else { row },
                v_embd: if v_trans { 4 * n_head_kv } else { 0 },
                v: (0..n_cells * row).map(|i| (i * 13 + l) as u8).collect(),
            })
            .collect();
        let cache = CacheState {
            positions: (0..n_cells as i32).collect(),
            seq_ids: vec![vec![0]; n_cells],
            data: Some(CacheData { v_trans, rows_counted: rows.iter().any(|&r| r != n_cells), n_rot_k: 0, n_rot_v: 0, layers }),
        };
        let caches = if window { vec![cache.clone(), cache] } else { vec![cache] };
        SeqState { seq_id: 0, caches }
    }

    proptest! {
        #[test]
        fn roundtrip(n_cells in 1usize..20, n_layer in 1usize..4, v_trans: bool, n_head_kv in 1usize..4) {
            let s = sample(n_cells, n_layer, v_trans, n_head_kv, false);
            let bytes = s.encode();
            prop_assert_eq!(SeqState::decode(&bytes, 1).unwrap(), s);
        }

        #[test]
        fn roundtrip_with_per_layer_rows(rows in proptest::collection::vec(0usize..12, 1..4), extra in 1usize..4, v_trans: bool, window: bool) {
            let n_cells = rows.iter().max().unwrap() + extra;
            let s = sample_rows(&rows, n_cells, v_trans, 2, window);
            prop_assert!(s.caches[0].data.as_ref().unwrap().rows_counted);
            prop_assert_eq!(SeqState::decode(&s.encode(), s.caches.len()).unwrap(), s);
        }

        #[test]
        fn truncation_is_an_error_not_a_panic(cut in 0usize..200) {
            let bytes = sample(5, 2, true, 2, true).encode();
            let cut = cut.min(bytes.len() - 1);
            prop_assert!(SeqState::decode(&bytes[..cut], 2).is_err());
        }
    }

    #[test]
    fn rejects_bad_magic_and_trailing_bytes() {
        let mut bytes = sample(2, 1, false, 1, false).encode();
        assert!(SeqState::decode(&bytes, 1).is_ok());
        bytes.push(0);
        assert!(SeqState::decode(&bytes, 1).is_err());
        bytes[0] ^= 1;
        assert!(SeqState::decode(&bytes, 1).is_err());
    }
}
