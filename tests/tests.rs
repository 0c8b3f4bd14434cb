//! Integration tests on the real SmolLM2-135M-Instruct (and Gemma 3 270M) GGUF models.

mod util;

mod callback;
mod cli;
mod compression;
mod datasets;
mod kvfile;
mod needle;
mod scored;
mod window;
