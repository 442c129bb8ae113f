//! `unival`: export, inspect and run UnIVAL models from the shell.
//!
//! Thin by design (ripgrep's shape): argument parsing in [`cli`], one module per command in
//! [`commands`], all model logic in the `unival-export` and `unival-runtime` crates.

// clap turns `cli`'s doc comments into `--help` text (`cuda[:N]`, `models/<task>`), not rustdoc.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
mod cli;
mod commands;
mod web;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", render(&err));
            ExitCode::from(1)
        }
    }
}

/// A closed stdout (e.g. `unival … | head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, `outer: inner: …`, leaving out a cause whose text the
/// line already holds (typed errors often print their source themselves, and `{:#}` would then
/// repeat it).
fn render(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::render;
    use anyhow::Context;

    /// An error that prints its source in its own message, as `thiserror` variants with
    /// `{source}` do.
    #[derive(Debug)]
    struct Wrapping(std::io::Error);

    impl std::fmt::Display for Wrapping {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "model.pt: I/O error: {}", self.0)
        }
    }

    impl std::error::Error for Wrapping {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_printed_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(Wrapping(io));
        assert_eq!(render(&err), "model.pt: I/O error: no such file");
    }

    #[test]
    fn context_and_new_causes_are_kept_on_one_line() {
        let io = std::io::Error::other("disk full\nretry later");
        let err = Err::<(), _>(io).context("writing out.pt").unwrap_err();
        assert_eq!(render(&err), "writing out.pt: disk full retry later");
    }
}
