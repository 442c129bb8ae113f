//! Live inputs and loops (ARCHITECTURE.md §5): cameras, microphones, file-backed stand-ins paced in
//! real time, behind two traits so that every loop runs the same way on a robot and in a test.
//!
//! A [`FrameSource`] yields RGB frames with their capture time; an [`AudioSource`] yields chunks
//! of mono samples. Sources block until their next item is due and never buffer more than one
//! item: the loops above them keep only the newest frame, so latency cannot build up.
//! [`start_frames`] / [`start_audio`] run a capture thread and an inference thread and deliver
//! [`LiveResult`]s; [`Tally`] turns them into the end-of-run [`Summary`].

//!
//! Cameras and microphones need the `live` feature (nokhwa, cpal), `video:FILE` the `video`
//! feature (FFmpeg); without them [`open_frame_source`] / [`open_audio_source`] return
//! [`LiveError::NotBuilt`]. Everything else (the loops, image folders, sound files) is always
//! built.

#[cfg(all(
    target_os = "linux",
    feature = "live",
    any(test, feature = "test-support")
))]
pub mod alsa_fifo;
mod audio_file;
#[cfg(feature = "live")]
mod camera;
#[cfg(feature = "live")]
pub mod camera_format;
mod capture;
mod clock;
#[cfg(feature = "live")]
pub mod devices;
mod error;
mod images;
mod latest;
mod loops;
#[cfg(feature = "live")]
mod microphone;
mod result;
mod run;
mod source;
mod spec;
mod summary;
mod task;
#[cfg(feature = "video")]
mod video_file;
mod window;

#[cfg(test)]
mod run_tests;

pub use audio_file::AudioFileSource;
#[cfg(feature = "live")]
pub use camera::CameraSource;
pub use capture::{human_secs, Backoff, BACKOFF_MAX, BACKOFF_START};
pub use clock::Stamp;
#[cfg(feature = "live")]
pub use devices::{list_cameras, list_microphones, CameraInfo, MicConfig, MicInfo};
pub use error::LiveError;
pub use images::ImageFolderSource;
pub use latest::{Latest, Taken, Watch};
#[cfg(feature = "live")]
pub use microphone::{MicOptions, MicrophoneSource};
pub use result::{LiveResult, ResultKind};
pub use run::{start_audio, start_frames, LiveRun, Opener, RESULT_BUFFER};
pub use source::{AudioChunk, AudioSource, Frame, FrameSource};
pub use spec::{open_audio_source, open_frame_source, AudioSpec, FrameOptions, FrameSpec};
pub use summary::{median, percentile, Summary, Tally};
pub use task::{AudioTask, FrameTask, Infer, QuestionBox};
#[cfg(feature = "video")]
pub use video_file::VideoFileSource;
pub use window::{rms_dbfs, AudioWindow, FrameWindow, WindowSpan};
