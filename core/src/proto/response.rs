//! Response-body decoders: `ExportMetricsServiceResponse` and `google.rpc.Status`.
//!
//! Decoding borrows from the body bytes and allocates nothing. Unknown fields of every wire
//! type are skipped, groups included (nested up to [`MAX_GROUP_DEPTH`]). A known field sent
//! with the wrong wire type is an error, as in the reference decoders. Nothing here panics,
//! whatever the bytes.
//!
//! Strings: when a string field is not valid UTF-8, the decoder keeps its longest valid
//! prefix and sets the matching `*_lossy` flag, rather than failing the whole message: the
//! counts that matter for accounting (`rejected_data_points`, `code`) survive a collector
//! that mangles its error text.
//!
//! ```
//! use otlp_embedded::proto::response::{decode_export_response, PartialSuccess};
//!
//! // partial_success { rejected_data_points: 3, error_message: "bad" }
//! let body = [0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd'];
//! let decoded = decode_export_response(&body).unwrap();
//! let partial = decoded.partial_success.unwrap();
//! assert_eq!((partial.rejected_data_points, partial.error_message), (3, "bad"));
//! ```

/// How deeply nested groups in unknown fields may be before decoding gives up.
pub const MAX_GROUP_DEPTH: usize = 16;

/// Why a body did not decode.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes end inside a field.
    Truncated,
    /// A varint is longer than 10 bytes or overflows 64 bits.
    VarintOverflow,
    /// A tag has field number 0 or does not fit in 32 bits.
    InvalidTag,
    /// Wire type 6 or 7, which do not exist.
    InvalidWireType(u8),
    /// A known field arrived with a wire type other than its own.
    WrongWireType {
        /// The field number.
        field: u32,
    },
    /// An end-group tag without its start, or for a different field.
    GroupMismatch,
    /// Groups nested deeper than [`MAX_GROUP_DEPTH`].
    GroupTooDeep,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("protobuf truncated"),
            DecodeError::VarintOverflow => f.write_str("protobuf varint overflow"),
            DecodeError::InvalidTag => f.write_str("protobuf invalid tag"),
            DecodeError::InvalidWireType(w) => write!(f, "protobuf invalid wire type {w}"),
            DecodeError::WrongWireType { field } => {
                write!(f, "protobuf field {field} has the wrong wire type")
            }
            DecodeError::GroupMismatch => f.write_str("protobuf unbalanced group"),
            DecodeError::GroupTooDeep => f.write_str("protobuf groups nested too deeply"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// `ExportMetricsPartialSuccess`: what the server rejected.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PartialSuccess<'a> {
    /// Field 1: data points the server rejected.
    pub rejected_data_points: i64,
    /// Field 2: the server's explanation (its valid UTF-8 prefix, see the module docs).
    pub error_message: &'a str,
    /// Whether `error_message` was cut at invalid UTF-8.
    pub error_message_lossy: bool,
}

/// `ExportMetricsServiceResponse`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExportResponse<'a> {
    /// Field 1, when present.
    pub partial_success: Option<PartialSuccess<'a>>,
}

/// `google.rpc.Status`, the error body of OTLP/HTTP.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RpcStatus<'a> {
    /// Field 1: the gRPC status code.
    pub code: i32,
    /// Field 2: the message (its valid UTF-8 prefix, see the module docs).
    pub message: &'a str,
    /// Whether `message` was cut at invalid UTF-8.
    pub message_lossy: bool,
    /// Field 3: how many `details` entries there were (their contents are skipped).
    pub details: u32,
}

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// The fields of `ExportMetricsPartialSuccess` and of `google.rpc.Status`, which share a
/// shape: 1 a varint, 2 a string, and (Status only) 3 repeated messages, counted.
#[derive(Copy, Clone, Default)]
struct Flat<'a> {
    number: u64,
    text: &'a str,
    lossy: bool,
    count: u32,
}

impl<'a> Flat<'a> {
    fn status(self) -> RpcStatus<'a> {
        RpcStatus {
            // int32 travels sign-extended to 64 bits; truncating recovers it.
            code: self.number as i32,
            message: self.text,
            message_lossy: self.lossy,
            details: self.count,
        }
    }

    fn partial_success(self) -> PartialSuccess<'a> {
        PartialSuccess {
            rejected_data_points: self.number as i64,
            error_message: self.text,
            error_message_lossy: self.lossy,
        }
    }
}

