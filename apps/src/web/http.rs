//! Just enough HTTP/1.1 for the live page, with every size bounded (issue 15): one request per
//! connection, a request head of at most [`MAX_HEAD_BYTES`] (431 beyond), a body of at most
//! [`MAX_BODY_BYTES`] whether sized by `Content-Length` (checked before a byte of it is read)
//! or sent chunked (counted as it arrives), 413 beyond. Time limits are the caller's: it reads
//! through a socket whose reads fail once the request's deadline has passed
//! ([`super::conn`]), which surfaces here as [`HttpError::Timeout`].
//!
//! [`read_request`] works on any [`BufRead`], so it is tested (and fuzzed) without sockets.

use std::io::{BufRead, ErrorKind, Read, Write};

/// Longest request head (request line and headers, with their line ends).
pub const MAX_HEAD_BYTES: u64 = 8 * 1024;
/// Most header lines in a head.
pub const MAX_HEADERS: usize = 64;
/// Longest request body: a question is a sentence; the task cuts longer text itself.
pub const MAX_BODY_BYTES: u64 = 4 * 1024;
/// Longest chunk-size line of a chunked body.
const MAX_CHUNK_LINE: u64 = 256;

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The target without its query string.
    pub path: String,
    /// Header names lower-cased, values trimmed, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name` (lower-case), the first if repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request came: each maps to the status answered, or to none ([`HttpError::Closed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The client left (or sent nothing) before a request began: nothing to answer.
    Closed,
    /// Not HTTP, or not the HTTP this server speaks.
    BadRequest(&'static str),
    /// The head exceeds [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`].
    HeadTooLarge,
    /// The body exceeds [`MAX_BODY_BYTES`].
    BodyTooLarge,
    /// The request took longer than its deadline (a slow or idle client).
    Timeout,
    /// A transfer coding other than `chunked`.
    Unsupported(&'static str),
}

impl HttpError {
    /// The status code and the text answered.
    pub fn status(&self) -> (u16, String) {
        match self {
            HttpError::Closed => (400, "closed".into()),
            HttpError::BadRequest(why) => (400, format!("bad request: {why}")),
            HttpError::HeadTooLarge => (
                431,
                format!("request headers too large (at most {MAX_HEAD_BYTES} bytes)"),
            ),
            HttpError::BodyTooLarge => (
                413,
                format!("request body too large (at most {MAX_BODY_BYTES} bytes)"),
            ),
            HttpError::Timeout => (408, "request timed out".into()),
            HttpError::Unsupported(what) => (501, format!("not supported: {what}")),
        }
    }
}

fn io_error(e: &std::io::Error) -> HttpError {
    match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => HttpError::Timeout,
        _ => HttpError::Closed,
    }
}

/// One line of at most `*budget` bytes (the budget shrinks by what was read), without its
/// line end; `too_long` is the error when the budget runs out first. `Ok(None)` at a clean end
/// of input.
fn read_line(
    r: &mut impl BufRead,
    budget: &mut u64,
    too_long: HttpError,
) -> Result<Option<Vec<u8>>, HttpError> {
    let mut line = Vec::new();
    let n = (&mut *r)
        .take(*budget)
        .read_until(b'\n', &mut line)
        .map_err(|e| io_error(&e))? as u64;
    *budget -= n;
    if line.last() != Some(&b'\n') {
        return match (n, *budget) {
            (0, _) => Ok(None),
            (_, 0) => Err(too_long),
            _ => Err(HttpError::BadRequest("the connection ended inside a line")),
        };
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// Reads one request from `r`: its head, then its body within the limits.
pub fn read_request(r: &mut impl BufRead) -> Result<Request, HttpError> {
    let mut budget = MAX_HEAD_BYTES;
    let first = loop {
        // Blank lines before a request are allowed (RFC 9112 §2.2).
        match read_line(r, &mut budget, HttpError::HeadTooLarge)? {
            None => return Err(HttpError::Closed),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let (method, path) = request_line(&first)?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, &mut budget, HttpError::HeadTooLarge)?.ok_or(
            HttpError::BadRequest("the connection ended inside the headers"),
        )?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(HttpError::HeadTooLarge);
        }
        headers.push(header_line(&line)?);
    }
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    req.body = read_body(r, &req)?;
    Ok(req)
}

/// `METHOD TARGET HTTP/1.x` → method and path (query dropped).
fn request_line(line: &[u8]) -> Result<(String, String), HttpError> {
    let text = std::str::from_utf8(line).map_err(|_| HttpError::BadRequest("request line"))?;
    let mut parts = text.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequest("request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::BadRequest("HTTP version"));
    }
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase());
    if !token(method) || !target.starts_with('/') {
        return Err(HttpError::BadRequest("request line"));
    }
    let path = target.split('?').next().unwrap_or(target);
    Ok((method.to_string(), path.to_string()))
}

