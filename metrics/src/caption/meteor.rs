//! METEOR 1.5 exactly as pycocoevalcap computes it: by running its `meteor-1.5.jar`
//! (`java -jar -Xmx2G meteor-1.5.jar - - -stdio -l en -norm`, from the jar's directory so it
//! finds `data/paraphrase-en.gz`) and speaking its stdio protocol: one `SCORE ||| ref… ||| hyp`
//! line per item (answered by a statistics line), then one `EVAL ||| stats…` line answered by
//! each item's score and the corpus score. Re-implementing METEOR (WordNet synonyms, the
//! paraphrase table, the Snowball stemmer and the aligner's search) to 1e-6 was not attempted.

use super::{CaptionOptions, MeteorMode, Tokenised};
use crate::MetricsError;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Environment variable naming pycocoevalcap's `meteor-1.5.jar`.
pub const METEOR_JAR_ENV: &str = "UNIVAL_METEOR_JAR";

/// Corpus METEOR of tokenised items, or `None` with a note saying why it was skipped.
pub(crate) fn score(
    items: &[Tokenised],
    options: &CaptionOptions,
    notes: &mut Vec<String>,
) -> Result<Option<f64>, MetricsError> {
    if options.meteor == MeteorMode::Skip {
        notes.push("METEOR: skipped (--no-meteor)".into());
        return Ok(None);
    }
    let result = locate(options).and_then(|(java, jar)| {
        let score = run_jar(&java, &jar, items)?;
        Ok((score, jar))
    });
    match (result, options.meteor) {
        (Ok((score, jar)), _) => {
            notes.push(format!(
                "METEOR: computed by pycocoevalcap's METEOR 1.5 jar ({}) under Java",
                jar.display()
            ));
            Ok(Some(score))
        }
        (Err(e), MeteorMode::Required) => Err(e),
        (Err(MetricsError::Meteor(why)), _) => {
            notes.push(format!("METEOR: not computed ({why})"));
            Ok(None)
        }
        (Err(e), _) => {
            notes.push(format!("METEOR: not computed ({e})"));
            Ok(None)
        }
    }
}

/// The `java` executable and the jar to run.
fn locate(options: &CaptionOptions) -> Result<(PathBuf, PathBuf), MetricsError> {
    let jar = options
        .meteor_jar
        .clone()
        .or_else(|| std::env::var_os(METEOR_JAR_ENV).map(PathBuf::from))
        .ok_or_else(|| {
            MetricsError::Meteor(format!(
                "no meteor-1.5.jar given (run scripts/setup.sh or set {METEOR_JAR_ENV})"
            ))
        })?;
    if !jar.is_file() {
        return Err(MetricsError::Meteor(format!(
            "{} does not exist",
            jar.display()
        )));
    }
    // The jar runs from its own directory (to find its data/), so a relative path must not stay.
    let jar = jar
        .canonicalize()
        .map_err(|e| MetricsError::Meteor(format!("cannot resolve {}: {e}", jar.display())))?;
    let java = options
        .java
        .clone()
        .or_else(|| std::env::var_os("JAVA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("java"));
    Ok((java, jar))
}

/// A running METEOR process.
struct MeteorProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl MeteorProcess {
    fn start(java: &Path, jar: &Path) -> Result<Self, MetricsError> {
        let dir = jar.parent().unwrap_or_else(|| Path::new("."));
        let mut child = Command::new(java)
            .args(["-jar", "-Xmx2G"])
            .arg(jar)
            .args(["-", "-", "-stdio", "-l", "en", "-norm"])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // The jar's own complaints (no data/, no memory) reach the user's terminal.
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| MetricsError::Meteor(format!("cannot start {}: {e}", java.display())))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(MetricsError::Meteor("no pipe to the METEOR process".into()));
        };
        Ok(MeteorProcess {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }

    /// Sends one line and reads one answer line.
    fn ask(&mut self, line: &str) -> Result<String, MetricsError> {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| MetricsError::Meteor(format!("writing to the jar: {e}")))?;
        self.read_line()
    }

    fn read_line(&mut self) -> Result<String, MetricsError> {
        let mut answer = String::new();
        let n = self
            .stdout
            .read_line(&mut answer)
            .map_err(|e| MetricsError::Meteor(format!("reading from the jar: {e}")))?;
        if n == 0 {
            return Err(MetricsError::Meteor(
                "the jar exited early (is its data/paraphrase-en.gz beside it? is Java working?)"
                    .into(),
            ));
        }
        Ok(answer.trim().to_string())
    }
}

impl Drop for MeteorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// pycocoevalcap's `SCORE` line (it strips `|||` and halves double spaces in the hypothesis).
fn score_line(item: &Tokenised) -> String {
    let hypothesis = item.candidate.replace("|||", "").replace("  ", " ");
    format!(
        "SCORE ||| {} ||| {}",
        item.references.join(" ||| "),
        hypothesis
    )
}

fn run_jar(java: &Path, jar: &Path, items: &[Tokenised]) -> Result<f64, MetricsError> {
    let mut process = MeteorProcess::start(java, jar)?;
    let mut eval_line = String::from("EVAL");
    for item in items {
        let stats = process.ask(&score_line(item))?;
        eval_line.push_str(" ||| ");
        eval_line.push_str(&stats);
    }
    process.ask(&eval_line)?;
    for _ in 1..items.len() {
        process.read_line()?;
    }
    let total = process.read_line()?;
    total
        .parse::<f64>()
        .map_err(|_| MetricsError::Meteor(format!("unexpected answer from the jar: {total:?}")))
}
