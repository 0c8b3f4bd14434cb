//! The cache-file reader on arbitrary bytes: it returns an error or a checked file, and never
//! panics, loops or allocates without bound.
#![no_main]

use kvcompose::kvfile::{decode, MAGIC, VERSION};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    // The bytes as a file: most stop at the magic, the sizes or the checksum.
    let _ = decode(data);
    // The bytes as a file's body (sizes, header, state) with a right magic, version and
    // checksum, so the header and state parsers are reached.
    let mut file = MAGIC.to_vec();
    file.extend_from_slice(&VERSION.to_le_bytes());
    file.extend_from_slice(data);
    let sum = Sha256::digest(&file);
    file.extend_from_slice(&sum);
    if let Ok(f) = decode(&file) {
        assert!(!f.header.positions.is_empty());
    }
});
