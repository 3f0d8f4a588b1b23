//! Codec properties: round trips, arbitrary input, every bad-frame kind.

use bytes::{BufMut, BytesMut};
use proptest::prelude::*;
use tokio_util::codec::Decoder;
use uuid::Uuid;

use super::*;

fn frame(body: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_u32(u32::try_from(body.len()).expect("small"));
    b.put_slice(body);
    b
}

fn decode_one(bytes: &[u8]) -> Result<Option<IpcMessage>, CodecError> {
    let mut codec = MessageCodec::default();
    let mut buf = BytesMut::from(bytes);
    match codec.decode(&mut buf)? {
        Some(m) => Ok(Some(m)),
        None => codec.decode_eof(&mut buf),
    }
}

fn arb_message() -> impl Strategy<Value = IpcMessage> {
    let uuid = any::<u128>().prop_map(Uuid::from_u128);
    prop_oneof![
        (any::<u32>(), 0..4u8).prop_map(|(v, k)| IpcMessage::Hello(Hello {
            protocol_version: v,
            client_kind: [
                ClientKind::Cli,
                ClientKind::Chat,
                ClientKind::Dock,
                ClientKind::Test
            ][k as usize],
        })),
        any::<u64>().prop_map(|seq| IpcMessage::Ping(Ping { seq })),
        (uuid.clone(), any::<String>(), any::<bool>()).prop_map(|(request_id, content, spoken)| {
            IpcMessage::ChatRequest(ChatRequest {
                request_id,
                content,
                spoken,
            })
        }),
        (uuid.clone(), any::<String>(), any::<bool>()).prop_map(|(request_id, delta, done)| {
            IpcMessage::StreamChunk(StreamChunk {
                request_id,
                delta,
                done,
            })
        }),
        (proptest::option::of(uuid), any::<String>()).prop_map(|(request_id, message)| {
            IpcMessage::Error(ErrorReply {
                request_id,
                code: ErrorCode::Internal,
                message,
            })
        }),
    ]
}

proptest! {
    #[test]
    fn round_trip_through_frames(msgs in proptest::collection::vec(arb_message(), 1..8), split in any::<prop::sample::Index>()) {
        let mut wire = BytesMut::new();
        for m in &msgs {
            encode_message(m, DEFAULT_MAX_FRAME, &mut wire).expect("encode");
        }
        // Deliver the bytes in two pieces cut anywhere: the decoder must not care.
        let cut = split.index(wire.len() + 1);
        let mut codec = MessageCodec::default();
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut out = Vec::new();
        while let Some(m) = codec.decode(&mut buf).expect("decode") { out.push(m); }
        buf.extend_from_slice(&wire[cut..]);
        while let Some(m) = codec.decode(&mut buf).expect("decode") { out.push(m); }
        prop_assert!(codec.decode_eof(&mut buf).expect("clean end").is_none());
        prop_assert_eq!(out, msgs);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut codec = MessageCodec::new(512);
        let mut buf = BytesMut::from(&bytes[..]);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => { let _ = codec.decode_eof(&mut buf); break; }
                Err(e) => { let _ = e.code(); break; }
            }
        }
    }

    #[test]
    fn arbitrary_json_bodies_never_panic(body in "\\PC{0,200}") {
        let _ = decode_message(body.as_bytes());
        let framed = frame(format!(r#"{{"type":"chat_request",{body}}}"#).as_bytes());
        let _ = decode_one(&framed);
    }
}

#[test]
fn oversized_length_is_refused_before_the_body() {
    let mut b = BytesMut::new();
    b.put_u32(u32::MAX);
    let err = decode_one(&b).expect_err("too large");
    assert_eq!(err.code(), Some(ErrorCode::FrameTooLarge));
    assert!(err.to_string().contains("4294967295"), "{err}");
}

#[test]
fn exactly_the_limit_is_accepted_and_one_more_is_not() {
    let body = br#"{"type":"ping","seq":1}"#;
    let mut codec = MessageCodec::new(body.len());
    let mut buf = frame(body);
    assert!(matches!(
        codec.decode(&mut buf),
        Ok(Some(IpcMessage::Ping(_)))
    ));
    let mut codec = MessageCodec::new(body.len() - 1);
    let mut buf = frame(body);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(CodecError::FrameTooLarge { .. })
    ));
    let mut out = BytesMut::new();
    let err = encode_message(&IpcMessage::Ping(Ping { seq: 1 }), body.len() - 1, &mut out)
        .expect_err("encoder enforces the limit too");
    assert!(matches!(err, CodecError::FrameTooLarge { .. }));
    assert!(out.is_empty(), "nothing half-written");
}

#[test]
fn truncated_frames_are_reported() {
    let full = frame(br#"{"type":"ping","seq":1}"#);
    for cut in [1, 3, 4, 10, full.len() - 1] {
        let err = decode_one(&full[..cut]).expect_err("truncated");
        assert_eq!(err.code(), Some(ErrorCode::TruncatedFrame), "cut at {cut}");
    }
}

#[test]
fn each_bad_body_gets_its_code() {
    let cases: [(&[u8], ErrorCode); 7] = [
        (b"\xff\xfe{", ErrorCode::InvalidUtf8),
        (b"{not json", ErrorCode::InvalidJson),
        (b"[1,2]", ErrorCode::InvalidJson),
        (br#"{"seq":1}"#, ErrorCode::InvalidJson),
        (br#"{"type":"teleport"}"#, ErrorCode::UnknownMessageType),
        (br#"{"type":"ping","seq":"one"}"#, ErrorCode::InvalidMessage),
        (
            br#"{"type":"chat_request","request_id":"not-a-uuid","content":""}"#,
            ErrorCode::InvalidMessage,
        ),
    ];
    for (body, code) in cases {
        let err = decode_one(&frame(body)).expect_err("bad body");
        assert_eq!(
            err.code(),
            Some(code),
            "{:?}: {err}",
            String::from_utf8_lossy(body)
        );
    }
}
