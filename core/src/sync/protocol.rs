//! The wire protocol between devices and the relay (`POST /v1/sync` and friends), shared by the
//! client in this crate and the relay. `docs/PROTOCOL.md` specifies it for other implementers.
//!
//! Bodies of `/v1/sync` are CBOR (RFC 8949), gzip-compressed (`Content-Encoding: gzip`). Every other
//! endpoint speaks JSON. Change bytes travel as CBOR byte strings, never base64.

use crate::domain::{Directory, DocKind};
use crate::store::Identity;
use serde::{Deserialize, Serialize};
use std::io::Read;

/// The protocol version this build speaks. A relay refuses other versions with `426 upgrade_required`.
pub const PROTOCOL_VERSION: u32 = 1;
/// Request header carrying the protocol version.
pub const PROTOCOL_HEADER: &str = "zhuqi-protocol";
/// The relay's page budget when the request names none, and the most it accepts.
pub const DEFAULT_PAGE_BYTES: u32 = 1 << 20;
pub const MAX_PAGE_BYTES: u32 = 8 << 20;
/// The largest `/v1/sync` body the relay accepts, compressed and decompressed.
pub const MAX_REQUEST_BYTES: usize = 16 << 20;
/// The most changes one sync request may push (over all its documents); a device with more pushes
/// them over several requests.
pub const MAX_PUSH_CHANGES: usize = 2_000;
/// The most list elements (pushed documents and their changes together) a sync request may hold;
/// the relay stops decoding a request at the next one.
pub const MAX_REQUEST_ITEMS: usize = 2 * MAX_PUSH_CHANGES;

/// The changes of one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocChanges {
    pub doc: String,
    pub kind: DocKind,
    /// Automerge changes (raw change chunks), oldest first.
    #[serde(with = "bytes_list")]
    pub changes: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub protocol: u32,
    /// The `cursor` of the last response this device applied; 0 on its first sync.
    pub cursor: u64,
    /// The `directory_version` of the last directory this device received; 0 if none.
    pub directory_version: u64,
    /// This device's current Automerge actor id. The relay binds it to the device on first sight.
    #[serde(with = "serde_bytes_vec")]
    pub actor: Vec<u8>,
    /// Local changes not yet acknowledged.
    #[serde(deserialize_with = "counted::deserialize")]
    pub push: Vec<DocChanges>,
    /// Page budget for pulled data, in bytes of change data; the relay caps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u32>,
}

/// Why the relay refused a document's pushed changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// A change does not parse, or its document is of another kind.
    Malformed,
    /// A change was made under an actor id not registered to this device.
    ForeignActor,
    /// A change depends on changes the relay does not have (for example ones it rejected before).
    MissingDependencies,
    /// The change does something other than appending events (editing or deleting history, headers).
    NotAppendOnly,
    /// An event names somebody else as its author, or another device.
    ForgedAuthor,
    /// The author's role may not take this action on this document.
    NotAllowed,
    /// The action does not fit the state the author saw, or its values are invalid.
    InvalidAction,
    /// The document is outside what this user may read or write.
    OutOfScope,
}

