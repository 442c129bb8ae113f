//! Plain pickle files (not torch zips) such as the original's VQA answer list
//! (`ans2label.pkl`), read with the checkpoint's safe interpreter: nothing in the file is
//! executed, and the content comes back as JSON data.

use super::error::{CheckpointError, Result};
use super::pickle;
use std::path::Path;

/// Reads the pickle file at `path` as JSON data (dicts become objects, lists arrays).
pub fn read_pickle_json(path: impl AsRef<Path>) -> Result<serde_json::Value> {
    let path = path.as_ref();
    let data = std::fs::read(path).map_err(|source| CheckpointError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    let (heap, root) = pickle::load(&data).map_err(|f| CheckpointError::Pickle {
        file: path.to_path_buf(),
        offset: f.offset,
        opcode: f.opcode_text(),
        detail: f.detail.clone(),
    })?;
    heap.to_json(&root)
        .map_err(|e| CheckpointError::not_unival(path, format!("pickle content: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn an_answer_dict_reads_as_a_json_object() {
        // pickle.dumps({"yes": 0, "no": 1}, protocol=2)
        let bytes = b"\x80\x02}q\x00(X\x03\x00\x00\x00yesq\x01K\x00X\x02\x00\x00\x00noq\x02K\x01u.";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ans2label.pkl");
        std::fs::write(&path, bytes).unwrap();
        let value = read_pickle_json(&path).unwrap();
        assert_eq!(value, serde_json::json!({"yes": 0, "no": 1}));
    }

    #[test]
    fn a_file_that_is_not_a_pickle_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("answers.pkl");
        std::fs::write(&path, b"\x80\x02garbage").unwrap();
        let err = read_pickle_json(&path).unwrap_err().to_string();
        assert!(err.contains("answers.pkl"), "{err}");
        let err = read_pickle_json(dir.path().join("missing.pkl"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.pkl"), "{err}");
    }
}
