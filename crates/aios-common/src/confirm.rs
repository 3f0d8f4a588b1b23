//! The confirmation channel's own protocol: agent ↔ `aios-confirm`, private.
//!
//! 1. The agent starts one `aios-confirm` per question from a fixed path beside its
//!    own executable, with one end of a fresh socketpair as its stdin. That socket is
//!    the only channel an answer can arrive on.
//! 2. Frames are a 4-byte big-endian length and that many bytes of UTF-8 JSON (the
//!    same framing as the public socket), at most [`MAX_FRAME`] bytes.
//! 3. The agent writes one [`ConfirmMessage::ConfirmRequest`]; the front end writes
//!    one [`ConfirmMessage::ConfirmResponse`] with the same `request_id` and exits.
//!    Anything else (another type, another id, no answer in time, the child dying)
//!    is a denial.
//! 4. The agent sends nothing after the request: if the channel becomes readable or
//!    closes, the agent has withdrawn the question (its client went away) and the
//!    front end says so and denies.
//! 5. These messages are not [`crate::ipc::IpcMessage`]s: the public socket cannot
//!    even decode a `confirm_response` (it is an unknown message type there), so no
//!    client of it can answer a question.

use serde::{Deserialize, Serialize};

use crate::types::{ConfirmRequest, ConfirmResponse};

/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 256 * 1024;

/// A message on the confirmation channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConfirmMessage {
    /// Agent → front end: the question.
    ConfirmRequest(ConfirmRequest),
    /// Front end → agent: the answer.
    ConfirmResponse(ConfirmResponse),
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmCodecError {
    /// Longer than [`MAX_FRAME`].
    #[error("a confirmation frame of {0} bytes is larger than {MAX_FRAME}")]
    TooLarge(usize),
    /// Not a confirmation message.
    #[error("not a confirmation message: {0}")]
    Invalid(String),
}

/// The frame for `msg`: length, then JSON.
pub fn encode(msg: &ConfirmMessage) -> Result<Vec<u8>, ConfirmCodecError> {
    let body = serde_json::to_vec(msg).map_err(|e| ConfirmCodecError::Invalid(e.to_string()))?;
    if body.len() > MAX_FRAME {
        return Err(ConfirmCodecError::TooLarge(body.len()));
    }
    let mut out = u32::try_from(body.len())
        .map_err(|_| ConfirmCodecError::TooLarge(body.len()))?
        .to_be_bytes()
        .to_vec();
    out.extend(body);
    Ok(out)
}

/// The message in a frame's body.
pub fn decode(body: &[u8]) -> Result<ConfirmMessage, ConfirmCodecError> {
    serde_json::from_slice(body).map_err(|e| ConfirmCodecError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ToolCall, TrustRequirement};
    use serde_json::json;

    const ID: &str = "6f0c1b1e-8a4f-4d52-9c1e-2b7f0f3a9d10";

    #[test]
    fn golden_request_and_responses() {
        let id: uuid::Uuid = ID.parse().expect("uuid");
        let req = ConfirmMessage::ConfirmRequest(ConfirmRequest {
            request_id: id,
            call: ToolCall {
                id: "call_1".into(),
                name: "file_list".into(),
                arguments: json!({"path": "/home/user/Downloads"}),
            },
            summary: "List ~/Downloads".into(),
            requirement: TrustRequirement::DoubleConfirm,
            content_source: Some("/home/user/notes.txt".into()),
            timeout_secs: 60,
        });
        let text = format!(
            r#"{{"type":"confirm_request","request_id":"{ID}","call":{{"id":"call_1","name":"file_list","arguments":{{"path":"/home/user/Downloads"}}}},"summary":"List ~/Downloads","requirement":"DoubleConfirm","content_source":"/home/user/notes.txt","timeout_secs":60}}"#
        );
        assert_eq!(serde_json::to_string(&req).expect("json"), text);
        assert_eq!(decode(text.as_bytes()).expect("decode"), req);
        let no = ConfirmMessage::ConfirmResponse(ConfirmResponse {
            request_id: id,
            approved: false,
            reason: Some("typed \"yes\" instead of DELETE".into()),
            timed_out: false,
        });
        let text = format!(
            r#"{{"type":"confirm_response","request_id":"{ID}","approved":false,"reason":"typed \"yes\" instead of DELETE"}}"#
        );
        assert_eq!(serde_json::to_string(&no).expect("json"), text);
        let frame = encode(&no).expect("encode");
        assert_eq!(&frame[..4], &(text.len() as u32).to_be_bytes());
        assert_eq!(decode(&frame[4..]).expect("decode"), no);
    }

    #[test]
    fn the_public_protocol_cannot_decode_a_confirmation() {
        let text = format!(r#"{{"type":"confirm_response","request_id":"{ID}","approved":true}}"#);
        let e = crate::ipc::decode_message(text.as_bytes()).expect_err("not public");
        assert!(e.to_string().contains("confirm_response"), "{e}");
        assert!(decode(br#"{"type":"ping","seq":1}"#).is_err());
    }
}
