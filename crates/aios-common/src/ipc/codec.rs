//! Framing (4-byte big-endian length + UTF-8 JSON) and message decoding.

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::message::{ErrorCode, IpcMessage, MESSAGE_TYPES};

const HEADER: usize = 4;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The announced length is over the limit; the body was not read.
    #[error("frame of {len} bytes exceeds the {max}-byte limit; send smaller messages")]
    FrameTooLarge {
        /// Announced length.
        len: usize,
        /// Limit in force.
        max: usize,
    },
    /// The stream ended inside a frame.
    #[error("connection closed inside a frame ({have} of {need} bytes received)")]
    Truncated {
        /// Bytes received, header included.
        have: usize,
        /// Bytes the frame needed, header included.
        need: usize,
    },
    /// The body is not UTF-8.
    #[error("frame body is not UTF-8: {0}")]
    InvalidUtf8(#[from] std::str::Utf8Error),
    /// The body is not a JSON object with a string `type`.
    #[error("frame body is not a JSON message: {0}")]
    InvalidJson(String),
    /// The `type` is not part of the protocol.
    #[error("unknown message type {0:?}; is the client newer than the agent?")]
    UnknownType(String),
    /// A known type whose fields do not match.
    #[error("malformed {kind} message: {error}")]
    InvalidMessage {
        /// The message's `type`.
        kind: String,
        /// What serde found wrong.
        error: String,
    },
    /// Serialising an outgoing message failed.
    #[error("cannot encode message: {0}")]
    Encode(String),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl CodecError {
    /// The protocol error code to report to the peer, if this is the peer's fault.
    pub fn code(&self) -> Option<ErrorCode> {
        Some(match self {
            CodecError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            CodecError::Truncated { .. } => ErrorCode::TruncatedFrame,
            CodecError::InvalidUtf8(_) => ErrorCode::InvalidUtf8,
            CodecError::InvalidJson(_) => ErrorCode::InvalidJson,
            CodecError::UnknownType(_) => ErrorCode::UnknownMessageType,
            CodecError::InvalidMessage { .. } => ErrorCode::InvalidMessage,
            CodecError::Encode(_) | CodecError::Io(_) => return None,
        })
    }
}

/// Splits a byte stream into frame bodies, refusing lengths over `max`.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max: usize,
}

impl FrameDecoder {
    /// A decoder with the given body limit.
    pub fn new(max: usize) -> Self {
        Self { max }
    }
}

impl Decoder for FrameDecoder {
    type Item = BytesMut;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, CodecError> {
        if src.len() < HEADER {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max {
            return Err(CodecError::FrameTooLarge { len, max: self.max });
        }
        if src.len() < HEADER + len {
            // Reserve once so a large frame does not grow the buffer step by step.
            src.reserve(HEADER + len - src.len());
            return Ok(None);
        }
        src.advance(HEADER);
        Ok(Some(src.split_to(len)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, CodecError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => {
                let need = if src.len() >= HEADER {
                    HEADER + u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize
                } else {
                    HEADER
                };
                let have = src.len();
                src.clear();
                Err(CodecError::Truncated { have, need })
            }
        }
    }
}

/// Parses one frame body into a message, classifying what is wrong with a bad one.
pub fn decode_message(body: &[u8]) -> Result<IpcMessage, CodecError> {
    // Fast path: one typed parse. Only a failure pays for the classification below.
    if let Ok(msg) = serde_json::from_slice::<IpcMessage>(body) {
        return Ok(msg);
    }
    let text = std::str::from_utf8(body)?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| CodecError::InvalidJson(e.to_string()))?;
    let kind = value
        .as_object()
        .ok_or_else(|| CodecError::InvalidJson("expected a JSON object".into()))?
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| CodecError::InvalidJson("missing string field \"type\"".into()))?
        .to_owned();
    if !MESSAGE_TYPES.contains(&kind.as_str()) {
        return Err(CodecError::UnknownType(kind));
    }
    match serde_json::from_value::<IpcMessage>(value) {
        Ok(msg) => Ok(msg),
        Err(e) => Err(CodecError::InvalidMessage {
            kind,
            error: e.to_string(),
        }),
    }
}

/// Serialises one message into a frame (header + body) appended to `dst`.
pub fn encode_message(msg: &IpcMessage, max: usize, dst: &mut BytesMut) -> Result<(), CodecError> {
    let start = dst.len();
    dst.put_u32(0);
    let mut writer = dst.writer();
    serde_json::to_writer(&mut writer, msg).map_err(|e| CodecError::Encode(e.to_string()))?;
    let dst = writer.into_inner();
    let len = dst.len() - start - HEADER;
    if len > max {
        dst.truncate(start);
        return Err(CodecError::FrameTooLarge { len, max });
    }
    dst[start..start + HEADER].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// [`FrameDecoder`] plus [`decode_message`] / [`encode_message`], for `Framed`.
#[derive(Debug, Clone, Copy)]
pub struct MessageCodec {
    frames: FrameDecoder,
}

impl MessageCodec {
    /// A codec with the given body limit, applied both ways.
    pub fn new(max: usize) -> Self {
        Self {
            frames: FrameDecoder::new(max),
        }
    }
}

impl Default for MessageCodec {
    fn default() -> Self {
        Self::new(super::DEFAULT_MAX_FRAME)
    }
}

impl Decoder for MessageCodec {
    type Item = IpcMessage;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<IpcMessage>, CodecError> {
        self.frames
            .decode(src)?
            .map(|b| decode_message(&b))
            .transpose()
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<IpcMessage>, CodecError> {
        self.frames
            .decode_eof(src)?
            .map(|b| decode_message(&b))
            .transpose()
    }
}

impl Encoder<&IpcMessage> for MessageCodec {
    type Error = CodecError;

    fn encode(&mut self, msg: &IpcMessage, dst: &mut BytesMut) -> Result<(), CodecError> {
        encode_message(msg, self.frames.max, dst)
    }
}

impl Encoder<IpcMessage> for MessageCodec {
    type Error = CodecError;

    fn encode(&mut self, msg: IpcMessage, dst: &mut BytesMut) -> Result<(), CodecError> {
        encode_message(&msg, self.frames.max, dst)
    }
}
