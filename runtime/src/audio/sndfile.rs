//! A minimal, safe binding to libsndfile: the very library the original's `soundfile.read`
//! wraps, so every format it reads (WAV/WAVEX, W64, AIFF, AU, FLAC, Ogg Vorbis/Opus, MP3,
//! A-law/µ-law, IMA/MS-ADPCM, GSM 6.10, …) decodes to the same `float64` samples by
//! construction, including libsndfile's ADPCM block handling and its lenient reading of
//! truncated files.
//!
//! Only what decoding needs is declared: `sf_open_virtual` (the bytes come through our own
//! bounded read/seek callbacks, from a file or from memory), `sf_readf_double` (soundfile's
//! default dtype is float64; it sets no scaling command for reading, only `SFC_SET_CLIPPING`,
//! which affects float→int conversion and so not a double read), `sf_command` for the header
//! log, `sf_strerror` and `sf_close`.

use super::decode::ByteSource;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::io::SeekFrom;

/// `sf_count_t`: 64-bit on every platform libsndfile supports.
type SfCount = i64;

/// `SF_INFO`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct SfInfo {
    frames: SfCount,
    samplerate: c_int,
    channels: c_int,
    format: c_int,
    sections: c_int,
    seekable: c_int,
}

/// `SF_VIRTUAL_IO`: callbacks through which libsndfile reads the stream.
#[repr(C)]
struct SfVirtualIo {
    get_filelen: unsafe extern "C" fn(*mut c_void) -> SfCount,
    seek: unsafe extern "C" fn(SfCount, c_int, *mut c_void) -> SfCount,
    read: unsafe extern "C" fn(*mut c_void, SfCount, *mut c_void) -> SfCount,
    write: unsafe extern "C" fn(*const c_void, SfCount, *mut c_void) -> SfCount,
    tell: unsafe extern "C" fn(*mut c_void) -> SfCount,
}

#[repr(C)]
struct RawSndFile {
    _private: [u8; 0],
}

const SFM_READ: c_int = 0x10;
const SFC_GET_LOG_INFO: c_int = 0x1001;
const SEEK_SET: c_int = 0;
const SEEK_CUR: c_int = 1;
const SEEK_END: c_int = 2;

#[link(name = "sndfile")]
extern "C" {
    fn sf_open_virtual(
        sfvirtual: *mut SfVirtualIo,
        mode: c_int,
        sfinfo: *mut SfInfo,
        user_data: *mut c_void,
    ) -> *mut RawSndFile;
    fn sf_strerror(sndfile: *mut RawSndFile) -> *const c_char;
    fn sf_error(sndfile: *mut RawSndFile) -> c_int;
    fn sf_command(sndfile: *mut RawSndFile, cmd: c_int, data: *mut c_void, size: c_int) -> c_int;
    fn sf_readf_double(sndfile: *mut RawSndFile, ptr: *mut f64, frames: SfCount) -> SfCount;
    fn sf_close(sndfile: *mut RawSndFile) -> c_int;
}

/// The stream behind the callbacks, with its length measured once.
struct Stream {
    inner: Box<dyn ByteSource>,
    len: u64,
}

/// SAFETY (all callbacks): `user_data` is the `*mut Stream` given to `sf_open_virtual`, owned
/// by the [`SndFile`] (boxed, so it does not move) for as long as the handle is open; libsndfile
/// calls back only from inside our calls on that handle, one at a time.
unsafe extern "C" fn vio_len(user: *mut c_void) -> SfCount {
    let stream = &*(user as *const Stream);
    SfCount::try_from(stream.len).unwrap_or(SfCount::MAX)
}

unsafe extern "C" fn vio_seek(offset: SfCount, whence: c_int, user: *mut c_void) -> SfCount {
    let stream = &mut *(user as *mut Stream);
    let target = match whence {
        SEEK_SET => match u64::try_from(offset) {
            Ok(o) => SeekFrom::Start(o),
            Err(_) => return -1,
        },
        SEEK_CUR => SeekFrom::Current(offset),
        SEEK_END => SeekFrom::End(offset),
        _ => return -1,
    };
    match stream.inner.seek(target) {
        Ok(pos) => SfCount::try_from(pos).unwrap_or(-1),
        Err(_) => -1,
    }
}

