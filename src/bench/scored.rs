//! The benchmark's fast path: a case's document is read and scored once; every setting is then
//! a compression on the host from those scores, restored into a fresh context, with no decode of
//! the document. The scores do not depend on the ratio, method, budgets or score aggregation, so
//! they can be kept on disk (`--scores DIR`), and a later run with other settings reads no
//! document at all. For llama-architecture models this is what the layer-by-layer prefill does.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::kvfile;
use crate::llama::callback::HeadCellMax;
use crate::llama::Model;
use crate::pipeline::{ScoredDocument, Scorer, ALONE_CHUNK};
use crate::qa::{DocumentSession, QaOptions};

const MAGIC: &[u8; 8] = b"KVSCORES";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    n_prefix: usize,
    n_head: usize,
    n_cells: usize,
    n_layers: usize,
    t_prefill_ms: f64,
    t_score_ms: f64,
    state_len: usize,
}

/// Where scored documents are kept between runs (`None`: scored anew every run).
pub struct ScoreStore {
    pub dir: Option<PathBuf>,
}

impl ScoreStore {
    /// Where the scored `document` is kept (`None` without a store).
    fn path(&self, model: &Model, document: &str, opts: &QaOptions) -> Result<Option<PathBuf>> {
        let Some(dir) = &self.dir else { return Ok(None) };
        Ok(Some(dir.join(format!("{}.bin", key(model, document, opts)?))))
    }

    /// The scored `document` from the store, or read and scored now (and then stored).
    pub fn get(&self, model: &Model, document: &str, opts: &QaOptions) -> Result<ScoredDocument> {
        let (Some(dir), Some(path)) = (&self.dir, self.path(model, document, opts)?) else { return DocumentSession::score(model, document, opts) };
        if let Ok(bytes) = std::fs::read(&path) {
            // A damaged entry is scored again and replaced.
            if let Ok(doc) = decode(&bytes) {
                return Ok(doc);
            }
        }
        let doc = DocumentSession::score(model, document, opts)?;
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        kvfile::write_atomic(&path, &encode(&doc))?;
        Ok(doc)
    }
}

/// What the scores depend on: the model, the cache types and attention path, the scorer and
/// the document.
fn key(model: &Model, document: &str, opts: &QaOptions) -> Result<String> {
    let p = &opts.session;
    let scorer = opts.compress.as_ref().map(|c| c.scorer.resolve(c, &model.info));
    // The chunk of copies alone has changed (1k tokens, then 2k): part of what they score.
    let chunk = if scorer == Some(Scorer::Chunks) { format!("{ALONE_CHUNK}|") } else { String::new() };
    let id = format!("{}|{}|{}|{:?}|{:?}|{chunk}", model.identity()?.gguf_sha256, p.type_k.name(), p.type_v.name(), p.flash_attn, scorer);
    let mut h = Sha256::new();
    h.update(id.as_bytes());
    h.update(document.as_bytes());
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn encode(doc: &ScoredDocument) -> Vec<u8> {
    let first = doc.maxima.first();
    let header = Header {
        n_prefix: doc.n_prefix,
        n_head: first.map_or(0, |m| m.n_head),
        n_cells: first.map_or(0, |m| m.n_cells),
        n_layers: doc.maxima.len(),
        t_prefill_ms: doc.t_prefill_ms,
        t_score_ms: doc.t_score_ms,
        state_len: doc.state.len(),
    };
    let json = serde_json::to_vec(&header).expect("header serialises");
    let mut out = Vec::with_capacity(doc.state.len() + header.n_layers * header.n_head * header.n_cells * 4 + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for m in &doc.maxima {
        out.extend_from_slice(bytemuck::cast_slice(&m.data));
    }
    out.extend_from_slice(&doc.state);
    out
}

fn decode(bytes: &[u8]) -> std::result::Result<ScoredDocument, String> {
    let take = |at: usize, n: usize| at.checked_add(n).and_then(|end| bytes.get(at..end)).ok_or("truncated");
    if take(0, 8)? != MAGIC || take(8, 4)? != VERSION.to_le_bytes() {
        return Err("not a kvcompose scores file of this version".into());
    }
    let n_json = usize::try_from(u64::from_le_bytes(take(12, 8)?.try_into().expect("8 bytes"))).map_err(|_| "header size")?;
    let h: Header = serde_json::from_slice(take(20, n_json)?).map_err(|e| e.to_string())?;
    let per_layer = h.n_head.checked_mul(h.n_cells).ok_or("sizes")?;
    let mut at = 20 + n_json;
    let mut maxima = Vec::with_capacity(h.n_layers);
    for _ in 0..h.n_layers {
        let raw = take(at, per_layer.checked_mul(4).ok_or("sizes")?)?;
        maxima.push(HeadCellMax {
            n_head: h.n_head,
            n_cells: h.n_cells,
            data: raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect(),
        });
        at += raw.len();
    }
    if bytes.len() - at != h.state_len {
        return Err("truncated".into());
    }
    Ok(ScoredDocument { state: bytes[at..].to_vec(), maxima, n_prefix: h.n_prefix, t_prefill_ms: h.t_prefill_ms, t_score_ms: h.t_score_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip_and_damage_is_refused() {
        let doc = ScoredDocument {
            state: vec![1, 2, 3, 4, 5],
            maxima: vec![HeadCellMax { n_head: 2, n_cells: 3, data: vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6] }; 2],
            n_prefix: 7,
            t_prefill_ms: 1.5,
            t_score_ms: 2.5,
        };
        let bytes = encode(&doc);
        let back = decode(&bytes).unwrap();
        assert_eq!((back.state, back.maxima, back.n_prefix, back.t_score_ms), (doc.state, doc.maxima, 7, 2.5));
        assert!(decode(&bytes[..30]).is_err());
        assert!(decode(b"KVSCORES\x09\0\0\0").is_err());
    }
}
