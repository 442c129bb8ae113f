//! Each task's tensors as Triton sees them: the one definition of input and output names,
//! types and shapes, shared by the backend (which reads and writes them) and by
//! `unival triton-repo` (which writes them into `config.pbtxt`).

use unival_manifest::task::Modality;
use unival_manifest::TaskKind;

/// The media input of a task: the file's bytes, one BYTES element.
pub fn media_input(task: TaskKind) -> &'static str {
    match task.modality() {
        Modality::Image => "IMAGE",
        Modality::Video => "VIDEO",
        Modality::Audio => "AUDIO",
    }
}

/// The text input a task needs besides its media, if any (UTF-8, one BYTES element).
pub fn text_input(task: TaskKind) -> Option<&'static str> {
    match task {
        TaskKind::Vqa | TaskKind::VideoQa => Some("QUESTION"),
        TaskKind::Refcoco => Some("TEXT"),
        TaskKind::SnliVe => Some("HYPOTHESIS"),
        TaskKind::Caption | TaskKind::VideoCaption | TaskKind::AudioCaption => None,
    }
}

/// Every input a task's model takes, media first.
pub fn inputs(task: TaskKind) -> Vec<&'static str> {
    std::iter::once(media_input(task))
        .chain(text_input(task))
        .collect()
}

/// One output tensor of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The caption, answer, box tokens as text or entailment label (BYTES `[1]`).
    Text,
    /// The best hypothesis's score (FP32 `[1]`).
    Score,
    /// The best hypothesis's tokens as fairseq returns them (INT64 `[-1]`).
    Tokens,
    /// Grounding: `[x0, y0, x1, y1]` in the original image's pixels (FP32 `[4]`).
    Box,
    /// Entailment: `yes`, `no` or `maybe` (BYTES `[1]`).
    Label,
    /// The CLI's `--json` object for this input (BYTES `[1]`).
    ResultJson,
}

impl Output {
    /// Every output, in the order the configuration lists them.
    pub const ALL: [Output; 6] = [
        Output::Text,
        Output::Score,
        Output::Tokens,
        Output::Box,
        Output::Label,
        Output::ResultJson,
    ];

    /// Tensor name.
    pub fn name(self) -> &'static str {
        match self {
            Output::Text => "TEXT",
            Output::Score => "SCORE",
            Output::Tokens => "TOKENS",
            Output::Box => "BOX",
            Output::Label => "LABEL",
            Output::ResultJson => "RESULT_JSON",
        }
    }

    /// `data_type` in `config.pbtxt`.
    pub fn config_type(self) -> &'static str {
        match self {
            Output::Text | Output::Label | Output::ResultJson => "TYPE_STRING",
            Output::Score | Output::Box => "TYPE_FP32",
            Output::Tokens => "TYPE_INT64",
        }
    }

    /// Shape of one item, without the batch dimension (`-1`: any length).
    pub fn dims(self) -> &'static [i64] {
        match self {
            Output::Tokens => &[-1],
            Output::Box => &[4],
            _ => &[1],
        }
    }

    /// The output named `name`, if any.
    pub fn named(name: &str) -> Option<Output> {
        Output::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Whether `task` produces this output.
    pub fn serves(self, task: TaskKind) -> bool {
        match self {
            Output::Text | Output::ResultJson => true,
            Output::Score | Output::Tokens => task != TaskKind::SnliVe,
            Output::Box => task == TaskKind::Refcoco,
            Output::Label => task == TaskKind::SnliVe,
        }
    }
}

/// The outputs of `task`'s model.
pub fn outputs(task: TaskKind) -> Vec<Output> {
    Output::ALL.into_iter().filter(|o| o.serves(task)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_task_has_its_inputs_and_outputs() {
        assert_eq!(inputs(TaskKind::Caption), ["IMAGE"]);
        assert_eq!(inputs(TaskKind::Vqa), ["IMAGE", "QUESTION"]);
        assert_eq!(inputs(TaskKind::Refcoco), ["IMAGE", "TEXT"]);
        assert_eq!(inputs(TaskKind::VideoQa), ["VIDEO", "QUESTION"]);
        assert_eq!(inputs(TaskKind::AudioCaption), ["AUDIO"]);
        let names = |t| -> Vec<&str> { outputs(t).iter().map(|o| o.name()).collect() };
        assert_eq!(
            names(TaskKind::Refcoco),
            ["TEXT", "SCORE", "TOKENS", "BOX", "RESULT_JSON"]
        );
        assert_eq!(names(TaskKind::SnliVe), ["TEXT", "LABEL", "RESULT_JSON"]);
        assert_eq!(Output::named("BOX"), Some(Output::Box));
        assert_eq!(Output::named("box"), None);
    }
}
