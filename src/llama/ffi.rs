//! Every `unsafe` call of kvcompose lives here, behind safe functions and types:
//! the eval-callback trampoline, read access to ggml tensors inside it, GGUF inspection,
//! type conversion through ggml's type traits and raw sequence-state transfer.

use std::borrow::Cow;
use std::ffi::{c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Mutex;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::session::LlamaStateSeqFlags;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_sys_2 as sys;

use crate::error::{Error, Result};

/// Receives the scheduler's eval callbacks. Implementations must not block for long: every
/// node they ask for forces a synchronisation of the backend.
pub trait EvalHook: Send {
    /// Whether to see `t` once it is computed.
    fn ask(&mut self, t: &Tensor<'_>) -> bool;
    /// `t` is computed and its data readable; return false to abort the graph.
    fn eval(&mut self, t: &Tensor<'_>) -> bool;
}

/// Installs `hook` as the eval callback of contexts made from `params`.
///
/// The returned params hold a pointer to `hook`: the caller must keep the `Box` alive, and not
/// move its contents, for as long as any context created from them lives.
pub fn with_eval_hook<H: EvalHook>(params: LlamaContextParams, hook: &Mutex<H>) -> LlamaContextParams {
    // SAFETY: the trampoline only reaches `hook` through a shared reference to the Mutex,
    // never unwinds (catch_unwind), and the caller keeps the Mutex alive beyond the context.
    unsafe { params.with_cb_eval(Some(trampoline::<H>), std::ptr::from_ref(hook).cast_mut().cast()) }
}

unsafe extern "C" fn trampoline<H: EvalHook>(t: *mut sys::ggml_tensor, ask: bool, user_data: *mut c_void) -> bool {
    if t.is_null() || user_data.is_null() {
        return !ask;
    }
    // SAFETY: user_data is the `&Mutex<H>` given to `with_eval_hook`, alive while the context
    // lives; `t` is a valid graph node for the duration of this call.
    let hook = unsafe { &*(user_data as *const Mutex<H>) };
    let tensor = Tensor { raw: unsafe { &*t } };
    catch_unwind(AssertUnwindSafe(|| {
        let Ok(mut hook) = hook.lock() else { return !ask };
        if ask {
            hook.ask(&tensor)
        } else {
            hook.eval(&tensor)
        }
    }))
    // A panic must not cross into C: refuse the node (ask) or abort the graph (eval).
    .unwrap_or(false)
}

/// Read-only view of a ggml tensor inside the eval callback.
#[derive(Clone, Copy)]
pub struct Tensor<'a> {
    raw: &'a sys::ggml_tensor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Rope,
    SoftMax,
    FlashAttn,
    /// A pooling node: kvcompose's `attn_scores-<il>` (max over queries) is one.
    Pool2d,
    Other,
}

impl<'a> Tensor<'a> {
    pub fn name(&self) -> &'a str {
        // SAFETY: ggml keeps `name` NUL-terminated within its 64 bytes.
        let name = unsafe { CStr::from_ptr(self.raw.name.as_ptr()) };
        name.to_str().unwrap_or("")
    }

    pub fn op(&self) -> Op {
        match self.raw.op {
            sys::GGML_OP_ROPE => Op::Rope,
            sys::GGML_OP_SOFT_MAX => Op::SoftMax,
            sys::GGML_OP_FLASH_ATTN_EXT => Op::FlashAttn,
            sys::GGML_OP_POOL_2D => Op::Pool2d,
            _ => Op::Other,
        }
    }

    pub fn ne(&self) -> [usize; 4] {
        self.raw.ne.map(|n| usize::try_from(n).unwrap_or(0))
    }

    pub fn nb(&self) -> [usize; 4] {
        self.raw.nb
    }

    pub fn ggml_type(&self) -> u32 {
        self.raw.type_
    }

    pub fn op_param_f32(&self, i: usize) -> f32 {
        f32::from_bits(self.raw.op_params[i] as u32)
    }

    pub fn src(&self, i: usize) -> Option<Tensor<'a>> {
        let p = *self.raw.src.get(i)?;
        // SAFETY: sources of a graph node outlive the callback invocation.
        (!p.is_null()).then(|| Tensor { raw: unsafe { &*p } })
    }

    /// The bytes the tensor spans (`ggml_nbytes`, strides included): borrowed when its buffer
    /// is in host memory, copied from the device otherwise.
    pub fn bytes(&self) -> Cow<'a, [u8]> {
        let raw: *const sys::ggml_tensor = self.raw;
        // SAFETY: `raw` is a live tensor; for host buffers `data` points at `ggml_nbytes` bytes
        // that stay valid until the scheduler resumes, after this callback returns.
        unsafe {
            let n = sys::ggml_nbytes(raw);
            if self.raw.data.is_null() || n == 0 {
                return Cow::Borrowed(&[]);
            }
            if !self.raw.buffer.is_null() && sys::ggml_backend_buffer_is_host(self.raw.buffer) {
                Cow::Borrowed(std::slice::from_raw_parts(self.raw.data as *const u8, n))
            } else {
                let mut out = vec![0u8; n];
                sys::ggml_backend_tensor_get(raw, out.as_mut_ptr().cast(), 0, n);
                Cow::Owned(out)
            }
        }
    }
}

