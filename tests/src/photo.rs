//! Real photos for the photo tests: JPEGs that decode, with the EXIF block a phone's camera writes
//! (when, and where), padded after their end to any size a test needs (decoders stop at the end of
//! the image, as they do for the trailing data some cameras append).

use image::{DynamicImage, RgbImage};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// A visit today with these photos (attached on the phone that records it).
pub fn visit_with(photos: Vec<zhuqi_core::domain::PhotoRef>) -> zhuqi_core::store::NewVisit {
    zhuqi_core::store::NewVisit {
        date: zhuqi_core::domain::text::date_of(zhuqi_server::now_ms()),
        people_met: vec!["刘总".into()],
        notes: "车间走访，拍照留痕".into(),
        policies: vec![],
        policy_ids: vec![],
        location: None,
        photos,
    }
}

/// What a camera wrote into a photo's EXIF block.
#[derive(Debug, Clone, Copy)]
pub struct Exif<'a> {
    /// `DateTimeOriginal`, as cameras write it: `2026:11:30 09:15:00` (no time zone).
    pub when: &'a str,
    /// GPS position, degrees north and east.
    pub gps: Option<(f64, f64)>,
}

/// A JPEG of `w` × `h` pixels, its colours set by `seed`, with `exif` if given.
pub fn jpeg(w: u32, h: u32, seed: u8, exif: Option<Exif<'_>>) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, seed]));
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
    DynamicImage::ImageRgb8(img).write_with_encoder(encoder).unwrap();
    match exif {
        // APP1 "Exif\0\0" + TIFF, right after the start-of-image marker, where cameras put it.
        Some(exif) => [&out[..2], &app1(exif), &out[2..]].concat(),
        None => out,
    }
}

/// A photo of exactly `size` bytes that decodes (a 64 × 48 JPEG padded after its end), different
/// for each `seed`, written to `dir`.
pub fn jpeg_file(dir: &Path, size: usize, seed: u8) -> PathBuf {
    let mut bytes = jpeg(64, 48, seed, None);
    assert!(bytes.len() <= size, "a photo of at least {} bytes", bytes.len());
    bytes.extend((0..size - bytes.len()).map(|i| ((i * 7 + i / 251) as u8).wrapping_add(seed)));
    let path = dir.join(format!("photo-{seed}.jpg"));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn app1(e: Exif<'_>) -> Vec<u8> {
    let field = |tag, value| exif::Field { tag, ifd_num: exif::In::PRIMARY, value };
    let ascii = |s: &str| exif::Value::Ascii(vec![s.as_bytes().to_vec()]);
    let dms = |v: f64| {
        let d = v.trunc();
        let m = ((v - d) * 60.0).trunc();
        let s = ((v - d) * 60.0 - m) * 60.0;
        exif::Value::Rational(vec![
            exif::Rational::from((d as u32, 1)),
            exif::Rational::from((m as u32, 1)),
            exif::Rational::from(((s * 1000.0).round() as u32, 1000)),
        ])
    };
    let mut fields = vec![field(exif::Tag::DateTimeOriginal, ascii(e.when))];
    if let Some((lat, lon)) = e.gps {
        fields.push(field(exif::Tag::GPSLatitudeRef, ascii("N")));
        fields.push(field(exif::Tag::GPSLatitude, dms(lat)));
        fields.push(field(exif::Tag::GPSLongitudeRef, ascii("E")));
        fields.push(field(exif::Tag::GPSLongitude, dms(lon)));
    }
    let mut writer = exif::experimental::Writer::new();
    for f in &fields {
        writer.push_field(f);
    }
    let mut tiff = Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    let tiff = tiff.into_inner();
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    app1
}
