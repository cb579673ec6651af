//! Enums whose values a newer app may extend: [`Category`], [`Role`] and [`RegionLevel`]. An event carrying a value this
//! version does not know is kept, not dropped: the value reads as the enum's `Unknown` variant holding
//! the original string, writes back exactly as it was read, and is shown as [`NEEDS_NEWER_VERSION`].
//!
//! The enums stay `Copy` (folds and rules copy them freely), so `Unknown` holds a `&'static str`: each
//! distinct unknown value is interned once for the life of the process. The interner is bounded: only
//! plain values ([`is_plain_id`]) up to [`MAX_INTERNED`] distinct ones are kept; anything else reads as
//! `Unknown("")`, which still keeps the event (its raw JSON in the document is never rewritten).
//!
//! To make another enum open: give it an `Unknown(&'static str)` variant, `as_str` and a strict
//! `parse` (known values only), and add it to the `open_enum!` list below.

use super::{Category, RegionLevel, Role, is_plain_id};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// How a value written by a newer version is shown to users.
pub const NEEDS_NEWER_VERSION: &str = "需更新版本查看";
/// The same, in English (logs, the relay's pages in English).
pub const NEEDS_NEWER_VERSION_EN: &str = "needs a newer version";

/// The most distinct unknown values one process keeps (64 bytes each at most: 64 KiB in all).
pub const MAX_INTERNED: usize = 1024;

/// The `'static` copy of an unknown value, or `""` for a value that is not plain or one too many.
pub(crate) fn intern(s: &str) -> &'static str {
    static SET: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    if !is_plain_id(s) {
        return "";
    }
    let mut set = SET.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&kept) = set.get(s) {
        return kept;
    }
    if set.len() >= MAX_INTERNED {
        return "";
    }
    let kept: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(kept);
    kept
}

macro_rules! open_enum {
    ($($ty:ident: $expecting:literal),* $(,)?) => {$(
        impl $ty {
            /// The value as stored (a database column, an older or newer event): a known value, or
            /// `Unknown` keeping the string. Never fails, never guesses a known value.
            pub fn from_stored(s: &str) -> Self {
                Self::parse(s).unwrap_or_else(|| $ty::Unknown(intern(s)))
            }

            /// Whether this version knows the value (it is not `Unknown`).
            pub fn is_known(self) -> bool {
                !matches!(self, $ty::Unknown(_))
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$ty, E> {
                        Ok($ty::from_stored(s))
                    }
                }
                deserializer.deserialize_str(V)
            }
        }
    )*};
}

open_enum!(Category: "a problem category", Role: "a role", RegionLevel: "a region level");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_read_and_write_back_as_they_were() {
        let c: Category = serde_json::from_str(r#""carbon_quota""#).unwrap();
        assert_eq!(c, Category::Unknown("carbon_quota"));
        assert!(!c.is_known());
        assert_eq!(serde_json::to_string(&c).unwrap(), r#""carbon_quota""#);
        assert_eq!(c.zh(), NEEDS_NEWER_VERSION);
        assert_eq!(Category::parse("carbon_quota"), None, "parse stays strict: input never makes one");

        let r: Role = serde_json::from_str(r#""auditor""#).unwrap();
        assert_eq!(r, Role::Unknown("auditor"));
        assert_ne!(r, Role::Cadre);
        assert_eq!(serde_json::to_string(&r).unwrap(), r#""auditor""#);
        assert_eq!(r.zh(), NEEDS_NEWER_VERSION);

        // A directory naming a level this version does not know still reads, region and all.
        let region: crate::domain::Region = serde_json::from_str(
            r#"{"id":"410102001","name":"某片区","level":"subdistrict_cluster","parent_id":"410102"}"#,
        )
        .unwrap();
        assert_eq!(region.level, RegionLevel::Unknown("subdistrict_cluster"));
        assert!(serde_json::to_string(&region).unwrap().contains(r#""level":"subdistrict_cluster""#));
    }

    #[test]
    fn known_values_are_unchanged() {
        for c in Category::ALL {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Category>(&json).unwrap(), c);
            assert!(c.is_known());
        }
        for r in [Role::Cadre, Role::DepartmentHandler, Role::Manager, Role::EnterpriseContact] {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), r);
            assert_eq!(Role::from_stored(r.as_str()), r);
        }
        assert_eq!(serde_json::to_string(&Category::Utilities).unwrap(), r#""utilities""#);
        assert_eq!(serde_json::to_string(&Role::DepartmentHandler).unwrap(), r#""department_handler""#);
    }

    #[test]
    fn the_interner_is_bounded_and_takes_plain_values_only() {
        assert_eq!(intern("x".repeat(65).as_str()), "");
        assert_eq!(intern("ent a"), "");
        let a = intern("some_future_value");
        assert!(std::ptr::eq(a, intern("some_future_value")), "one copy per value");
        // Not a number or an object either: those are not values of these enums.
        assert!(serde_json::from_str::<Category>("3").is_err());
    }
}
