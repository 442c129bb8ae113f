//! Live inputs (DESIGN.md §6): cameras, microphones and file-backed stand-ins paced in real
//! time, behind two traits so that every loop runs the same way on a robot and in a test.
//!
//! A [`FrameSource`] yields RGB frames with their capture time; an [`AudioSource`] yields chunks
//! of mono samples. Sources block until their next item is due and never buffer more than one
//! item: the loops above them keep only the newest frame, so latency cannot build up.

mod clock;
mod error;
mod images;
mod source;
mod spec;

pub use clock::Stamp;
pub use error::LiveError;
pub use images::ImageFolderSource;
pub use source::{AudioChunk, AudioSource, Frame, FrameSource};
pub use spec::{open_audio_source, open_frame_source, AudioSpec, FrameOptions, FrameSpec};
