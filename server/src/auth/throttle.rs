//! Throttling of password sign-ins and activation codes: a few free failures per key, then delays
//! that double with each further failure (1 s, 2 s, 4 s … up to 15 minutes) — never a lockout.
//!
//! A sign-in is judged under three keys: the login at the client's address (3 free failures), the
//! client's address over all logins (20: password spraying), and the login from anywhere (50: a
//! distributed guess). A login that already signed in from this address within 90 days is exempt
//! from the last two, so an attacker elsewhere — or next to the user, guessing other logins —
//! cannot keep the real user out of their own account. Activation codes are judged per client
//! address (10). Keys are stored hashed and of fixed length; throttled attempts cost no password
//! hash and store nothing.

use crate::http::error::{ApiError, log_text};
use crate::storage::RelayStorage;
use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// Failures are remembered this long (and a key's delays forgotten after it).
pub use crate::storage::FAILURE_MEMORY_MS;
/// The longest delay between two attempts under one key.
pub const MAX_DELAY_MS: i64 = 15 * 60_000;
/// A successful sign-in exempts its login at its address from the wider throttles this long.
pub use crate::storage::KNOWN_SIGN_IN_MS;

/// What a key counts failures of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// One login at one client address.
    LoginAtAddress,
    /// One client address, over all logins.
    Address,
    /// One login, from all addresses.
    Login,
    /// Activation codes tried from one client address.
    Activation,
}

impl Throttle {
    /// Failures allowed before delays begin.
    pub fn free(self) -> u32 {
        match self {
            Throttle::LoginAtAddress => 3,
            Throttle::Address => 20,
            Throttle::Login => 50,
            Throttle::Activation => 10,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Throttle::LoginAtAddress => "login-at-address",
            Throttle::Address => "address",
            Throttle::Login => "login",
            Throttle::Activation => "activation",
        }
    }

    /// Whether a login's earlier sign-in from the address lifts this throttle.
    fn lifted_when_known(self) -> bool {
        matches!(self, Throttle::Address | Throttle::Login)
    }
}

/// The stored form of a key: 32 hex characters of SHA-256, whatever the login.
pub fn key(kind: &str, subject: &str) -> String {
    super::hex(&Sha256::digest(format!("{kind}\0{subject}").as_bytes())[..16])
}

