//! Compressed-cache files (`--kv-save`, `--kv-load`): a document's KV cache as kvcompose left it,
//! with what it was made from, so that a later run answers from it without reading the document
//! again and refuses a file that does not belong to its model and settings.
//!
//! Layout (after safetensors: a length-prefixed JSON header, then the raw data), little-endian:
//! ```text
//! [8]  magic b"KVCOMPOS"
//! u32  version (1)
//! u64  header length, then the header: JSON, see [`Header`]
//! u64  state length, then the state: llama.cpp's sequence state of the document (its cells and
//!      positions, then each layer's K and V rows; see `llama::state`)
//! [32] sha256 of every byte before it
//! ```
//! [`decode`] checks the magic, the version, the sizes, the checksum, the header, the state's
//! structure and that header and state agree, all before a llama.cpp context sees the bytes;
//! [`Header::check`] then names the first thing that differs from this run's model and flags.
//! Docs: `docs/design/kv-file.md`.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::llama::state::Layout;
use crate::llama::{ffi, FlashAttn, KvType, ModelIdentity};
use crate::pipeline::{CompressOptions, CompressStats};
use crate::prompt::PromptText;

pub const MAGIC: [u8; 8] = *b"KVCOMPOS";
pub const VERSION: u32 = 1;
/// Magic, version, the two lengths and the checksum.
const FIXED: usize = 8 + 4 + 8 + 8 + 32;

/// What a cache file was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub model: ModelIdentity,
    /// KV cache element types (`-ctk`, `-ctv`).
    pub type_k: String,
    pub type_v: String,
    /// Made with flash attention (V rows not transposed): it must be read with it, and without
    /// it otherwise.
    pub flash_attn: bool,
    /// Ratio, method and its options; `None` for a whole cache.
    pub compress: Option<CompressOptions>,
    /// The prompt the document was read in; each question continues it.
    pub template: PromptText,
    pub prefix_tokens: usize,
    pub doc_tokens: usize,
    /// sha256 of the document's tokens (i32, little-endian).
    pub doc_sha256: String,
    /// Per-layer budgets and cells, the compressed layers, steps and the load's timings.
    pub stats: CompressStats,
    /// Position of each cell of the compressed cache (block 0 of the state).
    pub positions: Vec<i32>,
    /// KV caches in the state: 2 on sliding-window models (the window cache second), else 1.
    pub n_blocks: usize,
}

/// A cache file, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct KvFile {
    pub header: Header,
    /// llama.cpp's sequence state, as `llama_state_seq_set_data` takes it.
    pub state: Vec<u8>,
}

/// sha256 of a document's tokens, as the header records it.
pub fn tokens_sha256(tokens: &[i32]) -> String {
    let mut h = Sha256::new();
    for t in tokens {
        h.update(t.to_le_bytes());
    }
    format!("{:x}", h.finalize())
}

/// The file's bytes.
pub fn encode(header: &Header, state: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).expect("header serialises");
    let mut out = Vec::with_capacity(FIXED + json.len() + state.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&(state.len() as u64).to_le_bytes());
    out.extend_from_slice(state);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

