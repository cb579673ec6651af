//! What the relay makes of a photo's bytes: when and where its metadata says it was taken (EXIF,
//! weighed by `zhuqi_core::domain::photo::flags`), a small copy for pages (thumbnail), and a copy
//! without any metadata for enterprise contacts (no GPS position of anyone leaves with it). Copies
//! are re-encoded as JPEG, so they carry nothing of the original but its pixels.

use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use std::io::Cursor;
use zhuqi_core::domain::photo::Taken;

/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;
/// The longest side of the copy shown to an enterprise contact.
pub const PUBLIC_SIDE: u32 = 2048;
/// Bytes of a photo's start read for its metadata: a JPEG's EXIF block (APP1) is at most 64 KiB
/// and comes first; a HEIC's metadata box comes before its image data.
pub const METADATA_BYTES: usize = 1 << 20;
/// The largest image decoded, in pixels per side (a 200-megapixel camera's is 16,320 × 12,240).
const MAX_SIDE: u32 = 16_384;
/// Memory a decoder may take: a 12-megapixel photo needs 36 MB; a 200-megapixel one is refused.
const MAX_DECODE_BYTES: u64 = 256 << 20;

/// Why no copy could be made.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// HEIC (or anything else) this relay cannot decode.
    #[error("the relay cannot decode this photo's format")]
    Unsupported,
    /// Dimensions or memory past the limits, or bytes that are no image after all.
    #[error("the photo cannot be decoded: {0}")]
    Undecodable(String),
}

/// Reads the photo's time and position from its EXIF metadata (in `head`, its first
/// [`METADATA_BYTES`]). Nothing is known when there is no EXIF, or it cannot be read.
pub fn taken(head: &[u8]) -> Taken {
    let Ok(exif) = exif::Reader::new().read_from_container(&mut Cursor::new(head)) else {
        return Taken::default();
    };
    Taken { at: taken_at(&exif), lat_lon: lat_lon(&exif) }
}

fn ascii(exif: &exif::Exif, tag: exif::Tag) -> Option<&[u8]> {
    match &exif.get_field(tag, exif::In::PRIMARY)?.value {
        exif::Value::Ascii(v) => v.first().map(Vec::as_slice),
        _ => None,
    }
}

/// `DateTimeOriginal` with `OffsetTimeOriginal` (China time when it has none), in ms.
fn taken_at(exif: &exif::Exif) -> Option<i64> {
    let mut t = exif::DateTime::from_ascii(ascii(exif, exif::Tag::DateTimeOriginal)?).ok()?;
    if let Some(offset) = ascii(exif, exif::Tag::OffsetTimeOriginal) {
        t.parse_offset(offset).ok()?;
    }
    if !(1..=12).contains(&t.month) || !(1..=31).contains(&t.day) || t.hour > 23 || t.minute > 59 || t.second > 60 {
        return None;
    }
    let day = zhuqi_core::domain::text::days_from_civil(t.year.into(), t.month.into(), t.day.into());
    let seconds = day * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second);
    let offset_minutes = i64::from(t.offset.unwrap_or(8 * 60));
    Some((seconds - offset_minutes * 60) * 1000)
}

/// The GPS block's latitude and longitude, in degrees.
fn lat_lon(exif: &exif::Exif) -> Option<(f64, f64)> {
    let degrees = |tag, reference, negative: u8| {
        let exif::Value::Rational(dms) = &exif.get_field(tag, exif::In::PRIMARY)?.value else { return None };
        let [d, m, s] = dms.as_slice() else { return None };
        let v = d.to_f64() + m.to_f64() / 60.0 + s.to_f64() / 3600.0;
        let sign = if ascii(exif, reference)?.first() == Some(&negative) { -1.0 } else { 1.0 };
        v.is_finite().then_some(sign * v)
    };
    let lat = degrees(exif::Tag::GPSLatitude, exif::Tag::GPSLatitudeRef, b'S')?;
    let lon = degrees(exif::Tag::GPSLongitude, exif::Tag::GPSLongitudeRef, b'W')?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some((lat, lon))
}

/// The photo as a JPEG of at most `side` pixels on its longer side, turned upright as its metadata
/// says, without any metadata.
pub fn copy(photo: &[u8], side: u32, quality: u8) -> Result<Vec<u8>, CopyError> {
    let undecodable = |e: image::ImageError| CopyError::Undecodable(e.to_string());
    let mut reader = ImageReader::new(Cursor::new(photo))
        .with_guessed_format()
        .map_err(|e| CopyError::Undecodable(e.to_string()))?;
    if reader.format().is_none() {
        return Err(CopyError::Unsupported);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    // Decoding into a decoder of one's own skips the reader's check of the whole image's size
    // against the limits: a small file can claim gigabytes of pixels.
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(CopyError::Undecodable(format!("{} bytes of pixels", decoder.total_bytes())));
    }
    let orientation = decoder.orientation().map_err(undecodable)?;
    let img = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    // Made small first, then turned upright: the copy turned is the small one.
    let mut img = if img.width().max(img.height()) > side { img.thumbnail(side, side) } else { img };
    img.apply_orientation(orientation);
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    DynamicImage::ImageRgb8(img.to_rgb8()).write_with_encoder(encoder).map_err(undecodable)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_without_metadata_or_in_formats_the_relay_cannot_decode() {
        assert_eq!(taken(b"\xFF\xD8\xFF\xE0not really"), Taken::default());
        assert_eq!(taken(&[]), Taken::default());
        assert!(matches!(copy(b"\0\0\0\x18ftypheic\0\0\0\0", 320, 80), Err(CopyError::Unsupported)));
        assert!(matches!(copy(b"\xFF\xD8\xFF\xE0\0\x10JFIF\0", 320, 80), Err(CopyError::Undecodable(_))));
    }

    #[test]
    fn an_image_claiming_enormous_dimensions_is_refused_before_it_is_decoded() {
        // PNG headers claiming 100,000 × 100,000 pixels (past the side limit), and 16,000 × 16,000
        // pixels of 16-bit RGBA (within it, but 2 GB decoded), and nothing else.
        for (side, depth, colour) in [(100_000u32, 8u8, 2u8), (16_000, 16, 6)] {
            let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
            png.extend_from_slice(&side.to_be_bytes());
            png.extend_from_slice(&side.to_be_bytes());
            png.extend_from_slice(&[depth, colour, 0, 0, 0]);
            let crc = crc32(&png[12..]);
            png.extend_from_slice(&crc.to_be_bytes());
            // The start of its pixel data (a zlib header), so that its decoder gets that far.
            let idat = [&b"IDAT"[..], &[0x78, 0x9c, 0x63, 0x60]].concat();
            png.extend_from_slice(&4u32.to_be_bytes());
            png.extend_from_slice(&idat);
            png.extend_from_slice(&crc32(&idat).to_be_bytes());
            let refused = copy(&png, 320, 80);
            assert!(matches!(&refused, Err(CopyError::Undecodable(_))), "{side}: {refused:?}");
            if depth == 16 {
                // Refused by its size, before a buffer for it is allocated.
                assert!(matches!(&refused, Err(CopyError::Undecodable(why)) if why.contains("bytes of pixels")));
            }
        }
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
}