/// An address as throttled: IPv4 whole, IPv6 by its /64 (one subscriber's block).
fn address(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Milliseconds to wait before the next attempt under a key that failed `count` times, the last at
/// `last`: none while under its free failures, then 1 s doubling per further failure, capped.
pub fn wait_ms(free: u32, count: u32, last: i64, now: i64) -> i64 {
    if count < free {
        return 0;
    }
    let delay = 1000i64.checked_shl((count - free).min(30)).unwrap_or(MAX_DELAY_MS).min(MAX_DELAY_MS);
    (last + delay - now).max(0)
}

/// One sign-in or activation attempt, as the throttles see it.
pub struct Attempt {
    keys: Vec<(Throttle, String)>,
    /// The key of "this login signed in from this address before", for sign-ins.
    known: Option<String>,
    /// For logs: the login (or "activation") and the address.
    subject: String,
    client: IpAddr,
    /// Failures counted under each key by `check`.
    counted: Vec<u32>,
}

impl Attempt {
    pub fn sign_in(login: &str, client: IpAddr) -> Attempt {
        let at = address(client);
        let pair = format!("{login}\0{at}");
        Attempt {
            keys: vec![
                (Throttle::LoginAtAddress, key(Throttle::LoginAtAddress.name(), &pair)),
                (Throttle::Address, key(Throttle::Address.name(), &at)),
                (Throttle::Login, key(Throttle::Login.name(), login)),
            ],
            known: Some(key("known", &pair)),
            subject: login.to_owned(),
            client,
            counted: Vec::new(),
        }
    }

    pub fn activation(client: IpAddr) -> Attempt {
        Attempt {
            keys: vec![(Throttle::Activation, key(Throttle::Activation.name(), &address(client)))],
            known: None,
            subject: "activation".to_owned(),
            client,
            counted: Vec::new(),
        }
    }

    /// Refuses with 429 and `Retry-After` while any of the attempt's keys must wait.
    pub fn check(&mut self, storage: &dyn RelayStorage, now: i64) -> Result<(), ApiError> {
        let known = match &self.known {
            Some(k) => storage.signed_in_before(k, now - KNOWN_SIGN_IN_MS)?,
            None => false,
        };
        let keys: Vec<String> = self.keys.iter().map(|(_, k)| k.clone()).collect();
        let failures = storage.sign_in_failures(&keys, now - FAILURE_MEMORY_MS)?;
        self.counted = failures.iter().map(|f| f.0).collect();
        let wait = self
            .keys
            .iter()
            .zip(&failures)
            .filter(|((kind, _), _)| !(known && kind.lifted_when_known()))
            .map(|((kind, _), (count, last))| wait_ms(kind.free(), *count, *last, now))
            .max()
            .unwrap_or(0);
        if wait == 0 {
            return Ok(());
        }
        tracing::debug!("throttled: {} from {}", log_text(&self.subject), self.client);
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            "too many failed attempts; wait before trying again",
            "尝试次数过多，请稍后再试",
        );
        e.retry_after = Some(((wait + 999) / 1000) as u64);
        Err(e)
    }

    /// Records a failure under every key, and logs each key that starts to throttle with it.
    pub fn failed(&self, storage: &dyn RelayStorage, now: i64) -> Result<(), ApiError> {
        let keys: Vec<String> = self.keys.iter().map(|(_, k)| k.clone()).collect();
        storage.record_failed_sign_in(&keys, now)?;
        for ((kind, _), count) in self.keys.iter().zip(&self.counted) {
            if count + 1 == kind.free() {
                tracing::warn!(
                    "sign-in throttle {} starts: {} from {}",
                    kind.name(),
                    log_text(&self.subject),
                    self.client
                );
            }
        }
        Ok(())
    }

    /// Clears the login's failures at this address and remembers that it signed in from there.
    pub fn succeeded(&self, storage: &dyn RelayStorage, now: i64) -> Result<(), ApiError> {
        if let Some((_, pair)) = self.keys.iter().find(|(kind, _)| *kind == Throttle::LoginAtAddress) {
            storage.forget_sign_in_failures(pair)?;
        }
        if let Some(known) = &self.known {
            storage.note_sign_in(known, now)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_after_the_free_failures_and_are_capped() {
        assert_eq!(wait_ms(3, 2, 0, 0), 0);
        assert_eq!(wait_ms(3, 3, 0, 0), 1000);
        assert_eq!(wait_ms(3, 4, 0, 500), 1500);
        assert_eq!(wait_ms(3, 13, 0, 0), 1_024_000.min(MAX_DELAY_MS));
        assert_eq!(wait_ms(3, 400, 0, 0), MAX_DELAY_MS);
        assert_eq!(wait_ms(3, 400, 0, MAX_DELAY_MS + 1), 0);
    }

    #[test]
    fn keys_are_short_and_distinct() {
        let long = "x".repeat(100_000);
        let a = Attempt::sign_in(&long, "1.2.3.4".parse().unwrap());
        assert!(a.keys.iter().all(|(_, k)| k.len() == 32));
        let b = Attempt::sign_in(&long, "1.2.3.5".parse().unwrap());
        assert_ne!(a.keys[0].1, b.keys[0].1);
        assert_ne!(a.keys[1].1, b.keys[1].1);
        assert_eq!(a.keys[2].1, b.keys[2].1, "one login from anywhere");
        // One IPv6 subscriber block is one address.
        let c = Attempt::sign_in("u", "2001:db8:1:2::1".parse().unwrap());
        let d = Attempt::sign_in("u", "2001:db8:1:2:ffff::9".parse().unwrap());
        assert_eq!(c.keys[1].1, d.keys[1].1);
        assert_eq!(address("::ffff:1.2.3.4".parse().unwrap()), "1.2.3.4");
    }
}