/// Parses and checks a file's bytes; the error says what is wrong, for `Error::KvFile`.
pub fn decode(bytes: &[u8]) -> std::result::Result<KvFile, String> {
    if bytes.len() < 8 || bytes[..8] != MAGIC {
        return Err("not a kvcompose cache file (no KVCOMPOS magic)".into());
    }
    if bytes.len() < FIXED {
        return Err(format!("truncated: {} bytes, a cache file has at least {FIXED}", bytes.len()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(format!("format version {version}; this kvcompose reads version {VERSION}"));
    }
    // The sizes the file declares, checked against its length before the checksum so that a cut
    // file is called truncated rather than corrupt.
    // Sizes come from untrusted bytes: every sum is checked.
    let u64_at = |at: usize| bytes.get(at..at.checked_add(8)?).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let header_len = u64_at(12).expect("within FIXED");
    let state_at = usize::try_from(header_len).ok().and_then(|h| h.checked_add(20));
    let declared = state_at.and_then(|s| Some((s, u64_at(s)?))).and_then(|(s, n)| usize::try_from(n).ok()?.checked_add(s.checked_add(8 + 32)?));
    match declared {
        Some(n) if n == bytes.len() => {}
        Some(n) if n > bytes.len() => return Err(format!("truncated: {} bytes, its sizes say {n}", bytes.len())),
        Some(n) => return Err(format!("{} bytes after the end ({n} bytes)", bytes.len() - n)),
        None => return Err(format!("truncated or corrupted: its sizes do not fit in its {} bytes", bytes.len())),
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != sum {
        return Err("checksum mismatch: the file is corrupted".into());
    }
    let state_at = state_at.expect("checked above");
    let header: Header = serde_json::from_slice(&bytes[20..state_at]).map_err(|e| format!("bad header: {e}"))?;
    let state = &bytes[state_at + 8..bytes.len() - 32];
    header.agrees_with(state)?;
    Ok(KvFile { header, state: state.to_vec() })
}

impl Header {
    /// The header describes this state: its caches, cells, positions, layers, types and rows.
    fn agrees_with(&self, state: &[u8]) -> std::result::Result<(), String> {
        let m = &self.model.info;
        if !(1..=2).contains(&self.n_blocks) || (self.n_blocks == 2) != m.n_swa.is_some() {
            return Err(format!("{} KV caches for a model {} sliding-window layers", self.n_blocks, if m.n_swa.is_some() { "with" } else { "without" }));
        }
        let layout = Layout::parse(state, self.n_blocks).map_err(|e| e.to_string())?;
        let cache = &layout.caches[0];
        if cache.positions != self.positions {
            return Err("the cells' positions differ from the header's".into());
        }
        let n_tokens = self.prefix_tokens + self.doc_tokens;
        if self.positions.iter().copied().max() != Some(n_tokens as i32 - 1) || self.positions.iter().any(|&p| p < 0) {
            return Err(format!("the cells do not end at the document's last position {}", n_tokens as i32 - 1));
        }
        let data = cache.data.as_ref().ok_or("the state holds no KV rows")?;
        if data.v_trans == self.flash_attn {
            return Err("the V layout does not match the header's flash-attention setting".into());
        }
        if data.layers.len() != self.stats.layer_cells.len() {
            return Err(format!("{} layers in the state, {} in the header", data.layers.len(), self.stats.layer_cells.len()));
        }
        // The cells are kept in the stored types of the cache's.
        let (tk, tv) = self.stats.store.kept_types(self.kv_type(&self.type_k)?, self.kv_type(&self.type_v)?);
        let k_row = ffi::row_size(tk.ggml(), m.head_dim_k * m.n_head_kv);
        let v_row = ffi::row_size(tv.ggml(), m.head_dim_v * m.n_head_kv);
        for (l, (layer, &cells)) in data.layers.iter().zip(&self.stats.layer_cells).enumerate() {
            let rows = if data.rows_counted { layer.rows } else { cache.n_cells() };
            if rows != cells || cells > cache.n_cells() {
                return Err(format!("layer {l} holds {rows} rows, the header says {cells}"));
            }
            let v_ok = if data.v_trans { layer.v_embd * layer.v_unit == v_row } else { layer.v_unit == v_row };
            if layer.k_type as u32 != tk.ggml() || layer.v_type as u32 != tv.ggml() || layer.k_row != k_row || !v_ok {
                return Err(format!("layer {l}'s K/V types or row sizes do not match {} K / {} V for this model's heads", tk.name(), tv.name()));
            }
        }
        Ok(())
    }

    fn kv_type(&self, name: &str) -> std::result::Result<KvType, String> {
        KvType::parse(name).map_err(|e| e.to_string())
    }

    /// This run can answer from the file: the same model (shapes and GGUF hash), cache types and
    /// attention path. Names the first difference.
    pub fn check(&self, model: &ModelIdentity, type_k: KvType, type_v: KvType, flash_attn: FlashAttn) -> std::result::Result<(), String> {
        if let Some(d) = first_difference(&self.model, model) {
            return Err(format!("it was made from another model ({d}; file: {}, this run: {})", self.model.info.name, model.info.name));
        }
        for (what, flag, file, run) in [("K", "-ctk", &self.type_k, type_k), ("V", "-ctv", &self.type_v, type_v)] {
            if !file.eq_ignore_ascii_case(run.name()) {
                return Err(format!("it holds a {file} {what} cache, this run asks for {} ({flag} {file} reads it)", run.name()));
            }
        }
        let on = |b: bool| if b { "on" } else { "off" };
        match flash_attn {
            FlashAttn::On | FlashAttn::Off if (flash_attn == FlashAttn::On) != self.flash_attn => Err(format!(
                "it was made with flash attention {}, this run has it {} (-fa {} or auto reads it)",
                on(self.flash_attn),
                on(!self.flash_attn),
                on(self.flash_attn)
            )),
            _ => Ok(()),
        }
    }
}

/// `field a (file) vs b (run)` for the first field of two identities that differs.
fn first_difference(file: &ModelIdentity, run: &ModelIdentity) -> Option<String> {
    let (a, b) = (serde_json::to_value(file).ok()?, serde_json::to_value(run).ok()?);
    let (a, b) = (a.as_object()?, b.as_object()?);
    a.iter().find(|(k, v)| b.get(*k) != Some(v)).map(|(k, v)| format!("{k} {v} vs {}", b.get(k).map_or("none".into(), ToString::to_string)))
}

/// Reads and checks the cache file at `path`.
pub fn read(path: &Path) -> Result<KvFile> {
    let bytes = std::fs::read(path).map_err(Error::io(format!("reading cache file {}", path.display())))?;
    decode(&bytes).map_err(|reason| Error::KvFile { path: path.to_path_buf(), reason })
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, flushed to disk, renamed over
/// it. A failed or killed write leaves the old file, or none.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let ctx = || format!("writing cache file {}", path.display());
    let dir = folder_of(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".kvcompose-").suffix(".tmp");
    // As any file the user writes (tempfile's own default is private): 0666 less the umask.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).map_err(Error::io(ctx()))?;
    tmp.write_all(bytes).and_then(|()| tmp.as_file().sync_all()).map_err(Error::io(ctx()))?;
    tmp.persist(path).map_err(|e| Error::Io { context: ctx(), source: e.error })?;
    // The rename itself reaches the disk with the directory.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The folder a file at `path` goes into.
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Checks, before a document is loaded, that a cache file can be written at `path`: its folder
/// exists and `path` is not a folder. (Whether the disk has room is only known when writing.)
pub fn check_target(path: &Path) -> Result<()> {
    let usage = |why: &str| Err(Error::Usage(format!("cannot write the cache file {}: {why}", path.display())));
    if path.is_dir() {
        return usage("it is a folder");
    }
    if !folder_of(path).is_dir() {
        return usage("its folder does not exist");
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::llama::state::{CacheData, CacheState, LayerKv, SeqState};
    use crate::llama::ModelInfo;
    use proptest::prelude::*;

    pub(crate) fn identity() -> ModelIdentity {
        let info = ModelInfo {
            arch: "llama".into(),
            name: "tiny".into(),
            n_layer: 2,
            n_embd: 64,
            n_head: 2,
            n_head_kv: 1,
            n_ctx_train: 512,
            recurrent: false,
            n_swa: None,
            swa_layers: Some(vec![false; 2]),
            head_dim_k: 32,
            head_dim_v: 32,
        };
        ModelIdentity { info, gguf_sha256: "00".repeat(32) }
    }

    /// A small file: 2 layers of f16 K and V (32 x 2 bytes per row), `cells` cells at 0.. with
    /// the last at the document's end, per-layer rows when `rows` differ.
    pub(crate) fn sample(rows: [usize; 2], cells: usize, flash_attn: bool) -> (Header, Vec<u8>) {
        let positions: Vec<i32> = (0..cells as i32 - 1).chain([9]).collect();
        let layer = |n: usize, seed: u8| LayerKv {
            rows: n,
            k_type: 1,
            k_row: 64,
            k: (0..n * 64).map(|i| (i as u8).wrapping_mul(seed)).collect(),
            v_type: 1,
            v_unit: if flash_attn { 64 } else { 2 },
            v_embd: if flash_attn { 0 } else { 32 },
            v: (0..n * 64).map(|i| (i as u8).wrapping_add(seed)).collect(),
        };
        let state = SeqState {
            seq_id: 0,
            caches: vec![CacheState {
                seq_ids: vec![vec![0]; cells],
                positions: positions.clone(),
                data: Some(CacheData {
                    v_trans: !flash_attn,
                    rows_counted: rows[0] != rows[1],
                    n_rot_k: 0,
                    n_rot_v: 0,
                    layers: vec![layer(rows[0], 3), layer(rows[1], 5)],
                }),
            }],
        };
        let stats = CompressStats { cells_full: 10, mean_layer_cells: cells, layer_cells: rows.to_vec(), compressed_layers: vec![0, 1], ..Default::default() };
        let header = Header {
            model: identity(),
            type_k: "f16".into(),
            type_v: "f16".into(),
            flash_attn,
            compress: None,
            template: PromptText { prefix: "Document:\n".into(), tail_before_question: "\nQ: ".into(), tail_after_question: "\nA:".into(), templated: false },
            prefix_tokens: 2,
            doc_tokens: 8,
            doc_sha256: tokens_sha256(&[1, 2, 3]),
            stats,
            positions,
            n_blocks: 1,
        };
        (header, state.encode())
    }

    #[test]
    fn roundtrips_uniform_and_per_layer_caches() {
        for (rows, cells, fa) in [([4, 4], 4, true), ([4, 4], 4, false), ([4, 2], 4, true), ([1, 3], 3, false)] {
            let (h, s) = sample(rows, cells, fa);
            let f = decode(&encode(&h, &s)).unwrap();
            assert_eq!((f.header, f.state), (h, s));
        }
    }

    fn err(bytes: &[u8]) -> String {
        decode(bytes).expect_err("should be refused")
    }

    #[test]
    fn names_what_is_wrong() {
        let (h, s) = sample([4, 2], 4, true);
        let good = encode(&h, &s);
        assert!(err(b"GGUF").contains("not a kvcompose cache file"));
        assert!(err(&good[..good.len() - 1]).contains("truncated"));
        assert!(err(&good[..30]).contains("truncated"));
        let mut longer = good.clone();
        longer.push(0);
        assert!(err(&longer).contains("bytes after the end"));
        // Sizes near the top of u64 (found by the fuzzer): refused, no overflow.
        for huge in [u64::MAX, u64::MAX - 19, (usize::MAX - 27) as u64] {
            let mut bad = good.clone();
            bad[12..20].copy_from_slice(&huge.to_le_bytes());
            assert!(err(&bad).contains("truncated"), "{huge}");
        }
        let mut v2 = good.clone();
        v2[8] = 2;
        assert!(err(&v2).contains("format version 2"));
        let mut flipped = good.clone();
        let at = good.len() - 40;
        flipped[at] ^= 1;
        assert!(err(&flipped).contains("checksum mismatch"));
        // A well-formed file whose header does not describe its state.
        let mut other = h.clone();
        other.stats.layer_cells = vec![4, 3];
        assert!(err(&encode(&other, &s)).contains("layer 1 holds 2 rows"));
        let mut other = h.clone();
        other.positions[0] = 7;
        assert!(err(&encode(&other, &s)).contains("positions differ"));
        let mut other = h.clone();
        other.flash_attn = false;
        assert!(err(&encode(&other, &s)).contains("V layout"));
        let mut other = h.clone();
        other.type_k = "q8_0".into();
        assert!(err(&encode(&other, &s)).contains("row sizes"));
        let mut other = h;
        other.doc_tokens = 20;
        assert!(err(&encode(&other, &s)).contains("last position 21"));
    }

    #[test]
    fn check_names_the_first_difference_from_this_run() {
        let (h, _) = sample([4, 4], 4, true);
        let f16 = KvType::parse("f16").unwrap();
        assert_eq!(h.check(&identity(), f16, f16, FlashAttn::Auto), Ok(()));
        let mut other = identity();
        other.gguf_sha256 = "11".repeat(32);
        assert!(h.check(&other, f16, f16, FlashAttn::Auto).unwrap_err().contains("another model (gguf_sha256"));
        other = identity();
        other.info.n_layer = 30;
        assert!(h.check(&other, f16, f16, FlashAttn::On).unwrap_err().contains("n_layer 2 vs 30"));
        let q8 = KvType::parse("q8_0").unwrap();
        assert!(h.check(&identity(), f16, q8, FlashAttn::On).unwrap_err().contains("f16 V cache, this run asks for q8_0 (-ctv f16"));
        assert!(h.check(&identity(), f16, f16, FlashAttn::Off).unwrap_err().contains("flash attention on, this run has it off"));
    }

    #[test]
    fn writes_atomically_over_an_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.kvc");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        assert!(write_atomic(&dir.path().join("missing/doc.kvc"), b"x").is_err());
    }

    #[test]
    fn a_target_in_a_missing_folder_or_on_a_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_target(&dir.path().join("doc.kvc")).is_ok());
        let missing = check_target(&dir.path().join("missing/doc.kvc")).unwrap_err().to_string();
        assert!(missing.contains("its folder does not exist"), "{missing}");
        assert!(check_target(dir.path()).unwrap_err().to_string().contains("it is a folder"));
        assert!(check_target(Path::new("doc.kvc")).is_ok());
    }

    /// The fuzz target's seed (written by `fuzz/seed.py`) is a valid file body.
    #[test]
    fn the_fuzz_seed_is_a_valid_file() {
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&VERSION.to_le_bytes());
        file.extend_from_slice(include_bytes!("../fuzz/seeds/kv_file/small.bin"));
        let sum = Sha256::digest(&file);
        file.extend_from_slice(&sum);
        let f = decode(&file).unwrap();
        assert_eq!(f.header.stats.layer_cells, [3, 2]);
    }

    proptest! {
        /// Every corrupted byte or cut is refused: the checksum covers every byte before it, and
        /// the sizes are checked first.
        #[test]
        fn any_corruption_is_an_error_not_a_panic(at in 0usize..10_000, bit in 0u8..8, cut in 0usize..10_000, per_layer: bool) {
            let (h, s) = sample(if per_layer { [4, 2] } else { [4, 4] }, 4, per_layer);
            let good = encode(&h, &s);
            let mut bad = good.clone();
            bad[at % good.len()] ^= 1 << bit;
            prop_assert!(decode(&bad).is_err());
            prop_assert!(decode(&good[..cut % good.len()]).is_err());
        }
    }
}
