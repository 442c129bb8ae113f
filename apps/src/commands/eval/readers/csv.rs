//! Audio captioning CSVs: Clotho (`file_name,caption_1…caption_5`) and AudioCaps
//! (`audiocap_id,youtube_id,start_time,caption`, one row per caption, grouped by clip).

use super::super::dataset::{Item, MediaRef, Target};
use super::Source;
use anyhow::{bail, Context};
use std::path::PathBuf;
use unival_manifest::TaskKind;

/// Extensions tried when a CSV names a clip without one.
const AUDIO_EXTENSIONS: [&str; 5] = ["wav", "flac", "mp3", "ogg", "m4a"];

/// Items of a captioning CSV.
pub fn read(src: &Source, task: TaskKind) -> anyhow::Result<Vec<Item>> {
    if task != TaskKind::AudioCaption {
        bail!(
            "{}: CSV datasets are for audio-caption (AudioCaps, Clotho)",
            src.name()
        );
    }
    let rows = parse(&src.text()?).with_context(|| src.name())?;
    let Some((header, body)) = rows.split_first() else {
        bail!("{}: the CSV is empty", src.name());
    };
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    if let (Some(file), true) = (
        col("file_name"),
        header.iter().any(|h| h.starts_with("caption_")),
    ) {
        return Ok(clotho(src, header, body, file));
    }
    match (col("youtube_id"), col("caption")) {
        (Some(yt), Some(cap)) => Ok(audiocaps(src, body, yt, cap, col("audiocap_id"))),
        _ => bail!(
            "{}: unknown CSV header (expected Clotho's file_name,caption_1… or AudioCaps' \
             audiocap_id,youtube_id,start_time,caption)",
            src.name()
        ),
    }
}

fn clotho(src: &Source, header: &[String], body: &[Vec<String>], file: usize) -> Vec<Item> {
    let caption_cols: Vec<usize> = (0..header.len())
        .filter(|&i| header[i].trim().starts_with("caption_"))
        .collect();
    body.iter()
        .filter_map(|row| {
            let name = row.get(file)?.trim().to_string();
            let refs = caption_cols
                .iter()
                .filter_map(|&i| row.get(i))
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
            Some(Item {
                media: MediaRef::File(src.media(&name)),
                id: name,
                text: None,
                target: Target::Captions(refs),
            })
        })
        .collect()
}

fn audiocaps(
    src: &Source,
    body: &[Vec<String>],
    yt: usize,
    cap: usize,
    audiocap_id: Option<usize>,
) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    for row in body {
        let (Some(id), Some(caption)) = (row.get(yt), row.get(cap)) else {
            continue;
        };
        let (id, caption) = (id.trim(), caption.trim().to_string());
        if let Some(Item {
            target: Target::Captions(refs),
            ..
        }) = items.iter_mut().find(|i| i.id == id)
        {
            refs.push(caption);
            continue;
        }
        let mut stems = vec![id.to_string(), format!("Y{id}")];
        stems.extend(
            audiocap_id
                .and_then(|c| row.get(c))
                .map(|s| s.trim().to_string()),
        );
        items.push(Item {
            id: id.to_string(),
            media: MediaRef::File(find_clip(src, &stems)),
            text: None,
            target: Target::Captions(vec![caption]),
        });
    }
    items
}

/// The first existing `<stem>.<ext>` under the media directory, else `<first stem>.wav`.
fn find_clip(src: &Source, stems: &[String]) -> PathBuf {
    stems
        .iter()
        .flat_map(|s| {
            AUDIO_EXTENSIONS
                .iter()
                .map(move |e| src.media(&format!("{s}.{e}")))
        })
        .find(|p| p.is_file())
        .unwrap_or_else(|| src.media(&format!("{}.wav", stems[0])))
}

/// RFC 4180 CSV: comma-separated fields, `"…"` quoting with `""` for a quote, CRLF or LF.
pub fn parse(text: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        bail!("a quoted CSV field is not closed");
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows.retain(|r| !(r.len() == 1 && r[0].trim().is_empty()));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_and_line_ends() {
        let rows = parse("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\nlast,\n").unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["a".to_string(), "b".into()],
                vec!["x, y".into(), "say \"hi\"".into()],
                vec!["last".into(), "".into()],
            ]
        );
        assert!(parse("\"open").is_err());
    }
}
