//! Live inputs and loops (ARCHITECTURE.md §5): cameras, microphones, file-backed stand-ins paced in
//! real time, behind two traits so that every loop runs the same way on a robot and in a test.
//!
//! A [`FrameSource`] yields RGB frames with their capture time; an [`AudioSource`] yields chunks
//! of mono samples. Sources block until their next item is due and never buffer more than one
//! item: the loops above them keep only the newest frame, so latency cannot build up.
//! [`start_frames`] / [`start_audio`] run a capture thread and an inference thread and deliver
//! [`LiveResult`]s; [`Tally`] turns them into the end-of-run [`Summary`].

#[cfg(all(target_os = "linux", any(test, feature = "test-support")))]
pub mod alsa_fifo;
mod audio_file;
mod camera;
pub mod camera_format;
mod capture;
mod clock;
pub mod devices;
mod engine;
mod error;
mod images;
mod latest;
mod loops;
mod microphone;
mod result;
mod source;
mod spec;
mod summary;
mod video_file;
mod window;

#[cfg(test)]
mod engine_tests;

pub use audio_file::AudioFileSource;
pub use camera::CameraSource;
pub use capture::{human_secs, Backoff, BACKOFF_MAX, BACKOFF_START};
pub use clock::Stamp;
pub use devices::{list_cameras, list_microphones, CameraInfo, MicConfig, MicInfo};
pub use engine::{
    start_audio, start_frames, AudioTask, FrameTask, Infer, LiveRun, Opener, QuestionBox,
    RESULT_BUFFER,
};
pub use error::LiveError;
pub use images::ImageFolderSource;
pub use latest::{Latest, Taken, Watch};
pub use microphone::{MicOptions, MicrophoneSource};
pub use result::{LiveResult, ResultKind};
pub use source::{AudioChunk, AudioSource, Frame, FrameSource};
pub use spec::{open_audio_source, open_frame_source, AudioSpec, FrameOptions, FrameSpec};
pub use summary::{median, percentile, Summary, Tally};
pub use video_file::VideoFileSource;
pub use window::{rms_dbfs, AudioWindow, FrameWindow, WindowSpan};