impl Tensor<'_> {
    /// Rewrites the tensor's f32 values in place (`ggml_nbytes` of them, strides included):
    /// directly in host memory, or copied from and back to the device. Only inside the eval
    /// callback, where the scheduler waits and the next nodes read what is written.
    pub fn update_f32(&self, f: impl FnOnce(&mut [f32])) -> std::result::Result<(), String> {
        if self.raw.type_ != sys::GGML_TYPE_F32 {
            return Err(format!("{} is not f32", self.name()));
        }
        let raw: *const sys::ggml_tensor = self.raw;
        // SAFETY: as in `bytes`: `data` spans `ggml_nbytes` bytes, alive and not read by ggml
        // while this callback runs; no other Rust reference to them exists meanwhile.
        unsafe {
            let n = sys::ggml_nbytes(raw);
            if self.raw.data.is_null() || n == 0 {
                return Ok(());
            }
            if !self.raw.buffer.is_null() && sys::ggml_backend_buffer_is_host(self.raw.buffer) {
                let ptr = self.raw.data as *mut f32;
                if !ptr.is_aligned() {
                    return Err(format!("{} is not aligned for f32", self.name()));
                }
                f(std::slice::from_raw_parts_mut(ptr, n / 4));
            } else {
                let mut buf = vec![0f32; n / 4];
                sys::ggml_backend_tensor_get(raw, buf.as_mut_ptr().cast(), 0, n);
                f(&mut buf);
                sys::ggml_backend_tensor_set(raw.cast_mut(), buf.as_ptr().cast(), 0, n);
            }
        }
        Ok(())
    }
}

/// Converts `n` values of ggml type `ty` at the start of `src` to f32, appending to `out`.
pub fn to_f32(ty: u32, src: &[u8], n: usize, out: &mut Vec<f32>) -> Result<()> {
    if ty == sys::GGML_TYPE_F32 {
        let bytes = src.get(..n * 4).ok_or_else(|| Error::llama("short f32 row"))?;
        out.extend(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())));
        return Ok(());
    }
    // SAFETY: type traits are static tables; `row_size` bounds the bytes `to_float` reads and
    // `out` has room for `n` floats.
    unsafe {
        let traits = sys::ggml_get_type_traits(ty);
        let to_float = traits.as_ref().and_then(|t| t.to_float).ok_or_else(|| Error::UnsupportedCacheType(type_name(ty)))?;
        let need = sys::ggml_row_size(ty, n as i64);
        if src.len() < need {
            return Err(Error::llama(format!("short {} row", type_name(ty))));
        }
        out.reserve(n);
        let at = out.len();
        to_float(src.as_ptr().cast(), out.as_mut_ptr().add(at), n as i64);
        out.set_len(at + n);
    }
    Ok(())
}

/// `c[i * n + j] = alpha * (a_i . b_j)` for the `m` rows `a_i = a[i * lda..][..k]` and the
/// `n = b.len() / k` rows `b_j = b[j * k..][..k]`: queries times keys, through matrixmultiply's
/// SIMD kernels.
pub fn gemm_rows(m: usize, k: usize, alpha: f32, a: &[f32], lda: usize, b: &[f32], c: &mut [f32]) {
    let n = b.len() / k.max(1);
    if m == 0 || n == 0 {
        return;
    }
    assert!(lda >= k && a.len() >= (m - 1) * lda + k, "gemm_rows: a holds {} floats", a.len());
    assert!(c.len() >= m * n, "gemm_rows: c holds {} floats for {m} x {n}", c.len());
    // SAFETY: the asserts bound every element sgemm reads of `a` and `b` and writes of `c`.
    unsafe {
        matrixmultiply::sgemm(m, k, n, alpha, a.as_ptr(), lda as isize, 1, b.as_ptr(), 1, k as isize, 0.0, c.as_mut_ptr(), n as isize, 1);
    }
}

