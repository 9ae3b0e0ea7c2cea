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

struct Input<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Reading a body cut off by the caller's buffer: a length-delimited field that runs
    /// past the end yields what arrived, and `cut` says so.
    lenient: bool,
    cut: bool,
}

impl<'a> Input<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Input {
            bytes,
            pos: 0,
            lenient: false,
            cut: false,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for i in 0..10u32 {
            let b = *self.bytes.get(self.pos).ok_or(DecodeError::Truncated)?;
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(DecodeError::VarintOverflow);
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintOverflow)
    }

    fn tag(&mut self) -> Result<(u32, u8), DecodeError> {
        let tag = self.varint()?;
        let tag = u32::try_from(tag).map_err(|_| DecodeError::InvalidTag)?;
        let field = tag >> 3;
        if field == 0 {
            return Err(DecodeError::InvalidTag);
        }
        match (tag & 7) as u8 {
            wire @ (6 | 7) => Err(DecodeError::InvalidWireType(wire)),
            wire => Ok((field, wire)),
        }
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        let n = usize::try_from(n).map_err(|_| DecodeError::Truncated)?;
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let bytes = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn len_delimited(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.varint()?;
        let available = (self.bytes.len() - self.pos.min(self.bytes.len())) as u64;
        if self.lenient && n > available {
            self.cut = true;
            return self.take(available);
        }
        self.take(n)
    }

    /// Skip the value of a field of `wire` type; `field` names a group's field number.
    fn skip(&mut self, field: u32, wire: u8) -> Result<(), DecodeError> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.len_delimited().map(drop),
            FIXED32 => self.take(4).map(drop),
            START_GROUP => self.skip_group(field),
            END_GROUP => Err(DecodeError::GroupMismatch),
            other => Err(DecodeError::InvalidWireType(other)),
        }
    }

    /// Skip a group whose start tag (for `field`) was just read, nested groups included,
    /// without recursion: the open groups' field numbers are kept in a fixed stack.
    fn skip_group(&mut self, field: u32) -> Result<(), DecodeError> {
        let mut open = [0u32; MAX_GROUP_DEPTH];
        let mut depth = 1usize;
        if let Some(slot) = open.first_mut() {
            *slot = field;
        }
        while depth > 0 {
            let (f, wire) = self.tag()?;
            match wire {
                START_GROUP => {
                    let slot = open.get_mut(depth).ok_or(DecodeError::GroupTooDeep)?;
                    *slot = f;
                    depth += 1;
                }
                END_GROUP => {
                    if open.get(depth - 1) != Some(&f) {
                        return Err(DecodeError::GroupMismatch);
                    }
                    depth -= 1;
                }
                other => self.skip(f, other)?,
            }
        }
        Ok(())
    }
}

/// The longest valid UTF-8 prefix of `bytes`, and whether anything was cut.
fn lossy_str(bytes: &[u8]) -> (&str, bool) {
    match core::str::from_utf8(bytes) {
        Ok(s) => (s, false),
        Err(e) => {
            let valid = bytes.get(..e.valid_up_to()).unwrap_or(b"");
            (core::str::from_utf8(valid).unwrap_or(""), true)
        }
    }
}

fn expect(field: u32, wire: u8, expected: u8) -> Result<(), DecodeError> {
    if wire == expected {
        Ok(())
    } else {
        Err(DecodeError::WrongWireType { field })
    }
}

/// The fields of `ExportMetricsPartialSuccess` and of `google.rpc.Status`, which share a
/// shape: 1 a varint, 2 a string, and (Status only) 3 repeated messages, counted. One
/// decoder for both keeps one copy of the field loop in a firmware image.
#[derive(Copy, Clone, Default)]
struct Flat<'a> {
    number: u64,
    text: &'a str,
    lossy: bool,
    count: u32,
}

impl<'a> Flat<'a> {
    fn partial_success(self) -> PartialSuccess<'a> {
        PartialSuccess {
            rejected_data_points: self.number as i64,
            error_message: self.text,
            error_message_lossy: self.lossy,
        }
    }
}

