//! Reading the long document: a file or standard input, which must be non-empty UTF-8.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Reads `path` (`-` for standard input) and checks that it is non-empty UTF-8 text.
pub fn read(path: &Path) -> Result<String> {
    let name = path.display().to_string();
    let bytes = if name == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map_err(Error::io("reading standard input"))?;
        buf
    } else {
        std::fs::read(path).map_err(Error::io(format!("reading document {name}")))?
    };
    from_bytes(&name, bytes)
}

pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<String> {
    let text = String::from_utf8(bytes).map_err(|e| Error::DocumentNotUtf8 { name: name.to_string(), offset: e.utf8_error().valid_up_to() })?;
    if text.trim().is_empty() {
        return Err(Error::DocumentEmpty(name.to_string()));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_and_blank() {
        assert!(matches!(from_bytes("d", vec![]), Err(Error::DocumentEmpty(_))));
        assert!(matches!(from_bytes("d", b" \n\t".to_vec()), Err(Error::DocumentEmpty(_))));
    }

    #[test]
    fn reports_offset_of_invalid_utf8() {
        match from_bytes("d", b"abc\xffdef".to_vec()) {
            Err(Error::DocumentNotUtf8 { offset, .. }) => assert_eq!(offset, 3),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn accepts_text() {
        assert_eq!(from_bytes("d", "héllo".as_bytes().to_vec()).unwrap(), "héllo");
    }
}