/// The message a [`Reader`] is reading the fields of.
///
/// Each message's known fields are 1 up to its value, so that one compare tells a known
/// field from one to skip.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Level {
    /// `ExportMetricsServiceResponse`: field 1 is the partial success, entered in place.
    Export = 1,
    /// The `ExportMetricsPartialSuccess` inside it: 1 a varint, 2 a string.
    Partial = 2,
    /// `google.rpc.Status`: as `Partial`, and 3 repeated messages, counted.
    Status = 3,
}

/// Why reading stopped, without the tag's parts some errors carry: the faults that need
/// them arise right after the tag is read, while it is still the reader's last varint, and
/// [`Fault::with_tag`] builds the [`DecodeError`] from it once, where reading ends, instead
/// of every error site carrying the error's payload.
#[derive(Copy, Clone)]
enum Fault {
    /// [`DecodeError::Truncated`].
    Truncated,
    /// [`DecodeError::VarintOverflow`].
    VarintOverflow,
    /// [`DecodeError::InvalidTag`].
    InvalidTag,
    /// [`DecodeError::InvalidWireType`], with the tag's wire type.
    InvalidWireType,
    /// [`DecodeError::WrongWireType`], with the tag's field number.
    WrongWireType,
    /// [`DecodeError::GroupMismatch`].
    GroupMismatch,
    /// [`DecodeError::GroupTooDeep`].
    GroupTooDeep,
}

impl Fault {
    /// The error, for a fault met while reading the field whose tag is `tag`.
    fn with_tag(self, tag: u32) -> DecodeError {
        match self {
            Fault::Truncated => DecodeError::Truncated,
            Fault::VarintOverflow => DecodeError::VarintOverflow,
            Fault::InvalidTag => DecodeError::InvalidTag,
            Fault::InvalidWireType => DecodeError::InvalidWireType((tag & 7) as u8),
            Fault::WrongWireType => DecodeError::WrongWireType { field: tag >> 3 },
            Fault::GroupMismatch => DecodeError::GroupMismatch,
            Fault::GroupTooDeep => DecodeError::GroupTooDeep,
        }
    }
}

/// Reads a response body's fields in one loop, one field per [`field`](Self::field) call.
///
/// Both bodies nest one known message at most, so a single reader with what is left of the
/// message it is in, and the field numbers of the unknown groups it is skipping, replaces a
/// decoder per message and a recursive skipper: a firmware image keeps one small copy.
struct Reader<'a> {
    /// What is left of the message being read: the body, or the partial success.
    rest: &'a [u8],
    /// What follows the partial success being read, in the body.
    after: &'a [u8],
    level: Level,
    /// Reading a body cut off by the caller's buffer: a length-delimited field that runs
    /// past the end of its message yields what arrived, and `cut` says so.
    lenient: bool,
    cut: bool,
    /// Whether a partial success was met (asked of an export response only).
    present: bool,
    /// What the partial success or the status said so far (repeated ones merge, as
    /// protobuf says).
    fields: Flat<'a>,
    /// Field numbers of the unknown groups being skipped, outermost first, `depth` of them.
    open: [u32; MAX_GROUP_DEPTH],
    depth: usize,
    /// The varint last read (after a fault that needs it, the tag: see [`Fault`]).
    value: u64,
}

/// Read a varint from the front of `rest`.
fn read_varint(rest: &mut &[u8]) -> Result<u64, Fault> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let (&b, after) = rest.split_first().ok_or(Fault::Truncated)?;
        *rest = after;
        // The tenth byte holds the 64th bit only.
        if shift == 63 && b > 1 {
            return Err(Fault::VarintOverflow);
        }
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(value);
        }
        shift += 7;
    }
}

impl<'a> Reader<'a> {
    /// A reader of a body holding a `level` message (`Export` or `Status`), strict or
    /// (`lenient`, `Export` only) reading a prefix cut off by the caller's buffer.
    fn new(bytes: &'a [u8], level: Level, lenient: bool) -> Self {
        Reader {
            rest: bytes,
            after: &[],
            level,
            lenient,
            cut: false,
            present: false,
            fields: Flat::default(),
            open: [0; MAX_GROUP_DEPTH],
            depth: 0,
            value: 0,
        }
    }

    /// Read every field of the body. Lenient, an error ends reading quietly, keeping what
    /// came before, and an error inside a partial success ends only that message.
    fn read(&mut self) -> Result<(), DecodeError> {
        loop {
            // Whether the message being read ended: it has no bytes left, or (lenient) it
            // met an error, which is the cut: what was decoded before it stays.
            let ended = (self.rest.is_empty() && self.depth == 0)
                || match self.field() {
                    Ok(()) => false,
                    Err(error) if !self.lenient => return Err(error.with_tag(self.value as u32)),
                    Err(_) => true,
                };
            if ended {
                if self.level != Level::Partial {
                    return Ok(());
                }
                // The partial success ended: back to the rest of the response.
                self.level = Level::Export;
                self.rest = self.after;
                self.cut = false;
                self.depth = 0;
            }
        }
    }

