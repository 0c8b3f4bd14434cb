//! Rewriting the live KV cache: a composed sequence state from a per-layer, per-head selection.

use super::state::{CacheState, SeqState};
use crate::compress::Selection;
use crate::error::{Error, Result};

/// Returns `state` with cache block `block` replaced by the composite cells of `sel`: cell `i` of
/// layer `l` holds, for KV head `h`, the K and V bytes of old cell `sel.sources[l][h][i]`.
/// The other blocks (an iSWA window) are emptied: writing the result back leaves their caches
/// untouched. Takes the state by value, so the old block is dropped when the composed one
/// replaces it.
pub fn compose(mut state: SeqState, block: usize, sel: &Selection, n_head_kv: usize) -> Result<SeqState> {
    let cache = state.caches.get(block).ok_or_else(|| Error::StateFormat(format!("no KV cache block {block}")))?;
    let data = cache.data.as_ref().ok_or_else(|| Error::StateFormat("empty KV cache".into()))?;
    if data.layers.len() != sel.sources.len() {
        return Err(Error::StateFormat(format!("{} layers in the cache, {} in the selection", data.layers.len(), sel.sources.len())));
    }
    let n_in = cache.n_cells();
    for l in &data.layers {
        if l.k_row % n_head_kv != 0 || (!data.v_trans && l.v_unit % n_head_kv != 0) || (data.v_trans && l.v_embd % n_head_kv != 0) {
            return Err(Error::UnsupportedCacheType("rows that do not split into whole blocks per head".into()));
        }
    }
    if sel.sources.iter().flatten().flatten().any(|&c| c >= n_in) {
        return Err(Error::StateFormat("selection refers to a cell beyond the cache".into()));
    }
    let layers = data.layers.iter().zip(&sel.sources).map(|(l, src)| l.compose(src, n_in, data.v_trans)).collect();
    let data = super::state::CacheData { layers, ..data.clone_header() };
    for c in &mut state.caches {
        *c = CacheState { positions: Vec::new(), seq_ids: Vec::new(), data: None };
    }
    state.caches[block] = CacheState {
        positions: sel.positions.clone(),
        seq_ids: vec![vec![state.seq_id]; sel.positions.len()],
        data: Some(data),
    };
    Ok(state)
}

impl super::state::CacheData {
    fn clone_header(&self) -> Self {
        Self { v_trans: self.v_trans, n_rot_k: self.n_rot_k, n_rot_v: self.n_rot_v, layers: Vec::new() }
    }
}