/// Rows of `row` bytes of ggml type `from` in ggml type `to`, through f32 (ggml's own
/// quantization, as `ggml_quantize_chunk` does it for a model file): the rows and their size.
pub fn convert_rows(from: u32, src: &[u8], row: usize, to: u32) -> Result<(Vec<u8>, usize)> {
    if from == to {
        return Ok((src.to_vec(), row));
    }
    // SAFETY: type traits are static tables, read for in-range types only.
    let (blck, size) = unsafe {
        // ggml asserts (aborts) on a type it cannot quantize to without an importance matrix
        if from >= sys::GGML_TYPE_COUNT || to >= sys::GGML_TYPE_COUNT || sys::ggml_quantize_requires_imatrix(to) || sys::ggml_blck_size(to) == 0 {
            return Err(Error::UnsupportedCacheType(format!("{} -> {}", type_name(from), type_name(to))));
        }
        (sys::ggml_blck_size(from) as usize, sys::ggml_type_size(from))
    };
    if row == 0 || size == 0 || row % size != 0 || src.len() % row != 0 {
        return Err(Error::llama(format!("{} bytes are not rows of {row} bytes of {}", src.len(), type_name(from))));
    }
    let n = row / size * blck;
    let n_rows = src.len() / row;
    let to_row = row_size(to, n);
    // SAFETY: pure function of its arguments.
    if to_row == 0 || n % unsafe { sys::ggml_blck_size(to) as usize } != 0 {
        return Err(Error::llama(format!("rows of {n} values do not fit {} blocks", type_name(to))));
    }
    let mut f = Vec::with_capacity(n * n_rows);
    to_f32(from, src, n * n_rows, &mut f)?;
    let mut out = vec![0u8; to_row * n_rows];
    // SAFETY: `f` holds `n_rows * n` floats and `out` the `n_rows` rows of `to_row` bytes that
    // ggml writes for them; `to` is a valid type whose blocks divide the rows (checked above).
    let written = unsafe { sys::ggml_quantize_chunk(to, f.as_ptr(), out.as_mut_ptr().cast(), 0, n_rows as i64, n as i64, std::ptr::null()) };
    if written != out.len() {
        return Err(Error::llama(format!("ggml wrote {written} bytes of {}, {} expected", type_name(to), out.len())));
    }
    Ok((out, to_row))
}

/// Values in a block of ggml type `ty` (a valid type id).
pub fn block_size(ty: u32) -> usize {
    if ty >= sys::GGML_TYPE_COUNT {
        return 0;
    }
    // SAFETY: a static table, read for an in-range type only.
    unsafe { sys::ggml_blck_size(ty) as usize }
}

/// Bytes of a row of `n` values of ggml type `ty`.
pub fn row_size(ty: u32, n: usize) -> usize {
    // SAFETY: pure function of its arguments.
    unsafe { sys::ggml_row_size(ty, n as i64) }
}

pub fn type_name(ty: u32) -> String {
    // SAFETY: returns a static string or null.
    unsafe {
        let p = sys::ggml_type_name(ty);
        if p.is_null() {
            format!("type {ty}")
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// Checks that `path` is a complete GGUF file before llama.cpp sees it, so that a wrong or cut
/// file gets a precise error instead of llama.cpp's generic load failure.
pub fn gguf_check(path: &Path) -> Result<()> {
    let invalid = |reason: String| Error::ModelInvalid { path: path.to_path_buf(), reason };
    let len = std::fs::metadata(path).map_err(|_| Error::ModelNotFound(path.to_path_buf()))?.len();
    let mut magic = [0u8; 4];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(Error::io(format!("opening {}", path.display())))?;
        if f.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
            return Err(invalid("no GGUF magic at the start of the file".into()));
        }
    }
    let cpath = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| invalid("path contains a NUL byte".into()))?;
    // SAFETY: gguf_init_from_file reads metadata only (no_alloc, no ggml context) and returns
    // null on any parse error; the context is freed before returning.
    unsafe {
        let params = sys::gguf_init_params { no_alloc: true, ctx: std::ptr::null_mut() };
        let ctx = sys::gguf_init_from_file(cpath.as_ptr(), params);
        if ctx.is_null() {
            return Err(invalid("corrupt or truncated GGUF metadata".into()));
        }
        let offset = sys::gguf_get_data_offset(ctx) as u64;
        let end = (0..sys::gguf_get_n_tensors(ctx))
            .map(|i| offset + (sys::gguf_get_tensor_offset(ctx, i) + sys::gguf_get_tensor_size(ctx, i)) as u64)
            .max()
            .unwrap_or(offset);
        sys::gguf_free(ctx);
        if end > len {
            return Err(invalid(format!("truncated: tensor data ends at byte {end} but the file has {len} bytes")));
        }
    }
    Ok(())
}

/// Bytes at the start of a GGUF file that hold its header, metadata and tensor table (the part
/// that names the model and lays out its tensors, without the weights).
pub fn gguf_meta_size(path: &Path) -> Result<u64> {
    let invalid = |reason: &str| Error::ModelInvalid { path: path.to_path_buf(), reason: reason.into() };
    let cpath = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| invalid("path contains a NUL byte"))?;
    // SAFETY: as in `gguf_check`: metadata only, null on error, freed before returning.
    unsafe {
        let params = sys::gguf_init_params { no_alloc: true, ctx: std::ptr::null_mut() };
        let ctx = sys::gguf_init_from_file(cpath.as_ptr(), params);
        if ctx.is_null() {
            return Err(invalid("corrupt or truncated GGUF metadata"));
        }
        let n = sys::gguf_get_meta_size(ctx) as u64;
        sys::gguf_free(ctx);
        Ok(n)
    }
}