impl RejectCode {
    pub fn message_zh(self) -> &'static str {
        match self {
            RejectCode::Malformed => "数据格式错误，未被服务器接受",
            RejectCode::ForeignActor => "设备标识不符，未被服务器接受",
            RejectCode::MissingDependencies => "依赖的记录未被服务器接受",
            RejectCode::NotAppendOnly => "不允许修改或删除历史记录",
            RejectCode::ForgedAuthor => "操作人与登录用户不符",
            RejectCode::NotAllowed => "您无权进行此操作",
            RejectCode::InvalidAction => "操作与当前状态不符或内容无效",
            RejectCode::OutOfScope => "该事项不在您的权限范围内",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub doc: String,
    pub kind: DocKind,
    /// Hashes of every pushed change of the document: all of them are refused together.
    #[serde(with = "bytes_list")]
    pub hashes: Vec<Vec<u8>>,
    pub code: RejectCode,
    /// English detail, for logs.
    pub message: String,
    /// The relay's copy of the document (Automerge save format), for the device to restore; absent
    /// when the relay holds no such document or the device may not read it.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_bytes")]
    pub document: Option<Vec<u8>>,
}

/// Data of one document to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledDoc {
    pub doc: String,
    pub kind: DocKind,
    /// True when `data` is the whole document (newly visible to the device); false when it holds the
    /// changes since the request's cursor.
    pub whole: bool,
    /// Automerge chunks: one saved document when `whole`, else changes oldest first.
    #[serde(with = "bytes_list")]
    pub data: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    pub protocol: u32,
    /// Hashes of the pushed changes now durably stored by the relay (including ones it already had).
    #[serde(with = "bytes_list")]
    pub acked: Vec<Vec<u8>>,
    pub rejected: Vec<Rejection>,
    pub docs: Vec<PulledDoc>,
    /// Documents the device may no longer hold: delete them.
    pub purge: Vec<String>,
    /// Send this back as `cursor` next time (after applying this response).
    pub cursor: u64,
    /// More data is waiting: sync again at once with the new cursor.
    pub more: bool,
    /// Directory records, when the device's directory is out of date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<Directory>,
    pub directory_version: u64,
}

/// Body of every error response (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable code: `unauthorized`, `device_revoked`, `upgrade_required`, `bad_request`,
    /// `too_large`, `throttled`, `forbidden`, `not_found`, `conflict`, `internal`.
    pub code: String,
    pub message: String,
    pub message_zh: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInRequest {
    pub login: String,
    pub password: String,
    pub device_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivateRequest {
    pub code: String,
    pub device_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInResponse {
    /// Opaque bearer token for `Authorization: Bearer …`.
    pub token: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
    pub identity: Identity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationCodeRequest {
    pub enterprise_id: String,
    /// The enterprise contact the code signs in as.
    pub contact_user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationCodeResponse {
    pub code: String,
    pub expires_at: i64,
}

/// `POST /v1/web-links`: a one-time web sign-in link for an enterprise contact, issued by a cadre
/// assigned to the enterprise or a campaign office over it. Names an existing contact of the
/// enterprise, or — for an enterprise that has no contact account yet — the person the relay is to
/// create one for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebLinkRequest {
    pub enterprise_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_user_id: Option<String>,
    /// The new contact's name (1 to 50 characters), only when the enterprise has no contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
    /// The new contact's mobile number (11 digits), optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_mobile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebLinkResponse {
    /// The code to type (`XXXX-XXXX-XXXX-XXXX`), and the whole link to open (and to draw as a QR code).
    pub code: String,
    pub url: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
    /// The contact the link signs in as (the one created, when one was).
    pub contact_user_id: String,
}

/// One enterprise's reach (`GET /v1/reach`): whether any of its contacts ever signed in, on the app
/// or through a web link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnterpriseReach {
    pub enterprise_id: String,
    pub name: String,
    /// Apps its contacts activated or signed in on.
    pub app_devices: u32,
    /// Web sign-ins of its contacts.
    pub web_sign_ins: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sign_in_at: Option<i64>,
    /// When a web link issued and not used yet expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_expires_at: Option<i64>,
}

impl EnterpriseReach {
    /// Never reached: no app and no web sign-in by any of its contacts.
    pub fn never_reached(&self) -> bool {
        self.app_devices == 0 && self.web_sign_ins == 0
    }
}

/// `GET /v1/reach`: a cadre's assigned enterprises, each with its reach; a campaign office's
/// enterprises never reached (at most 1,000, by region), and how many there are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReachResponse {
    pub enterprises: Vec<EnterpriseReach>,
    /// How many of the caller's enterprises were never reached (all of them, not only those listed).
    pub never_reached: u64,
}

/// Encodes a message as gzip-compressed CBOR.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut cbor = Vec::new();
    ciborium::into_writer(msg, &mut cbor).expect("writing to a Vec cannot fail");
    gzip(&cbor)
}