/// Merge the fields of `input` into `into` (a repeated embedded message merges into the
/// one before, as protobuf says); with `counted`, field 3 is known and counted.
fn merge_flat<'a>(
    into: &mut Flat<'a>,
    input: &mut Input<'a>,
    counted: bool,
) -> Result<(), DecodeError> {
    while !input.at_end() {
        let (field, wire) = input.tag()?;
        match field {
            1 => {
                expect(field, wire, VARINT)?;
                into.number = input.varint()?;
            }
            2 => {
                expect(field, wire, LEN)?;
                (into.text, into.lossy) = lossy_str(input.len_delimited()?);
                into.lossy |= input.cut;
            }
            3 if counted => {
                expect(field, wire, LEN)?;
                input.len_delimited()?;
                into.count = into.count.saturating_add(1);
            }
            _ => input.skip(field, wire)?,
        }
    }
    Ok(())
}

/// Decode an `ExportMetricsServiceResponse`, strictly or (`lenient`) as a prefix cut off
/// by the caller's buffer: then an error ends decoding quietly, keeping what came before.
fn decode_export(bytes: &[u8], lenient: bool) -> Result<ExportResponse<'_>, DecodeError> {
    let mut input = Input::new(bytes);
    input.lenient = lenient;
    let mut partial: Option<Flat<'_>> = None;
    while !input.at_end() {
        match export_field(&mut input, &mut partial) {
            Ok(()) => {}
            Err(_) if lenient => break,
            Err(error) => return Err(error),
        }
    }
    Ok(ExportResponse {
        partial_success: partial.map(Flat::partial_success),
    })
}

/// One field of an `ExportMetricsServiceResponse`.
fn export_field<'a>(
    input: &mut Input<'a>,
    partial: &mut Option<Flat<'a>>,
) -> Result<(), DecodeError> {
    let (field, wire) = input.tag()?;
    // Lenient: a field 1 of another wire type is skipped like an unknown one.
    if field != 1 || (input.lenient && wire != LEN) {
        return input.skip(field, wire);
    }
    expect(field, wire, LEN)?;
    let mut nested = Input::new(input.len_delimited()?);
    nested.lenient = input.lenient;
    nested.cut = input.cut;
    let merged = merge_flat(
        partial.get_or_insert_with(Flat::default),
        &mut nested,
        false,
    );
    // Lenient: an error inside is the cut; what was decoded before it stays.
    if input.lenient {
        Ok(())
    } else {
        merged
    }
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
    let mut fields = Flat::default();
    merge_flat(&mut fields, &mut Input::new(bytes), true)?;
    Ok(RpcStatus {
        // int32 travels sign-extended to 64 bits; truncating recovers it.
        code: fields.number as i32,
        message: fields.text,
        message_lossy: fields.lossy,
        details: fields.count,
    })
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
pub fn decode_body<'a>(body: &ReceivedBody<'a>) -> ResponseBody<'a> {
    let bytes = body.bytes;
    let success = (200..300).contains(&body.status);
    if success && bytes.is_empty() && !body.truncated {
        return ResponseBody::Success;
    }
    if !body.is_protobuf || (!success && bytes.is_empty() && !body.truncated) {
        return ResponseBody::NotDecoded;
    }
    if !success {
        if body.truncated {
            return ResponseBody::Truncated;
        }
        return match decode_status(bytes) {
            Ok(status) => ResponseBody::Status(status),
            Err(e) => ResponseBody::Invalid(e),
        };
    }
    // A 2xx body cut off by the buffer is decoded as far as it arrived (then it does not
    // fail): a long partial-success message must not hide the rejected count before it.
    match decode_export(bytes, body.truncated) {
        Ok(ExportResponse {
            partial_success: Some(p),
        }) if p.rejected_data_points != 0
            || !p.error_message.is_empty()
            || (p.error_message_lossy && !body.truncated) =>
        {
            ResponseBody::PartialSuccess(p)
        }
        Ok(_) if body.truncated => ResponseBody::Truncated,
        Ok(_) => ResponseBody::Success,
        Err(e) => ResponseBody::Invalid(e),
    }
}