    /// Read a varint from what is left of the message into `self.value`. The varint reader
    /// is given a copy of `rest`, not the reader's field (it then inlines here, smaller),
    /// and only the fault comes back, in a register (a returned `Result<u64, _>` goes
    /// through memory on 32-bit cores).
    fn varint(&mut self) -> Result<(), Fault> {
        let mut rest = self.rest;
        self.value = read_varint(&mut rest)?;
        self.rest = rest;
        Ok(())
    }

    /// The next `n` bytes; reading leniently, what is left of the message when it ends first
    /// (and note the cut).
    fn take(&mut self, n: u64) -> Result<&'a [u8], Fault> {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let (taken, rest) = match self.rest.split_at_checked(n) {
            Some(parts) => parts,
            None if self.lenient => {
                self.cut = true;
                (self.rest, &[][..])
            }
            None => return Err(Fault::Truncated),
        };
        self.rest = rest;
        Ok(taken)
    }

    /// Read one field: keep it if it is known here, skip it otherwise (a group's start or
    /// end tag is one field).
    fn field(&mut self) -> Result<(), Fault> {
        self.varint()?;
        let tag = u32::try_from(self.value).map_err(|_| Fault::InvalidTag)?;
        let (field, wire) = (tag >> 3, (tag & 7) as u8);
        if field == 0 {
            return Err(Fault::InvalidTag);
        }
        if wire > FIXED32 {
            return Err(Fault::InvalidWireType);
        }
        let export = self.level == Level::Export;
        // Whether the field is known here (all of a group's fields are skipped). Lenient,
        // a field 1 of another wire type in the response is skipped like an unknown one.
        let known = self.depth == 0
            && field <= self.level as u32
            && !(export && self.lenient && wire != LEN);
        // A known field's wire type: the partial success and the strings and details are
        // length-delimited, the numbers varints.
        let expected = if field == 1 && !export { VARINT } else { LEN };
        if known && expected != wire {
            return Err(Fault::WrongWireType);
        }
        match wire {
            START_GROUP => {
                let slot = self.open.get_mut(self.depth).ok_or(Fault::GroupTooDeep)?;
                *slot = field;
                self.depth += 1;
            }
            // An end-group tag: it must close the innermost open group.
            END_GROUP => match self.depth.checked_sub(1) {
                Some(inner) if self.open.get(inner) == Some(&field) => self.depth = inner,
                _ => return Err(Fault::GroupMismatch),
            },
            // A varint's value or a length, read once for both; a fixed-size value is taken
            // like a length-delimited field (one take for all three): cut off by the buffer
            // (lenient), it ends its message as an error there would. Known fields here
            // are varints or length-delimited (the others failed the wire type test).
            _ => {
                let n = match wire {
                    FIXED64 => 8,
                    FIXED32 => 4,
                    _ => {
                        self.varint()?;
                        self.value
                    }
                };
                if wire == VARINT {
                    if known {
                        self.fields.number = n;
                    }
                    return Ok(());
                }
                let bytes = self.take(n)?;
                match (known, self.level, field) {
                    (false, _, _) => {}
                    (true, Level::Export, _) => {
                        // The partial success: read its fields in place, then come back.
                        self.present = true;
                        self.after = core::mem::replace(&mut self.rest, bytes);
                        self.level = Level::Partial;
                    }
                    (true, _, 2) => {
                        let (text, lossy) = super::utf8::valid_prefix(bytes);
                        self.fields.text = text;
                        self.fields.lossy = lossy | self.cut;
                    }
                    (true, _, _) => self.fields.count = self.fields.count.saturating_add(1),
                }
            }
        }
        Ok(())
    }
}

/// Decode an `ExportMetricsServiceResponse`, strictly or (`lenient`) as a prefix cut off
/// by the caller's buffer (see [`Reader::read`]).
fn decode_export(bytes: &[u8], lenient: bool) -> Result<ExportResponse<'_>, DecodeError> {
    let mut reader = Reader::new(bytes, Level::Export, lenient);
    reader.read()?;
    Ok(ExportResponse {
        partial_success: reader.present.then(|| reader.fields.partial_success()),
    })
}