thread_local! {
    /// Each thread's compressor, reset between messages: setting one up (its window and hash
    /// tables, a few hundred KiB) costs more than compressing a small message.
    static DEFLATE: std::cell::RefCell<Option<flate2::Compress>> = const { std::cell::RefCell::new(None) };
}

/// `data` as one gzip member (RFC 1952: a header without name or time, the deflated data at the
/// default level, CRC-32 and length).
fn gzip(data: &[u8]) -> Vec<u8> {
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut out = Vec::with_capacity(HEADER.len() + data.len() / 2 + 64);
    out.extend_from_slice(&HEADER);
    DEFLATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let z = cell.get_or_insert_with(|| flate2::Compress::new(flate2::Compression::default(), false));
        z.reset();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let read = z.total_in() as usize;
            match z.compress_vec(&data[read..], &mut out, flate2::FlushCompress::Finish) {
                Ok(flate2::Status::StreamEnd) => break,
                Ok(_) => {}
                Err(e) => unreachable!("deflating into a Vec: {e}"),
            }
        }
    });
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not gzip: {0}")]
    Gzip(std::io::Error),
    #[error("body larger than {0} bytes once decompressed")]
    TooLarge(usize),
    #[error("body is not valid CBOR for this message: {0}")]
    Cbor(String),
    /// Bytes after the gzip member, or after the CBOR message inside it: a message is one of each.
    #[error("{bytes} bytes after the {after}")]
    Trailing { after: &'static str, bytes: usize },
}

/// Decodes a gzip-compressed CBOR message, refusing more than `limit` decompressed bytes, and
/// anything after the message: after its CBOR item, or after its gzip member.
pub fn decode<T: serde::de::DeserializeOwned>(body: &[u8], limit: usize) -> Result<T, DecodeError> {
    decode_bounded(body, limit, usize::MAX)
}

/// [`decode`], with at most `max_items` elements in the message's lists of changes and pushed
/// documents together (see [`MAX_REQUEST_ITEMS`]).
pub fn decode_bounded<T: serde::de::DeserializeOwned>(
    body: &[u8],
    limit: usize,
    max_items: usize,
) -> Result<T, DecodeError> {
    let mut cbor = Vec::new();
    let mut gz = flate2::bufread::GzDecoder::new(body);
    (&mut gz).take(limit as u64 + 1).read_to_end(&mut cbor).map_err(DecodeError::Gzip)?;
    if cbor.len() > limit {
        return Err(DecodeError::TooLarge(limit));
    }
    // The member was read to its end (trailer checked): what the decoder left of the body follows it.
    let after_member = gz.into_inner().len();
    if after_member > 0 {
        return Err(DecodeError::Trailing { after: "gzip member", bytes: after_member });
    }
    let mut rest = cbor.as_slice();
    counted::LEFT.with(|c| c.set(max_items));
    let msg = ciborium::from_reader(&mut rest).map_err(|e| DecodeError::Cbor(e.to_string()));
    counted::LEFT.with(|c| c.set(usize::MAX));
    let msg = msg?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing { after: "CBOR message", bytes: rest.len() });
    }
    Ok(msg)
}

mod serde_bytes_vec {
    use serde::{Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(super::BytesVisitor)
    }
}

mod opt_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_bytes(b),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<super::Bytes>::deserialize(d)?.map(|b| b.0))
    }
}

mod bytes_list {
    use serde::ser::SerializeSeq;
    use serde::{Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(&super::BytesRef(b))?;
        }
        seq.end()
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Ok(super::counted::deserialize::<D, super::Bytes>(d)?.into_iter().map(|b| b.0).collect())
    }
}

