//! Every section a source comment cites exists: `docs/model.md §N` must name a heading of
//! `docs/model.md`, and
//! `ARCHITECTURE.md §N` a heading of `ARCHITECTURE.md`. Renumbering a document without updating
//! the comments that cite it fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The workspace root (this crate sits in `<root>/tests`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate has a parent directory")
        .to_path_buf()
}

/// Section numbers of the `##`/`###` headings that start with one (`## 2.`, `### 2.10 …`).
fn headings(doc: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
    text.lines()
        .filter_map(|l| l.strip_prefix("### ").or_else(|| l.strip_prefix("## ")))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|n| n.trim_end_matches('.').to_string())
        .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        .collect()
}

/// The section number right after every `marker` in `text` (`5.1` in `docs/model.md §5.1–5.4`); a
/// marker not followed by a number (`docs/model.md §N` in prose) is no citation.
fn citations<'a>(text: &'a str, marker: &'a str) -> impl Iterator<Item = String> + 'a {
    text.match_indices(marker)
        .map(move |(i, _)| {
            text[i + marker.len()..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect::<String>()
                .trim_end_matches('.')
                .to_string()
        })
        .filter(|n| !n.is_empty())
}

/// Source and Markdown files of the workspace crates (build output excluded).
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && !name.to_string_lossy().starts_with('.') {
                sources(&path, out);
            }
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("rs" | "md")) {
            out.push(path);
        }
    }
}

#[test]
fn every_cited_section_exists() {
    let root = root();
    let model = headings(&root.join("docs/model.md"));
    let architecture = headings(&root.join("ARCHITECTURE.md"));
    let mut files = Vec::new();
    for dir in ["manifest", "export", "runtime", "apps", "tests", "docs"] {
        sources(&root.join(dir), &mut files);
    }
    files.push(root.join("README.md"));
    let mut missing = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let checks = [
            ("docs/model.md §", &model),
            ("ARCHITECTURE.md §", &architecture),
        ];
        for (marker, sections) in checks {
            for cited in citations(&text, marker) {
                if !sections.contains(&cited) {
                    missing.push(format!("{}: {marker}{cited}", file.display()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "cited sections that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn citations_are_parsed_up_to_the_section_number() {
    let found: Vec<String> = citations(
        "docs/model.md §N; docs/model.md §5.1–5.4 and §2.10.",
        "docs/model.md §",
    )
    .collect();
    assert_eq!(found, ["5.1"]);
}