/// Decode what arrived of an `ExportMetricsServiceResponse` that the caller's buffer cut
/// off: fields before the cut are kept (the rejected count comes first on the wire), a
/// message cut short is kept up to the cut and marked lossy, and decoding stops quietly at
/// the cut instead of failing.
pub fn decode_export_response_prefix(bytes: &[u8]) -> ExportResponse<'_> {
    decode_export(bytes, true).unwrap_or_default()
}

/// Decode an `ExportMetricsServiceResponse` (an empty body is a response with nothing set).
pub fn decode_export_response(bytes: &[u8]) -> Result<ExportResponse<'_>, DecodeError> {
    decode_export(bytes, false)
}

/// Decode a `google.rpc.Status`.
pub fn decode_status(bytes: &[u8]) -> Result<RpcStatus<'_>, DecodeError> {
    let mut reader = Reader::new(bytes, Level::Status, false);
    reader.read()?;
    Ok(reader.fields.status())
}

/// What an OTLP/HTTP response body says, decoded by [`decode_body`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResponseBody<'a> {
    /// 2xx with an empty body, or a protobuf body without a partial success that rejected
    /// anything or said anything: full success.
    Success,
    /// 2xx whose body reports a partial success (points rejected, or a warning message).
    PartialSuccess(PartialSuccess<'a>),
    /// Non-2xx with a protobuf `google.rpc.Status` body.
    Status(RpcStatus<'a>),
    /// Not decoded: the content type is not `application/x-protobuf`, or a non-2xx body is
    /// empty.
    NotDecoded,
    /// The body was longer than the buffer, so the protobuf is incomplete (a 2xx whose kept
    /// part shows a partial success is reported as [`ResponseBody::PartialSuccess`] with
    /// what arrived).
    Truncated,
    /// The protobuf body did not decode.
    Invalid(DecodeError),
}

/// A response body as an exchange kept it: what [`decode_body`] needs to know about the
/// response, and no more.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReceivedBody<'a> {
    /// The response's final status code: 2xx bodies are `ExportMetricsServiceResponse`,
    /// others `google.rpc.Status`.
    pub status: u16,
    /// Whether `Content-Type` was `application/x-protobuf`: only then is the body decoded.
    pub is_protobuf: bool,
    /// The body bytes that were kept.
    pub bytes: &'a [u8],
    /// Whether the body was longer than `bytes` (the rest was not kept).
    pub truncated: bool,
}

/// Decode a kept response body according to its status and content type.
// Kept out of its caller: that one call is smaller than the decoder inlined, and the
// reader's frame (its group stack) is not part of the caller's.
#[inline(never)]
pub fn decode_body<'a>(body: &ReceivedBody<'a>) -> ResponseBody<'a> {
    match read_body(body) {
        Read::Said(Level::Status, fields) => ResponseBody::Status(fields.status()),
        Read::Said(_, fields) => ResponseBody::PartialSuccess(fields.partial_success()),
        Read::Other(other) => other,
    }
}

/// What the export policy keeps of a response body: the number and message of the partial
/// success (a 2xx answer) or of the `Status` (any other) that [`decode_body`] reports for
/// the [`ReceivedBody`] of `status`, `is_protobuf`, `truncated` and the first `kept` bytes
/// of `body` (all of it when `kept` is longer), or `None` when it reports anything else.
/// The policy's own reading of the body: its answer's fields are handed over in
/// registers, not a response or a [`ReceivedBody`] in memory, and no [`ResponseBody`] is
/// built for it to take apart again.
// Out of line for the reason `decode_body` is.
#[inline(never)]
pub(crate) fn decode_said(
    status: u16,
    is_protobuf: bool,
    truncated: bool,
    kept: usize,
    body: &[u8],
) -> Option<(i64, &str)> {
    let body = ReceivedBody {
        status,
        is_protobuf,
        bytes: body.get(..kept).unwrap_or(body),
        truncated,
    };
    match read_body(&body) {
        Read::Said(_, fields) => Some((fields.number as i64, fields.text)),
        Read::Other(_) => None,
    }
}

