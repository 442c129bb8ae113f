//! Running a batch of inputs on one instance's `Pipeline`: inputs that ask for the same
//! settings go through the batched runtime together; results come back in input order.

use crate::params::Settings;
use crate::status::{is_input_error, BackendError};
use std::path::{Path, PathBuf};
use unival_manifest::TaskKind;
use unival_runtime::audio::Segment;
use unival_runtime::tasks::{Pipeline, Request, TaskError, TaskOutput};

/// One input of a batch, read from a request.
#[derive(Debug)]
pub struct Item {
    /// Names the input in results and errors (the request id, or its place in the batch).
    pub label: String,
    /// The media file (the request's bytes written to a temporary file, so decoding is
    /// exactly the CLI's).
    pub media: PathBuf,
    /// The question, region text or hypothesis, for the tasks that take one.
    pub text: Option<String>,
    pub settings: Settings,
}

/// The request of `task` with `text` (the item's question, region text or hypothesis).
pub fn request_for(task: TaskKind, text: Option<&str>) -> Request<'_> {
    let text = text.unwrap_or("");
    match task {
        TaskKind::Caption => Request::Caption,
        TaskKind::Vqa => Request::Vqa {
            question: text,
            answers: None,
        },
        TaskKind::Refcoco => Request::Ground { text },
        TaskKind::SnliVe => Request::Entail { hypothesis: text },
        TaskKind::VideoCaption => Request::VideoCaption,
        TaskKind::VideoQa => Request::VideoQa {
            question: text,
            answers: None,
        },
        TaskKind::AudioCaption => Request::AudioCaption,
    }
}

/// The indices of `settings` grouped by equal value, groups in order of first appearance.
pub fn groups(settings: &[Settings]) -> Vec<Vec<usize>> {
    let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, s) in settings.iter().enumerate() {
        match out.iter_mut().find(|(first, _)| settings[*first] == *s) {
            Some((_, group)) => group.push(i),
            None => out.push((i, vec![i])),
        }
    }
    out.into_iter().map(|(_, g)| g).collect()
}

/// The runtime's batch entry point: one pass through perception, encoder and decoder for
/// the whole group, each input with its own search state.
fn run_batch(
    pipeline: &mut Pipeline,
    items: &[(&Path, Request)],
) -> Vec<Result<TaskOutput, TaskError>> {
    pipeline.run_batch(items)
}

/// Runs the items of one group (equal settings) with those settings applied, then puts the
/// pipeline back to the bundle's defaults. Outputs are labelled with the items' labels.
pub fn run_group(
    pipeline: &mut Pipeline,
    task: TaskKind,
    items: &[&Item],
) -> Vec<Result<TaskOutput, BackendError>> {
    let Some(first) = items.first() else {
        return Vec::new();
    };
    let settings = &first.settings;
    if let Err(e) = apply(pipeline, settings) {
        // Bad settings (e.g. nbest above beam) fail every input that asked for them.
        let message = e.to_string();
        return items
            .iter()
            .map(|_| Err(BackendError::BadRequest(message.clone())))
            .collect();
    }
    let requests: Vec<(&Path, Request)> = items
        .iter()
        .map(|it| (it.media.as_path(), request_for(task, it.text.as_deref())))
        .collect();
    let results = run_batch(pipeline, &requests);
    // Back to the bundle's settings; they were valid when the instance was created.
    let _ = apply(pipeline, &Settings::default());
    results
        .into_iter()
        .zip(items)
        .map(|(result, item)| match result {
            Ok(mut out) => {
                out.file = item.label.clone();
                Ok(out)
            }
            Err(e) => Err(item_error(item, &e)),
        })
        .collect()
}

/// `e` for `item`, naming the request instead of its temporary file.
fn item_error(item: &Item, e: &TaskError) -> BackendError {
    let path = item.media.display().to_string();
    let message = e.to_string().replace(&path, "the input");
    let message = format!("{}: {message}", item.label);
    if is_input_error(e) {
        BackendError::BadRequest(message)
    } else {
        BackendError::Model(message)
    }
}

/// Sets the pipeline's search and segment to `settings`.
fn apply(pipeline: &mut Pipeline, settings: &Settings) -> Result<(), TaskError> {
    pipeline.override_search(&settings.search)?;
    pipeline.video.start = settings.start;
    pipeline.video.end = settings.end;
    pipeline.audio.segment = Segment {
        start_s: settings.start,
        end_s: settings.end,
    };
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn beam(beam: Option<usize>) -> Settings {
        let mut settings = Settings::default();
        settings.search.beam = beam;
        settings
    }

    #[test]
    fn equal_settings_share_a_group_in_first_seen_order() {
        let all = [
            beam(None),
            beam(Some(2)),
            beam(None),
            beam(Some(2)),
            beam(Some(3)),
        ];
        assert_eq!(groups(&all), vec![vec![0, 2], vec![1, 3], vec![4]]);
        assert!(groups(&[]).is_empty());
    }

    #[test]
    fn requests_carry_the_text_where_the_task_takes_one() {
        assert!(matches!(
            request_for(TaskKind::Vqa, Some("why?")),
            Request::Vqa {
                question: "why?",
                answers: None
            }
        ));
        assert!(matches!(
            request_for(TaskKind::Refcoco, Some("the cat")),
            Request::Ground { text: "the cat" }
        ));
        assert!(matches!(
            request_for(TaskKind::AudioCaption, None),
            Request::AudioCaption
        ));
    }
}