/// `Name: value` → lower-cased name and trimmed value.
fn header_line(line: &[u8]) -> Result<(String, String), HttpError> {
    let bad = HttpError::BadRequest("header line");
    let colon = line.iter().position(|&b| b == b':').ok_or(bad.clone())?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    // No whitespace before the colon, and no obsolete line folding (RFC 9112 §5).
    if name.is_empty() || name.iter().any(|b| !b.is_ascii_graphic()) {
        return Err(bad);
    }
    let value = String::from_utf8_lossy(value).trim().to_string();
    Ok((String::from_utf8_lossy(name).to_ascii_lowercase(), value))
}

/// The body `req`'s headers announce: none, `Content-Length` bytes, or chunked.
fn read_body(r: &mut impl BufRead, req: &Request) -> Result<Vec<u8>, HttpError> {
    let lengths: Vec<&str> = req
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .map(|(_, v)| v.as_str())
        .collect();
    if let Some(coding) = req.header("transfer-encoding") {
        // Both framings at once is how requests are smuggled: refuse (RFC 9112 §6.3).
        if !lengths.is_empty() {
            return Err(HttpError::BadRequest(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if !coding.eq_ignore_ascii_case("chunked") {
            return Err(HttpError::Unsupported("transfer coding"));
        }
        return read_chunked(r);
    }
    let Some(first) = lengths.first() else {
        return Ok(Vec::new());
    };
    if lengths.iter().any(|l| l != first) {
        return Err(HttpError::BadRequest("conflicting Content-Length"));
    }
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HttpError::BadRequest("Content-Length"));
    }
    // A number too long to parse is too large anyway.
    let len = first.parse::<u64>().unwrap_or(u64::MAX);
    if len > MAX_BODY_BYTES {
        return Err(HttpError::BodyTooLarge);
    }
    let mut body = Vec::with_capacity(len as usize);
    (&mut *r)
        .take(len)
        .read_to_end(&mut body)
        .map_err(|e| io_error(&e))?;
    if body.len() as u64 != len {
        return Err(HttpError::BadRequest(
            "the body is shorter than Content-Length",
        ));
    }
    Ok(body)
}

/// A chunked body, never holding more than [`MAX_BODY_BYTES`].
fn read_chunked(r: &mut impl BufRead) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    let ended = HttpError::BadRequest("the connection ended inside the body");
    loop {
        let mut budget = MAX_CHUNK_LINE;
        let line = read_line(r, &mut budget, HttpError::BadRequest("chunk size line"))?
            .ok_or(ended.clone())?;
        let size_text = line.split(|&b| b == b';').next().unwrap_or(&line);
        let size_text = std::str::from_utf8(size_text)
            .map_err(|_| HttpError::BadRequest("chunk size"))?
            .trim();
        if size_text.is_empty() || size_text.len() > 16 {
            return Err(HttpError::BadRequest("chunk size"));
        }
        let size =
            u64::from_str_radix(size_text, 16).map_err(|_| HttpError::BadRequest("chunk size"))?;
        if size == 0 {
            break;
        }
        if body.len() as u64 + size > MAX_BODY_BYTES {
            return Err(HttpError::BodyTooLarge);
        }
        let before = body.len();
        (&mut *r)
            .take(size)
            .read_to_end(&mut body)
            .map_err(|e| io_error(&e))?;
        let mut budget = 2;
        let end = read_line(r, &mut budget, HttpError::BadRequest("chunk end"))?;
        if (body.len() - before) as u64 != size || end.is_none_or(|l| !l.is_empty()) {
            return Err(HttpError::BadRequest("chunk data"));
        }
    }
    // Trailer fields, bounded like a head, then the blank line.
    let mut budget = MAX_HEAD_BYTES;
    loop {
        match read_line(r, &mut budget, HttpError::HeadTooLarge)? {
            Some(l) if l.is_empty() => return Ok(body),
            Some(_) => {}
            None => return Err(ended),
        }
    }
}