unsafe extern "C" fn vio_read(ptr: *mut c_void, count: SfCount, user: *mut c_void) -> SfCount {
    let stream = &mut *(user as *mut Stream);
    let Ok(count) = usize::try_from(count) else {
        return 0;
    };
    if ptr.is_null() || count == 0 {
        return 0;
    }
    // SAFETY: libsndfile passes a buffer of at least `count` writable bytes.
    let buf = std::slice::from_raw_parts_mut(ptr as *mut u8, count);
    let mut done = 0;
    while done < count {
        match stream.inner.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    done as SfCount
}

unsafe extern "C" fn vio_write(
    _ptr: *const c_void,
    _count: SfCount,
    _user: *mut c_void,
) -> SfCount {
    0 // opened read-only
}

unsafe extern "C" fn vio_tell(user: *mut c_void) -> SfCount {
    let stream = &mut *(user as *mut Stream);
    match stream.inner.stream_position() {
        Ok(pos) => SfCount::try_from(pos).unwrap_or(-1),
        Err(_) => -1,
    }
}

/// Why libsndfile refused to open a stream.
#[derive(Debug, Clone)]
pub struct OpenError {
    /// libsndfile's error number (`sf_error`): 1 unrecognised format, 2 system error,
    /// 3 malformed file, 4 unsupported encoding, larger numbers are its detailed codes.
    pub code: i32,
    /// libsndfile's message (`sf_strerror`).
    pub message: String,
}

/// An open libsndfile handle reading from a [`ByteSource`].
pub struct SndFile {
    handle: *mut RawSndFile,
    info: SfInfo,
    // Kept alive (and in place) for the callbacks until `sf_close` in `drop`.
    _stream: Box<Stream>,
}

// SAFETY: the handle and its stream are used from one thread at a time (`&mut self`).
unsafe impl Send for SndFile {}

impl SndFile {
    /// Opens `source` (of `len` bytes) for reading; the format is detected from the content.
    pub fn open(source: Box<dyn ByteSource>, len: u64) -> Result<SndFile, OpenError> {
        let mut stream = Box::new(Stream { inner: source, len });
        let mut vio = SfVirtualIo {
            get_filelen: vio_len,
            seek: vio_seek,
            read: vio_read,
            write: vio_write,
            tell: vio_tell,
        };
        let mut info = SfInfo::default();
        let user = &mut *stream as *mut Stream as *mut c_void;
        // SAFETY: `vio` and `info` outlive the call (libsndfile copies the callbacks); `user`
        // points to the boxed stream kept in the returned value.
        let handle = unsafe { sf_open_virtual(&mut vio, SFM_READ, &mut info, user) };
        if handle.is_null() {
            // SAFETY: a null handle asks for the error of the last failed open.
            let (code, message) = unsafe { (sf_error(handle), c_message(sf_strerror(handle))) };
            return Err(OpenError { code, message });
        }
        Ok(SndFile {
            handle,
            info,
            _stream: stream,
        })
    }

    /// Frames the header announces (libsndfile's count, already cut to what the file holds for
    /// PCM; an estimate for some compressed formats).
    pub fn frames(&self) -> i64 {
        self.info.frames
    }

    /// Sample rate in Hz as stored (may be 0 or negative in a damaged header).
    pub fn sample_rate(&self) -> i32 {
        self.info.samplerate
    }

    /// Channel count as stored.
    pub fn channels(&self) -> i32 {
        self.info.channels
    }

    /// Reads up to `buf.len() / channels` interleaved frames as `f64` in `[-1, 1]` (libsndfile's
    /// normalisation); returns the frames read, 0 at the end of the stream.
    pub fn read_frames(&mut self, buf: &mut [f64]) -> usize {
        let channels = usize::try_from(self.info.channels).unwrap_or(0);
        if channels == 0 {
            return 0;
        }
        let frames = SfCount::try_from(buf.len() / channels).unwrap_or(SfCount::MAX);
        // SAFETY: `buf` holds `frames · channels` doubles.
        let got = unsafe { sf_readf_double(self.handle, buf.as_mut_ptr(), frames) };
        usize::try_from(got).unwrap_or(0)
    }

    /// libsndfile's header-parsing log (its warnings start with `***` or `!!!`).
    pub fn log(&mut self) -> String {
        let mut buf = vec![0u8; 1 << 14];
        let size = c_int::try_from(buf.len()).unwrap_or(0);
        // SAFETY: `buf` has `size` writable bytes; libsndfile NUL-terminates within them.
        unsafe { sf_command(self.handle, SFC_GET_LOG_INFO, buf.as_mut_ptr().cast(), size) };
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    }
}

impl Drop for SndFile {
    fn drop(&mut self) {
        // SAFETY: the handle is open and closed exactly once, before the stream is dropped.
        unsafe { sf_close(self.handle) };
    }
}

/// A C string from libsndfile, or a placeholder when it gives none.
unsafe fn c_message(ptr: *const c_char) -> String {
    if ptr.is_null() {
        "unknown libsndfile error".to_string()
    } else {
        CStr::from_ptr(ptr).to_string_lossy().trim().to_string()
    }
}
