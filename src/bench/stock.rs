//! Stock llama.cpp side by side: llama.cpp's own `llama-completion`, built from the source that
//! llama-cpp-sys-2 bundles, run as a child process on the same prompt text.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::report::{vm_hwm, MIB};

/// What one `llama-completion` run printed and used.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct StockRun {
    pub answer: String,
    /// From its `prompt eval time = X ms / N tokens` line.
    pub prompt_tokens: usize,
    pub t_prefill_ms: f64,
    pub t_decode_ms: f64,
    pub decode_tokens: usize,
    pub decode_tokens_per_s: f64,
    /// Its `llama_kv_cache: size = X MiB` line: the KV buffer it allocated.
    pub kv_alloc_bytes: usize,
    /// The child's VmHWM, read from /proc while it ran (it only grows, so the last read is the
    /// peak up to that moment; polled every 5 ms).
    pub peak_rss_bytes: u64,
}

/// The llama.cpp flags of one run, in its own spelling.
#[derive(Debug, Clone)]
pub struct StockArgs<'a> {
    pub model: &'a Path,
    pub n_ctx: usize,
    pub n_predict: usize,
    pub threads: i32,
    pub n_gpu_layers: u32,
    /// `on`, `off` or `auto`.
    pub flash_attn: &'a str,
    pub type_k: &'a str,
    pub type_v: &'a str,
    pub n_batch: usize,
    pub n_ubatch: usize,
}

/// Runs `llama-completion` on `prompt` (the whole templated text: its chat template is not
/// applied again), greedy.
pub fn run(bin: &Path, prompt: &str, a: &StockArgs<'_>) -> Result<StockRun> {
    let file = std::env::temp_dir().join(format!("kvcompose-stock-{}.txt", std::process::id()));
    std::fs::write(&file, prompt).map_err(Error::io(format!("writing {}", file.display())))?;
    let mut cmd = Command::new(bin);
    cmd.arg("-m").arg(a.model).arg("-f").arg(&file);
    for (flag, value) in [
        ("-c", a.n_ctx.to_string()),
        ("-n", a.n_predict.to_string()),
        ("-t", a.threads.to_string()),
        ("-ngl", a.n_gpu_layers.to_string()),
        ("-fa", a.flash_attn.to_string()),
        ("-ctk", a.type_k.to_string()),
        ("-ctv", a.type_v.to_string()),
        ("-b", a.n_batch.to_string()),
        ("-ub", a.n_ubatch.to_string()),
        ("--temp", "0".into()),
        ("--seed", "0".into()),
    ] {
        cmd.args([flag, &value]);
    }
    // Verbosity 4 lets llama.cpp's own info lines through, the KV cache size among them.
    cmd.args(["-no-cnv", "--no-display-prompt", "--no-warmup", "-lv", "4"]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(Error::io(format!("running {}", bin.display())))?;
    // Drain both pipes on threads so the child never blocks on a full pipe while we poll.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = std::fs::read_to_string(&status_path).ok().as_deref().and_then(vm_hwm) {
            peak = peak.max(s);
        }
        match child.try_wait().map_err(Error::io("waiting for llama-completion"))? {
            Some(status) => break status,
            None if t0.elapsed() > Duration::from_secs(3600) => {
                let _ = child.kill();
                return Err(Error::Stock("llama-completion ran for over an hour".into()));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let _ = std::fs::remove_file(&file);
    let (stdout, stderr) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    if !status.success() {
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(Error::Stock(format!("{} failed ({status}): {last}", bin.display())));
    }
    let mut run = parse_timings(&stderr);
    // llama-completion marks the end of generation on stdout.
    run.answer = stdout.trim().trim_end_matches("[end of text]").trim_end().to_string();
    run.peak_rss_bytes = peak;
    Ok(run)
}

/// The numbers of llama.cpp's perf and KV lines, e.g.
/// `prompt eval time =  120.00 ms /   100 tokens (...)`, `eval time = 50.00 ms / 9 runs (...)`,
/// `llama_kv_cache: size =   66.88 MiB (...)`.
pub fn parse_timings(stderr: &str) -> StockRun {
    let mut r = StockRun::default();
    let num = |s: &str| s.split_whitespace().next().and_then(|x| x.parse::<f64>().ok());
    for line in stderr.lines() {
        if let Some(rest) = line.split("prompt eval time =").nth(1) {
            r.t_prefill_ms = num(rest).unwrap_or(0.0);
            r.prompt_tokens = rest.split('/').nth(1).and_then(num).unwrap_or(0.0) as usize;
        } else if let Some(rest) = line.split(" eval time =").nth(1) {
            r.t_decode_ms = num(rest).unwrap_or(0.0);
            r.decode_tokens = rest.split('/').nth(1).and_then(num).unwrap_or(0.0) as usize;
        } else if let Some(rest) = line.split("llama_kv_cache: size =").nth(1) {
            // One line per cache (two on iSWA models): add them up.
            r.kv_alloc_bytes += (num(rest).unwrap_or(0.0) * MIB).round() as usize;
        }
    }
    if r.t_decode_ms > 0.0 {
        r.decode_tokens_per_s = r.decode_tokens as f64 * 1e3 / r.t_decode_ms;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_llama_cpp_perf_and_kv_lines() {
        let err = "llama_kv_cache: size =   66.88 MiB (  3072 cells,  30 layers,  1/1 seqs), K (f16):   33.44 MiB, V (f16):   33.44 MiB\n\
                   common_perf_print:    sampling time =       2.00 ms /    40 runs   (    0.05 ms per token, 20000.00 tokens per second)\n\
                   common_perf_print: prompt eval time =   17000.00 ms /  3044 tokens (    5.58 ms per token,   179.06 tokens per second)\n\
                   common_perf_print:        eval time =    2000.00 ms /    16 runs   (  125.00 ms per token,     8.00 tokens per second)\n";
        let r = parse_timings(err);
        assert_eq!((r.prompt_tokens, r.decode_tokens), (3044, 16));
        assert_eq!((r.t_prefill_ms, r.t_decode_ms, r.decode_tokens_per_s), (17000.0, 2000.0, 8.0));
        assert_eq!(r.kv_alloc_bytes, (66.88f64 * 1048576.0).round() as usize);
        assert_eq!(vm_hwm("Name:\tx\nVmHWM:\t  1024 kB\nVmRSS: 5 kB\n"), Some(1048576));
    }
}