/// How [`read_body`] ended.
enum Read<'a> {
    /// The body holds a partial success or a `Status` (at the level the reader ended at),
    /// with these fields.
    Said(Level, Flat<'a>),
    /// It says anything else: [`decode_body`]'s answer.
    Other(ResponseBody<'a>),
}

/// [`decode_body`]'s reading, shared with [`decode_said`].
#[inline(always)]
fn read_body<'a>(body: &ReceivedBody<'a>) -> Read<'a> {
    let bytes = body.bytes;
    let success = (200..300).contains(&body.status);
    // Nothing arrived: success for a 2xx, whatever its content type.
    if bytes.is_empty() && !body.truncated {
        return Read::Other(if success {
            ResponseBody::Success
        } else {
            ResponseBody::NotDecoded
        });
    }
    if !body.is_protobuf {
        return Read::Other(ResponseBody::NotDecoded);
    }
    if !success && body.truncated {
        return Read::Other(ResponseBody::Truncated);
    }
    // One reader for both messages: non-2xx bodies are a `Status`, read strictly; a 2xx
    // body cut off by the buffer is decoded as far as it arrived (then it does not fail):
    // a long partial-success message must not hide the rejected count before it.
    let level = if success {
        Level::Export
    } else {
        Level::Status
    };
    let mut reader = Reader::new(bytes, level, body.truncated);
    if let Err(e) = reader.read() {
        return Read::Other(ResponseBody::Invalid(e));
    }
    let fields = reader.fields;
    // Asked of the reader, not of `success`, so that one copy of the reading serves both.
    if reader.level == Level::Status {
        return Read::Said(Level::Status, fields);
    }
    // Whether a partial success was met need not be asked: without one the fields are
    // their defaults, which say nothing.
    if fields.number != 0 || !fields.text.is_empty() || (fields.lossy && !body.truncated) {
        Read::Said(reader.level, fields)
    } else if body.truncated {
        Read::Other(ResponseBody::Truncated)
    } else {
        Read::Other(ResponseBody::Success)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    /// A varint, appended.
    fn varint(out: &mut std::vec::Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push(value as u8 | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    /// Field 1 a varint, field 2 a string: a partial success's or a `Status`'s shape.
    fn flat(number: i64, text: &[u8]) -> std::vec::Vec<u8> {
        let mut out = std::vec::Vec::new();
        if number != 0 {
            out.push(0x08);
            varint(&mut out, number as u64);
        }
        if !text.is_empty() {
            out.push(0x12);
            varint(&mut out, text.len() as u64);
            out.extend_from_slice(text);
        }
        out
    }

    /// An `ExportMetricsServiceResponse` holding `partial`.
    fn export(partial: &[u8]) -> std::vec::Vec<u8> {
        let mut out = std::vec![0x0a];
        varint(&mut out, partial.len() as u64);
        out.extend_from_slice(partial);
        out
    }

    /// What the policy must get from `decode_said`: the number and message of the partial
    /// success or (message only) the `Status` that `decode_body` reports.
    fn expected<'a>(body: &ReceivedBody<'a>) -> Option<(Option<i64>, &'a str)> {
        match decode_body(body) {
            ResponseBody::PartialSuccess(p) => {
                Some((Some(p.rejected_data_points), p.error_message))
            }
            ResponseBody::Status(s) => Some((None, s.message)),
            _ => None,
        }
    }

    #[test]
    fn decode_said_agrees_with_decode_body() {
        let mut bodies = std::vec![
            std::vec::Vec::new(),
            export(&flat(3, b"bad")),
            export(&flat(0, b"")),
            export(&flat(-1, b"negative")),
            export(&flat(0, b"warning only")),
            export(&flat(7, b"caf\xc3\xa9 \xe2\x82")),
            flat(8, b"resource exhausted"),
            flat(0, b""),
            flat(14, b"\xff unavailable"),
            [export(&flat(1, b"a")), export(&flat(2, b""))].concat(),
            std::vec![0x0f],
            std::vec![0x0a, 0x05, 0x08],
        ];
        // Random bytes, and random bytes after a valid start.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..400 {
            let mut body = if len % 2 == 0 {
                std::vec::Vec::new()
            } else {
                export(&flat(5, b"kept"))
            };
            for _ in 0..len % 23 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                body.push(x as u8);
            }
            bodies.push(body);
        }
        let mut compared = 0;
        for body in &bodies {
            // Every length kept, and one past the body (the exchange's buffer was shorter).
            for kept in 0..=body.len() + 1 {
                for status in [200, 204, 299, 400, 429, 500, 503] {
                    for (is_protobuf, truncated) in
                        [(true, false), (true, true), (false, false), (false, true)]
                    {
                        let received = ReceivedBody {
                            status,
                            is_protobuf,
                            bytes: body.get(..kept).unwrap_or(body),
                            truncated,
                        };
                        let said = decode_said(status, is_protobuf, truncated, kept, body).map(
                            |(number, text)| ((200..300).contains(&status).then_some(number), text),
                        );
                        assert_eq!(said, expected(&received), "{received:?}");
                        compared += usize::from(said.is_some());
                    }
                }
            }
        }
        // Both kinds of message came up, many times.
        assert!(compared > 1000, "{compared}");
    }
}
