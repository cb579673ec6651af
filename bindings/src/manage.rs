//! The campaign office's calls and the pickers, beside `client.rs`: registering, updating and
//! correcting enterprises, ending assignments, issuing and reading task notices, the directory's
//! regions, departments and cadres (for routing, assigning and addressing notices), and the
//! documents not yet synced. Like every call of `ZhuqiClient`, blocking and offline: what they
//! write is pushed at the next sync.

use crate::client::ZhuqiClient;
use crate::error::{Result, ZhuqiError};
use crate::records_more::*;
use zhuqi_core::store::NewTaskNotice;

#[uniffi::export]
impl ZhuqiClient {
    /// Registers an enterprise (campaign office, within its region); returns its id.
    pub fn register_enterprise(&self, enterprise: EnterpriseInput) -> Result<String> {
        Ok(self.store()?.register_enterprise(enterprise.into())?)
    }

    /// Updates an enterprise's details: industry, tags, address, position, contacts (its campaign
    /// office, or a cadre assigned to it). Fields left `null` stay as they are.
    pub fn update_enterprise(&self, enterprise_id: String, update: EnterpriseUpdate) -> Result<()> {
        Ok(self.store()?.update_enterprise(&enterprise_id, update.into())?)
    }

    /// Corrects what was registered wrong — name, credit code, address — saying why (更正; campaign
    /// office). The registration stays in the history.
    pub fn correct_enterprise(&self, enterprise_id: String, correction: EnterpriseCorrection) -> Result<()> {
        Ok(self.store()?.correct_enterprise(&enterprise_id, correction.into())?)
    }

    /// Ends a cadre's assignment (包联) to an enterprise (campaign office): at the cadre's next sync
    /// the enterprise and its problems leave their phone; work they did offline meanwhile is kept in
    /// their quarantine, refused as `OutOfScope`.
    #[uniffi::method(default(reason = ""))]
    pub fn end_assignment(&self, enterprise_id: String, cadre_id: String, reason: String) -> Result<()> {
        Ok(self.store()?.end_assignment(&enterprise_id, &cadre_id, &reason)?)
    }

    /// Issues a task notice (任务通知) to departments and cadres within the office's region
    /// (campaign office); returns its id.
    pub fn issue_task_notice(&self, notice: TaskNoticeInput) -> Result<String> {
        let store = self.store()?;
        let region_id = match notice.region_id {
            Some(r) => r,
            None => store.identity().region_id.ok_or_else(|| ZhuqiError::Validation {
                field: "region_id".into(),
                detail: "the user has no region of their own: name the notice's region".into(),
                message_zh: "请选择任务通知的地区".into(),
            })?,
        };
        Ok(store.issue_task_notice(NewTaskNotice {
            region_id,
            title: notice.title,
            body: notice.body,
            deadline: notice.deadline,
            recipients: notice.recipients.into_iter().map(Into::into).collect(),
        })?)
    }

    /// A task notice with its text and every recipient's progress (a recipient sees the others'
    /// too, as the office does).
    pub fn task_notice(&self, notice_id: String) -> Result<TaskNoticeDetail> {
        Ok(self.store()?.task_notice(&notice_id)?.into())
    }

    /// The documents with work on this phone the relay does not hold yet — waiting to be pushed,
    /// or refused (in the quarantine) — oldest first, each with its name or title: what an
    /// "未同步" screen lists.
    pub fn unsynced_documents(&self) -> Result<Vec<UnsyncedDocument>> {
        Ok(self.store()?.unsynced()?.into_iter().map(Into::into).collect())
    }

    /// Every region the phone holds (the relay sends them all), each after its parent, from the
    /// province down: a region picker's tree.
    pub fn regions(&self) -> Result<Vec<RegionInfo>> {
        Ok(self.store()?.regions()?.into_iter().map(Into::into).collect())
    }

    /// The departments (责任单位) of a region, by default the user's own (a campaign office's
    /// region, a handler's department's), with those of the regions within it unless
    /// `include_subregions` is false; top down, then by name. A campaign office routes problems to
    /// these. `NotFound` for a region the phone does not hold.
    #[uniffi::method(default(region_id = None, include_subregions = true))]
    pub fn departments(&self, region_id: Option<String>, include_subregions: bool) -> Result<Vec<DepartmentInfo>> {
        let found = self.store()?.departments(region_id.as_deref(), include_subregions)?;
        Ok(found.into_iter().map(Into::into).collect())
    }

    /// The cadres of a region, by default the user's own, with those of the regions within it
    /// unless `include_subregions` is false; top down, then by name: whom a campaign office
    /// assigns (`assign_cadre`) and addresses task notices to. The phone holds the people of its
    /// user's county (or of the region an office manages) and of the regions above.
    #[uniffi::method(default(region_id = None, include_subregions = true))]
    pub fn cadres(&self, region_id: Option<String>, include_subregions: bool) -> Result<Vec<CadreInfo>> {
        let found = self.store()?.cadres(region_id.as_deref(), include_subregions)?;
        Ok(found.into_iter().map(Into::into).collect())
    }
}
