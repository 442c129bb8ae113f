//! Live inputs (DESIGN.md §6): cameras, microphones and file-backed stand-ins paced in real
//! time, behind two traits so that every loop runs the same way on a robot and in a test.
//!
//! A [`FrameSource`] yields RGB frames with their capture time; an [`AudioSource`] yields chunks
//! of mono samples. Sources block until their next item is due and never buffer more than one
//! item: the loops above them keep only the newest frame, so latency cannot build up.

#[cfg(all(target_os = "linux", any(test, feature = "test-support")))]
pub mod alsa_fifo;
mod audio_file;
mod camera;
pub mod camera_format;
mod clock;
pub mod devices;
mod error;
mod images;
mod microphone;
mod source;
mod spec;
mod video_file;

pub use audio_file::AudioFileSource;
pub use camera::CameraSource;
pub use clock::Stamp;
pub use devices::{list_cameras, list_microphones, CameraInfo, MicConfig, MicInfo};
pub use error::LiveError;
pub use images::ImageFolderSource;
pub use microphone::{MicOptions, MicrophoneSource};
pub use source::{AudioChunk, AudioSource, Frame, FrameSource};
pub use spec::{open_audio_source, open_frame_source, AudioSpec, FrameOptions, FrameSpec};
pub use video_file::VideoFileSource;