/// Lists whose elements count against the item budget of the [`decode_bounded`] in progress on
/// this thread: a few compressed bytes can describe millions of empty elements, each costing far
/// more memory decoded than encoded, so their number is bounded while decoding, not after.
mod counted {
    use serde::de::{Deserialize, Deserializer, Error, SeqAccess, Visitor};
    use std::cell::Cell;
    use std::marker::PhantomData;

    thread_local! {
        /// Elements the message being decoded on this thread may still have.
        pub static LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        struct Counted<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Counted<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
                while let Some(v) = seq.next_element()? {
                    let left = LEFT.with(Cell::get);
                    if left == 0 {
                        return Err(A::Error::custom("too many list elements in one message"));
                    }
                    LEFT.with(|c| c.set(left - 1));
                    out.push(v);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(Counted(PhantomData))
    }
}

struct BytesRef<'a>(&'a [u8]);

impl Serialize for BytesRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

struct Bytes(Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_byte_buf(BytesVisitor).map(Bytes)
    }
}

struct BytesVisitor;

impl<'de> serde::de::Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a byte string")
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }
    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_members_read_back_whatever_their_size_and_order() {
        // Large, then small, then empty: the thread's compressor is reset between them.
        for n in [300_000usize, 17, 0, 70_000, 1] {
            let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8 ^ (i / 1000) as u8).collect();
            let body = gzip(&data);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(body.as_slice()).read_to_end(&mut back).unwrap();
            assert_eq!(back, data, "{n} bytes");
            let mut multi = flate2::read::MultiGzDecoder::new(body.as_slice());
            let mut again = Vec::new();
            multi.read_to_end(&mut again).unwrap();
            assert_eq!(again, data);
        }
    }

    #[test]
    fn round_trip_and_byte_strings() {
        let req = SyncRequest {
            protocol: PROTOCOL_VERSION,
            cursor: 42,
            directory_version: 7,
            actor: vec![1, 2, 3],
            push: vec![DocChanges {
                doc: "d".into(),
                kind: DocKind::Problem,
                changes: vec![vec![0x85, 0x6f], vec![200; 300]],
            }],
            max_bytes: None,
        };
        let body = encode(&req);
        assert_eq!(decode::<SyncRequest>(&body, 1 << 20).unwrap(), req);
        // Bytes are CBOR byte strings (major type 2), not arrays of integers.
        let mut cbor = Vec::new();
        ciborium::into_writer(&req, &mut cbor).unwrap();
        assert!(cbor.len() < 300 + 120, "{}", cbor.len()); // as integers, 300 bytes of 200 would take 600
    }

    #[test]
    fn a_request_of_millions_of_empty_changes_is_refused_while_decoding() {
        let request = |n: usize| SyncRequest {
            protocol: PROTOCOL_VERSION,
            cursor: 0,
            directory_version: 0,
            actor: vec![],
            push: vec![DocChanges { doc: "d".into(), kind: DocKind::Problem, changes: vec![Vec::new(); n] }],
            max_bytes: None,
        };
        let bomb = encode(&request(4 << 20));
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        let e = decode_bounded::<SyncRequest>(&bomb, MAX_REQUEST_BYTES, MAX_REQUEST_ITEMS).unwrap_err();
        assert!(e.to_string().contains("too many list elements"), "{e}");
        // Many documents count too, and the budget holds exactly.
        let docs = |n: usize| SyncRequest {
            push: (0..n)
                .map(|i| DocChanges { doc: i.to_string(), kind: DocKind::Enterprise, changes: vec![] })
                .collect(),
            ..request(0)
        };
        assert!(
            decode_bounded::<SyncRequest>(&encode(&docs(MAX_REQUEST_ITEMS)), MAX_REQUEST_BYTES, MAX_REQUEST_ITEMS)
                .is_ok()
        );
        assert!(
            decode_bounded::<SyncRequest>(&encode(&docs(MAX_REQUEST_ITEMS + 1)), MAX_REQUEST_BYTES, MAX_REQUEST_ITEMS)
                .is_err()
        );
        // The budget is the decoding's own: the next message on this thread starts afresh.
        assert!(decode::<SyncRequest>(&encode(&request(5_000)), MAX_REQUEST_BYTES).is_ok());
    }

    #[test]
    fn decode_refuses_garbage_and_bombs() {
        assert!(matches!(decode::<SyncRequest>(b"not gzip", 100), Err(DecodeError::Gzip(_))));
        let big = encode(&vec![0u8; 10_000]);
        assert!(matches!(decode::<Vec<u8>>(&big, 1000), Err(DecodeError::TooLarge(_))));
        let wrong = encode(&"a string");
        assert!(matches!(decode::<SyncRequest>(&wrong, 1000), Err(DecodeError::Cbor(_))));
        // The limit holds for a body that would decompress far beyond it (and is not read past it).
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 100_000, "{}", bomb.len());
        assert!(matches!(decode::<Vec<u8>>(&bomb, 1 << 20), Err(DecodeError::TooLarge(_))));
        // Exactly at the limit is fine.
        let cbor = cbor_of(&"x".repeat(100));
        assert_eq!(decode::<String>(&gzip(&cbor), cbor.len()).unwrap(), "x".repeat(100));
    }

    fn cbor_of<T: Serialize>(msg: &T) -> Vec<u8> {
        let mut cbor = Vec::new();
        ciborium::into_writer(msg, &mut cbor).unwrap();
        cbor
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    fn request() -> SyncRequest {
        SyncRequest {
            protocol: PROTOCOL_VERSION,
            cursor: 1,
            directory_version: 1,
            actor: vec![7; 16],
            push: vec![],
            max_bytes: None,
        }
    }

    #[test]
    fn decode_refuses_bytes_after_the_cbor_message() {
        let mut cbor = cbor_of(&request());
        assert_eq!(decode::<SyncRequest>(&gzip(&cbor), 1 << 20).unwrap(), request());
        cbor.push(0x00);
        let err = decode::<SyncRequest>(&gzip(&cbor), 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::Trailing { after: "CBOR message", bytes: 1 }), "{err}");
        // A second whole message is trailing bytes too.
        let mut two = cbor_of(&request());
        two.extend(cbor_of(&request()));
        assert!(matches!(decode::<SyncRequest>(&gzip(&two), 1 << 20), Err(DecodeError::Trailing { .. })));
    }

    #[test]
    fn decode_refuses_bytes_after_the_gzip_member() {
        let body = encode(&request());
        let mut garbage = body.clone();
        garbage.extend_from_slice(b"\nand more");
        let err = decode::<SyncRequest>(&garbage, 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::Trailing { after: "gzip member", bytes: 9 }), "{err}");
        // A second gzip member (which `gunzip` would concatenate) is refused too.
        let mut members = body.clone();
        members.extend(gzip(&[]));
        assert!(matches!(decode::<SyncRequest>(&members, 1 << 20), Err(DecodeError::Trailing { .. })));
        // A member cut short is not gzip.
        assert!(matches!(decode::<SyncRequest>(&body[..body.len() - 4], 1 << 20), Err(DecodeError::Gzip(_))));
    }
}

/// Bytes one photo upload request carries at most (`PUT /v1/blobs/{sha256}`): a cut connection loses
/// at most this much.
pub const BLOB_CHUNK_BYTES: usize = 1 << 20;
/// The offset of an uploaded chunk in its photo, and the photo's whole size (request headers).
pub const BLOB_OFFSET_HEADER: &str = "zhuqi-blob-offset";
pub const BLOB_SIZE_HEADER: &str = "zhuqi-blob-size";

/// How far the upload of a photo has come (the answer of `PUT /v1/blobs/{sha256}` and of
/// `GET /v1/blobs/{sha256}/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobProgress {
    pub size: u64,
    pub received: u64,
    pub complete: bool,
}
