//! Photo references (照片): what a visit, a problem report, a progress note or a resolution carries
//! of the photos taken as evidence. A reference names the bytes by their SHA-256; the bytes travel
//! apart from the documents (see `storage::blobs` on the device and the relay's blob endpoints).

use super::error::{DomainError, Invalid, Result};
use super::text::{self, SHORT};
use serde::{Deserialize, Serialize};

/// The largest photo: what a device takes in and the relay stores.
pub const MAX_PHOTO_BYTES: u64 = 20 * 1024 * 1024;

/// Photos one visit or one problem event may carry.
pub const MAX_PHOTOS: usize = 20;

/// Whether `s` names a photo as references write it: 64 lower-case hex digits (its SHA-256).
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A reference to a photo. The bytes travel separately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoRef {
    pub id: String,
    /// SHA-256 of the photo's bytes, lower-case hex.
    pub sha256: String,
    pub size_bytes: u64,
}

impl PhotoRef {
    fn validate(self) -> Result<Self> {
        let sha = self.sha256.trim().to_ascii_lowercase();
        if !is_sha256(&sha) {
            return Err(DomainError::invalid("photo.sha256", Invalid::Format { expected: "64 hex digits" }));
        }
        if self.size_bytes == 0 || self.size_bytes > MAX_PHOTO_BYTES {
            return Err(DomainError::invalid("photo", Invalid::TooLarge { max_bytes: MAX_PHOTO_BYTES }));
        }
        Ok(PhotoRef { id: text::required("photos", &self.id, SHORT)?, sha256: sha, size_bytes: self.size_bytes })
    }
}

/// Checks the photos one record carries: at most [`MAX_PHOTOS`], each well formed.
pub fn validate_all(photos: Vec<PhotoRef>) -> Result<Vec<PhotoRef>> {
    if photos.len() > MAX_PHOTOS {
        return Err(DomainError::invalid("photos", Invalid::TooMany { max: MAX_PHOTOS }));
    }
    photos.into_iter().map(PhotoRef::validate).collect()
}

/// What a photo's own metadata (EXIF) says of when and where it was taken, as far as it says.
/// Read on the relay when a page first shows the photo; the phone that took it could have written
/// anything, so it is evidence to weigh, never a reason to refuse.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Taken {
    /// When, in ms since the epoch (an EXIF time without an offset is read as China time).
    pub at: Option<i64>,
    /// Where (WGS-84 degrees), from the EXIF GPS block.
    pub lat_lon: Option<(f64, f64)>,
}

/// How much earlier than the event naming it a photo may have been taken.
pub const EARLY_MS: i64 = 2 * 86_400_000;
/// How far from the place of the event a photo may have been taken.
pub const FAR_M: f64 = 30_000.0;

/// Why a photo's evidence is doubtful, for the managers who weigh it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PhotoFlag {
    /// Taken this many whole days (at least two) before the visit's day or the event.
    TakenEarly { days: i64 },
    /// Taken after the relay had received the event that names it: the camera's clock, or the
    /// metadata, is wrong.
    TakenAfter,
    /// Taken this many kilometres (more than 30) from the enterprise or the visit's position.
    FarAway { km: i64 },
}

impl PhotoFlag {
    /// The flag as managers read it.
    pub fn zh(&self) -> String {
        match self {
            PhotoFlag::TakenEarly { days } => format!("拍摄时间早于记录{days}天"),
            PhotoFlag::TakenAfter => "拍摄时间晚于记录同步时间".into(),
            PhotoFlag::FarAway { km } => format!("拍摄地点距企业{km}公里"),
        }
    }
}

/// The flags of a photo `taken` so, named by an event of time `event_at` (a visit: the start of its
/// day, China time) that the relay received at `received_at`, about a place at `place` (the visit's
/// position, else the enterprise's).
pub fn flags(
    taken: &Taken,
    event_at: i64,
    received_at: Option<i64>,
    place: Option<&super::Location>,
) -> Vec<PhotoFlag> {
    let mut out = Vec::new();
    if let Some(at) = taken.at {
        let early = event_at.saturating_sub(at);
        if early >= EARLY_MS {
            out.push(PhotoFlag::TakenEarly { days: early / 86_400_000 });
        }
        // A day's grace for cameras whose clock runs ahead or lacks a time zone.
        if received_at.is_some_and(|r| at > r.saturating_add(86_400_000)) {
            out.push(PhotoFlag::TakenAfter);
        }
    }
    if let (Some((lat, lon)), Some(place)) = (taken.lat_lon, place) {
        let shot = super::Location { lat, lon, accuracy_m: 0.0, mock: false };
        let d = shot.distance_m(place);
        if d > FAR_M {
            out.push(PhotoFlag::FarAway { km: (d / 1000.0).round() as i64 });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Location;

    #[test]
    fn photos_taken_early_late_or_far_away_are_flagged() {
        let day = 86_400_000;
        let factory = Location { lat: 34.7466, lon: 113.6253, accuracy_m: 10.0, mock: false };
        let event = 1_780_000_000_000;
        let near = Some((34.75, 113.63));
        let taken = |at: i64, lat_lon| Taken { at: Some(at), lat_lon };
        assert!(flags(&taken(event - day, near), event, Some(event), Some(&factory)).is_empty());
        assert_eq!(
            flags(&taken(event - 3 * day, near), event, Some(event), Some(&factory)),
            [PhotoFlag::TakenEarly { days: 3 }]
        );
        assert_eq!(flags(&taken(event + 2 * day, near), event, Some(event), None), [PhotoFlag::TakenAfter]);
        // Kaifeng is about 63 km from Zhengzhou.
        let kaifeng = Some((34.7971, 114.3076));
        assert_eq!(flags(&taken(event, kaifeng), event, None, Some(&factory)), [PhotoFlag::FarAway { km: 63 }]);
        assert_eq!(flags(&taken(event, kaifeng), event, None, Some(&factory))[0].zh(), "拍摄地点距企业63公里");
        // Without a time or a place in the photo, or a place to compare with, nothing is said.
        assert!(flags(&Taken::default(), event, Some(event), Some(&factory)).is_empty());
        assert!(flags(&taken(event, kaifeng), event, None, None).is_empty());
        // Claimed times at the ends of the range do not overflow.
        assert_eq!(flags(&taken(i64::MIN, None), i64::MAX, Some(i64::MAX), None).len(), 1);
        assert_eq!(flags(&taken(i64::MAX, None), i64::MIN, Some(i64::MAX), None), []);
    }
}
