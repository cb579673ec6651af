//! Inviting enterprises that have no app, beside `client.rs`: a cadre's phone asks the relay for a
//! contact's one-time web sign-in link (the app draws its URL as a QR code, or sends it), and reads
//! which of its enterprises were never reached. Both need the network; blocking like every call.

use crate::client::ZhuqiClient;
use crate::error::Result;
use zhuqi_core::sync::protocol::WebLinkRequest;

/// A contact's one-time web sign-in link.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WebLink {
    /// The code to read out or type (`XXXX-XXXX-XXXX-XXXX`).
    pub code: String,
    /// The address to open: what the QR code holds.
    pub url: String,
    /// When it stops working (ms since the epoch); it also stops once used.
    pub expires_at: i64,
    /// The contact it signs in as (the one created, when the enterprise had none).
    pub contact_user_id: String,
}

/// Whether an enterprise was ever reached: whether any of its contacts activated the app or signed
/// in through a web link.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EnterpriseReach {
    pub enterprise_id: String,
    pub name: String,
    pub app_devices: u32,
    pub web_sign_ins: u32,
    pub last_sign_in_at: Option<i64>,
    /// When a link sent and not used yet expires.
    pub link_expires_at: Option<i64>,
    /// No app and no web sign-in: invite it.
    pub never_reached: bool,
}

/// The reach of the user's enterprises.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReachReport {
    /// A cadre: every assigned enterprise. A campaign office: those never reached (at most 1,000).
    pub enterprises: Vec<EnterpriseReach>,
    /// How many of the user's enterprises were never reached in all.
    pub never_reached: u64,
}

#[uniffi::export]
impl ZhuqiClient {
    /// Asks the relay for a one-time web sign-in link for a contact of an enterprise the user
    /// serves (a cadre assigned to it, or its campaign office): valid 72 hours, once; a new one
    /// voids the contact's unused one. Name the contact by `contact_user_id`; for an enterprise with
    /// no contact account yet, give `contact_name` (and `contact_mobile`) instead and the relay
    /// creates the account. With neither, the enterprise's only contact. Needs the network.
    #[uniffi::method(default(contact_user_id = None, contact_name = None, contact_mobile = None))]
    pub fn issue_web_link(
        &self,
        enterprise_id: String,
        contact_user_id: Option<String>,
        contact_name: Option<String>,
        contact_mobile: Option<String>,
    ) -> Result<WebLink> {
        let request = WebLinkRequest { enterprise_id, contact_user_id, contact_name, contact_mobile };
        let r = self.relay_client(&self.relay_url())?.issue_web_link(&self.token()?, &request)?;
        Ok(WebLink { code: r.code, url: r.url, expires_at: r.expires_at, contact_user_id: r.contact_user_id })
    }

    /// Which of the user's enterprises were never reached (neither the app nor a web sign-in by any
    /// contact), to invite them. Needs the network.
    pub fn enterprise_reach(&self) -> Result<ReachReport> {
        let r = self.relay_client(&self.relay_url())?.enterprise_reach(&self.token()?)?;
        Ok(ReachReport {
            enterprises: r
                .enterprises
                .into_iter()
                .map(|e| EnterpriseReach {
                    never_reached: e.never_reached(),
                    enterprise_id: e.enterprise_id,
                    name: e.name,
                    app_devices: e.app_devices,
                    web_sign_ins: e.web_sign_ins,
                    last_sign_in_at: e.last_sign_in_at,
                    link_expires_at: e.link_expires_at,
                })
                .collect(),
            never_reached: r.never_reached,
        })
    }
}