/// The reason phrase of the statuses this server sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes a whole response (the connection closes after it).
pub fn write_response(
    w: &mut impl Write,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    write!(
        w,
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    )?;
    w.write_all(body)?;
    w.flush()
}

/// Writes the head of a response whose body streams until the connection closes.
pub fn write_stream_head(w: &mut impl Write, content_type: &str) -> std::io::Result<()> {
    write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nCache-Control: no-store\r\n\
         Connection: close\r\nX-Accel-Buffering: no\r\n\r\n"
    )?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Request, HttpError> {
        read_request(&mut std::io::BufReader::with_capacity(7, bytes))
    }

    #[test]
    fn a_plain_get_and_a_sized_post() {
        let r = parse(b"GET /info?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/info"));
        assert_eq!(r.header("host"), Some("a"));
        let r = parse(b"\r\nPOST /question HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").unwrap();
        assert_eq!(r.body, b"hello");
        let r = parse(b"POST /q HTTP/1.0\nContent-Length: 2\n\nhi").unwrap();
        assert_eq!(r.body, b"hi");
    }

    #[test]
    fn chunked_bodies_are_decoded_and_bounded() {
        let r = parse(
            b"POST /q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"abcde");
        let mut big = b"POST /q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..5 {
            big.extend_from_slice(b"3e8\r\n");
            big.extend_from_slice(&[b'a'; 1000]);
            big.extend_from_slice(b"\r\n");
        }
        big.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(parse(&big), Err(HttpError::BodyTooLarge));
        let huge = b"POST /q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n";
        assert_eq!(parse(huge), Err(HttpError::BodyTooLarge));
    }

    #[test]
    fn limits_and_malformed_requests() {
        let too_long = b"POST /q HTTP/1.1\r\nContent-Length: 50000000\r\n\r\n";
        assert_eq!(parse(too_long), Err(HttpError::BodyTooLarge));
        let digits = b"POST /q HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert_eq!(parse(digits), Err(HttpError::BodyTooLarge));
        let mut head = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        head.extend(std::iter::repeat_n(b'a', 20_000));
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&head), Err(HttpError::HeadTooLarge));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse(&many), Err(HttpError::HeadTooLarge));
        assert_eq!(parse(b""), Err(HttpError::Closed));
        for bad in [
            &b"GET /\r\n\r\n"[..],
            b"GET / HTTP/2\r\n\r\n",
            b"get / HTTP/1.1\r\n\r\n",
            b"GET x HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nNo colon\r\n\r\n",
            b"GET / HTTP/1.1\r\n folded: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(HttpError::BadRequest(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let gzip = b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n";
        assert_eq!(parse(gzip), Err(HttpError::Unsupported("transfer coding")));
    }

    #[test]
    fn responses_are_whole() {
        let mut out = Vec::new();
        write_response(&mut out, 413, "text/plain", b"no").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
            "{text}"
        );
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.ends_with("\r\n\r\nno"));
    }
}