/// The raw bytes of sequence `seq_id`'s state (`llama_state_seq_get_data`).
pub fn state_seq_read(ctx: &LlamaContext<'_>, seq_id: i32) -> Result<Vec<u8>> {
    let flags = LlamaStateSeqFlags::empty();
    let size = ctx.state_seq_get_size_ext(seq_id, flags);
    let mut buf = vec![0u8; size];
    // SAFETY: `buf` holds exactly the `size` bytes llama.cpp reported for this state.
    let n = unsafe { ctx.state_seq_get_data_ext(buf.as_mut_ptr(), seq_id, flags) };
    if n != size {
        return Err(Error::llama(format!("sequence state read {n} of {size} bytes")));
    }
    Ok(buf)
}

/// Replaces sequence `seq_id` with `state`, which must have been built from a state this
/// context produced (same layers, types and row sizes), as `state::SeqState::encode` does.
pub fn state_seq_write(ctx: &mut LlamaContext<'_>, seq_id: i32, state: &[u8]) -> Result<()> {
    let flags = LlamaStateSeqFlags::empty();
    // SAFETY: llama.cpp validates the layout (magic, layer count, types, row sizes, lengths)
    // and reports a mismatch; `state` is a valid readable slice.
    let ok = unsafe { ctx.state_seq_set_data_ext(state, seq_id, flags) };
    if !ok {
        return Err(Error::llama(format!("llama.cpp refused the rewritten sequence state ({} bytes)", state.len())));
    }
    Ok(())
}

/// Serves allocations of 1 MiB and more from their own mappings, returned to the system when
/// freed (glibc's `M_MMAP_THRESHOLD`). With per-layer KV sizes every compression step frees and
/// reallocates each layer's K/V tensors; under glibc's default, which raises the threshold after
/// the first such free, they land on the heap instead and its fragments raised the peak RSS by
/// 38 MiB on a 3k-token document at 0.125 (33 of them gone with a fixed threshold).
pub fn map_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: mallopt only sets a glibc allocator parameter; called before llama.cpp allocates.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1 << 20);
        }
    }
}

/// Returns the heap's free memory to the system where the C library can (glibc's
/// `malloc_trim`), so that a resident-size measurement after it starts from live memory only.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only walks glibc's own allocator state; any pad value is valid.
        unsafe {
            malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(v: &[f32]) -> Vec<u8> {
        let mut out = vec![0u8; v.len() * 2];
        // SAFETY: `out` holds `v.len()` f16 values.
        unsafe { sys::ggml_fp32_to_fp16_row(v.as_ptr(), out.as_mut_ptr().cast(), v.len() as i64) };
        out
    }

    #[test]
    fn rows_converted_to_q8_0_round_each_block_to_its_scale() {
        // Two rows of 64 values: q8_0 blocks of 32 values and an f16 scale, 68 bytes a row.
        let v: Vec<f32> = (0..128).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        let (q, row) = convert_rows(sys::GGML_TYPE_F16, &f16_bytes(&v), 128, sys::GGML_TYPE_Q8_0).unwrap();
        assert_eq!((row, q.len()), (68, 136));
        let mut back = Vec::new();
        to_f32(sys::GGML_TYPE_Q8_0, &q, 128, &mut back).unwrap();
        for (b, block) in back.chunks(32).zip(v.chunks(32)) {
            let amax = block.iter().fold(0f32, |m, x| m.max(x.abs()));
            for (x, y) in b.iter().zip(block) {
                assert!((x - y).abs() <= amax / 127.0 * 0.51 + 0.01, "{x} vs {y}");
            }
        }
        // The same type is a copy; rows that are not whole, or a type that needs an importance
        // matrix, are errors rather than ggml's abort.
        assert_eq!(convert_rows(sys::GGML_TYPE_F16, &f16_bytes(&v), 128, sys::GGML_TYPE_F16).unwrap().0, f16_bytes(&v));
        assert!(convert_rows(sys::GGML_TYPE_F16, &f16_bytes(&v)[..100], 128, sys::GGML_TYPE_Q8_0).is_err());
        assert!(convert_rows(sys::GGML_TYPE_F16, &f16_bytes(&v[..40]), 80, sys::GGML_TYPE_Q8_0).is_err());
        assert!(convert_rows(sys::GGML_TYPE_F16, &f16_bytes(&v), 128, sys::GGML_TYPE_IQ2_XXS).is_err());
    }
}
