//! Imports a previous platform's history: problems (a problem ledger, 问题台账: one row a problem,
//! from its report to its closing) as problem documents, visits (a visit log, 走访台账: one row a
//! visit) into their enterprises' documents, and task notices (任务通知台账: one row a recipient of
//! a notice) as task notice documents. A problem's row becomes the events its columns record —
//! reported, accepted, routed, resolved, confirmed and rated, closed —; a visit's, one visit
//! recorded; a notice's rows, its issue and each recipient's acknowledgement and completion. They are dated with their historical times, written through the relay's import device
//! by the `system` account and carry their [`Origin`] (the row's number on that platform, the person
//! it names and, for a visit, that cadre's account), so timelines show them as 导入 and the
//! campaign's figures count them at their own times (a visit for its cadre).
//!
//! Every row is read, checked (a problem's events folded) before anything is written: a bad row is
//! reported with its line number and nothing is imported. The events are then written a chunk at a
//! time, each chunk one all-or-nothing push through the relay's validation. Ids derive from the
//! records' numbers, so importing a file again skips what is already there: a second run of the
//! same file changes nothing, and a run cut off midway is completed by running it again.

use super::import::{ImportError, after_import, get, opt, read, resolve_enterprise, row_err, system_user};
use crate::AppState;
use crate::sync::author::Author;
use crate::sync::directory::Snapshot;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use zhuqi_core::document::Document;
use zhuqi_core::domain::directory::path_covers;
use zhuqi_core::domain::event::{Fold, Origin, fold};
use zhuqi_core::domain::text::{self, civil_from_days, days_from_civil};
use zhuqi_core::domain::{
    Category, DocKind, EnterpriseAction, EnterpriseState, Event, Outcome, ProblemAction, ProblemState, Recipient, Role,
    TaskNoticeAction, TaskNoticeState, VisitRecord,
};

/// Problems written per push: a chunk's documents are held in memory until it is stored.
const CHUNK: usize = 1_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// China Standard Time, in which the ledgers' dates and times are written.
const CST_MS: i64 = 8 * HOUR_MS;

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Problems written.
    pub written: usize,
    /// Rows whose problem was already there (imported before).
    pub already: usize,
    /// Events written.
    pub events: usize,
}

/// The columns of a problem ledger: canonical name and the headers it may go by.
const COLUMNS: &[(&str, &[&str])] = &[
    ("number", &["编号", "问题编号", "原编号", "no"]),
    ("enterprise", &["企业", "企业编号", "统一社会信用代码", "信用代码", "enterprise_id", "uscc"]),
    ("category", &["类别", "问题类别", "问题类型"]),
    ("title", &["标题", "问题标题"]),
    ("description", &["描述", "问题描述", "问题内容"]),
    ("reporter", &["上报人", "提交人"]),
    ("reported_at", &["上报时间", "提交时间"]),
    ("accepted_at", &["受理时间"]),
    ("level", &["层级", "办理层级"]),
    ("department", &["责任单位", "办理单位", "department_id"]),
    ("routed_at", &["交办时间"]),
    ("deadline", &["办理时限", "办结时限"]),
    ("handler", &["办理人"]),
    ("resolved_at", &["办结时间"]),
    ("resolution", &["办理结果", "办理情况"]),
    ("confirmed_at", &["确认时间", "评价时间"]),
    ("rating", &["满意度", "评价"]),
    ("comment", &["评价意见"]),
    ("closed_at", &["关闭时间", "销号时间"]),
];

/// How the ids of imported documents begin; the relay lets no other device create one.
pub const ID_PREFIX: &str = "hist-";

/// The document id of the problem numbered `number` on the previous platform: the same number
/// always gives the same id (what makes the import idempotent).
pub fn problem_id(number: &str) -> String {
    let digest = Sha256::digest(number.as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("{ID_PREFIX}{hex}")
}

/// A date and time as ledgers write them, in China Standard Time: `2022-03-01`, `2022/3/1 9:05`,
/// `2022-03-01 09:05:30` (a `T` between date and time is also read). A date alone is its first
/// moment, or its last one when `end_of_day` (a deadline given as a day lasts the whole day).
pub fn parse_time(s: &str, end_of_day: bool) -> Option<i64> {
    let s = s.trim();
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, Some(t.trim())),
        None => (s, None),
    };
    let mut parts = date.split(['-', '/', '.']);
    let mut num = |max_len: usize| -> Option<i64> {
        let p = parts.next()?;
        (!p.is_empty() && p.len() <= max_len && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse().ok())?
    };
    let (y, m, d) = (num(4)?, num(2)?, num(2)?);
    if parts.next().is_some() || !(1990..=2100).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m as u32, d as u32);
    if civil_from_days(days) != (y, m as u32, d as u32) {
        return None;
    }
    let seconds = match time {
        None if end_of_day => DAY_MS / 1000 - 1,
        None => 0,
        Some(t) => {
            let fields: Vec<&str> = t.split(':').collect();
            if !(2..=3).contains(&fields.len()) {
                return None;
            }
            let mut v = [0i64; 3];
            for (i, f) in fields.iter().enumerate() {
                if f.is_empty() || f.len() > 2 || !f.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                v[i] = f.parse().ok()?;
            }
            if v[0] > 23 || v[1] > 59 || v[2] > 59 {
                return None;
            }
            v[0] * 3600 + v[1] * 60 + v[2]
        }
    };
    Some(days * DAY_MS + seconds * 1000 - CST_MS)
}

fn parse_category(s: &str) -> Option<Category> {
    let s = s.trim();
    let s = s.strip_suffix("问题").or_else(|| s.strip_suffix("类")).unwrap_or(s);
    Category::ALL.into_iter().find(|c| c.as_str().eq_ignore_ascii_case(s) || c.zh() == s)
}

/// A rating from 1 to 5, or the words of the common three-grade scale (满意 5, 基本满意 3, 不满意 1).
fn parse_rating(s: &str) -> Option<u8> {
    match s.trim() {
        "满意" | "非常满意" => Some(5),
        "比较满意" => Some(4),
        "基本满意" => Some(3),
        "不满意" | "不太满意" => Some(1),
        d => d.parse().ok().filter(|r| (1..=5).contains(r)),
    }
}

/// One row's problem, checked: its id, header and events (action, time, person named).
struct Planned {
    line: usize,
    id: String,
    number: String,
    header: [(&'static str, String); 3],
    steps: Vec<(ProblemAction, i64, Option<String>)>,
}

/// Imports a problem ledger (CSV or XLSX, see `import::read`). Nothing is written if a row is bad.
pub fn problems(state: &AppState, data: &[u8]) -> Result<Imported, ImportError> {
    let t = read(data, COLUMNS, &["number", "enterprise", "category", "title", "reported_at"])?;
    let system = system_user(state)?;
    let mut planner = Planner::new(state, &system)?;
    // Every row is checked before anything is written; then each chunk is planned again and
    // written, so that only one chunk's problems are held at a time.
    for (line, r) in &t.rows {
        planner.row(state, *line, r)?;
    }
    planner.numbers.clear();
    let storage = state.storage.as_ref();
    let keys = storage
        .user_keys(planner.dir.users.get(&system).ok_or_else(|| ImportError::File("no system account".into()))?)?;
    let mut done = Imported { written: 0, already: 0, events: 0 };
    for rows in t.rows.chunks(CHUNK) {
        let chunk: Vec<Planned> =
            rows.iter().map(|(line, r)| planner.row(state, *line, r)).collect::<Result<_, _>>()?;
        let ids: Vec<&str> = chunk.iter().map(|p| p.id.as_str()).collect();
        let there: HashSet<String> = storage.docs_in_scope(&ids, &keys)?.into_iter().collect();
        let mut author = Author::importing(state, &system)?;
        for p in &chunk {
            if there.contains(&p.id) {
                done.already += 1;
                continue;
            }
            let header: Vec<(&str, &str)> = p.header.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let origin =
                |person: &Option<String>| Origin { record: p.number.clone(), person: person.clone(), user: None };
            let steps = p.steps.iter().map(|(action, at, person)| (action.clone(), *at, origin(person)));
            stage(&mut author, DocKind::Problem, &p.id, &header, steps).map_err(|m| row_err(p.line, m))?;
            done.written += 1;
            done.events += p.steps.len();
        }
        submit(author, |doc| chunk.iter().find(|p| p.id == doc).map_or(0, |p| p.line))?;
    }
    after_import(state);
    Ok(done)
}

/// Stages a new document of imported history: its first step creates it with `header`, and every
/// step carries its origin. Fails with the Chinese message of the first step refused.
fn stage<A: serde::Serialize + serde::de::DeserializeOwned>(
    author: &mut Author<'_>,
    kind: DocKind,
    id: &str,
    header: &[(&str, &str)],
    steps: impl Iterator<Item = (A, i64, Origin)>,
) -> Result<(), String> {
    for (i, (action, at, origin)) in steps.enumerate() {
        author.set_origin(Some(origin));
        let staged = if i == 0 { author.create(kind, id, header, action, at) } else { author.append(id, action, at) };
        staged.map_err(|e| e.message_zh.to_string())?;
    }
    Ok(())
}

/// Submits a chunk's staged events as one all-or-nothing push; a refusal names the line of the
/// refused document's row (`line_of` its id).
fn submit(author: Author<'_>, line_of: impl Fn(&str) -> usize) -> Result<(), ImportError> {
    if author.staged() == 0 {
        return Ok(());
    }
    match author.submit(true)?.first() {
        None => Ok(()),
        Some(r) => Err(row_err(line_of(&r.doc), format!("{}（{}）", r.code.message_zh(), r.message))),
    }
}

/// Reads and checks rows: values, references, and the events folded in order as the relay will
/// fold them.
struct Planner {
    dir: Arc<Snapshot>,
    /// The region path of the importing account: every problem's enterprise must lie under it.
    scope: String,
    /// The relay's time: a step of history cannot lie after it.
    now: i64,
    /// Every enterprise: name and region, by id.
    enterprises: HashMap<String, (String, String)>,
    /// Enterprise ids by the key a row gives (an id or a credit code).
    resolved: HashMap<String, Option<String>>,
    /// The numbers of the rows read so far (each may appear once).
    numbers: HashSet<String>,
}

impl Planner {
    fn new(state: &AppState, system: &str) -> Result<Planner, ImportError> {
        let storage = state.storage.as_ref();
        let dir = state.directory.get(storage)?;
        let region = dir.users.get(system).and_then(|u| u.region_id.clone()).unwrap_or_default();
        Ok(Planner {
            scope: dir.paths.get(&region).cloned().ok_or_else(|| ImportError::File("导入账号没有所属地区".into()))?,
            now: crate::now_ms(),
            dir,
            enterprises: storage
                .enterprise_rows()?
                .into_iter()
                .map(|(id, name, region)| (id, (name, region)))
                .collect(),
            resolved: HashMap::new(),
            numbers: HashSet::new(),
        })
    }

    fn row(
        &mut self,
        state: &AppState,
        line: usize,
        r: &HashMap<&'static str, String>,
    ) -> Result<Planned, ImportError> {
        let person = |k: &'static str| -> Result<Option<String>, ImportError> {
            let v = text::optional(k, get(r, k), text::SHORT).map_err(|e| row_err(line, e.user_message()))?;
            Ok(Some(v).filter(|v| !v.is_empty()))
        };
        let bad = |m: String| row_err(line, m);
        let number = self.number(line, r)?;
        let key = get(r, "enterprise");
        let ent_id =
            self.enterprise(state, key).ok_or_else(|| bad(format!("企业 {key} 不存在或不在导入账号的地区内")))?;
        let (ent_name, region) = self.enterprises[&ent_id].clone();
        let dir = &self.dir;
        let category = parse_category(get(r, "category"))
            .ok_or_else(|| bad(format!("问题类别 {} 无法识别", get(r, "category"))))?;
        let time = |k: &str, name: &str, end_of_day: bool| row_time(line, r, k, name, end_of_day);
        let reported_at = time("reported_at", "上报时间", false)?.ok_or_else(|| bad("缺少上报时间".into()))?;
        let mut steps = vec![(
            ProblemAction::Reported {
                enterprise_id: ent_id.clone(),
                category,
                title: get(r, "title").into(),
                description: get(r, "description").into(),
                visit_id: None,
                photos: vec![],
            },
            reported_at,
            person("reporter")?,
        )];
        if let Some(at) = time("accepted_at", "受理时间", false)? {
            steps.push((ProblemAction::Accepted { note: String::new() }, at, None));
        }
        let routed_at = time("routed_at", "交办时间", false)?;
        if let Some(at) = routed_at {
            let department = get(r, "department");
            // A name is looked for among the departments of the enterprise's region and above it.
            let region_path = dir.paths.get(&region).cloned().unwrap_or_default();
            let department_id = department_named(dir, department, |p| path_covers(p, &region_path))
                .map_err(bad)?
                .ok_or_else(|| bad(format!("责任单位 {department} 不存在")))?;
            let level: u8 = get(r, "level")
                .parse()
                .ok()
                .filter(|l| (1..=5).contains(l))
                .ok_or_else(|| bad(format!("办理层级 {} 应为 1 到 5", get(r, "level"))))?;
            let deadline = time("deadline", "办理时限", true)?.ok_or_else(|| bad("已交办的问题须有办理时限".into()))?;
            steps.push((ProblemAction::Routed { department_id, level, deadline, note: String::new() }, at, None));
        }
        if let Some(at) = time("resolved_at", "办结时间", false)? {
            if routed_at.is_none() {
                return Err(bad("已办结的问题须有交办时间".into()));
            }
            steps.push((
                ProblemAction::Resolved { resolution: get(r, "resolution").into(), photos: vec![] },
                at,
                person("handler")?,
            ));
        }
        let confirmed_at = time("confirmed_at", "确认时间", false)?;
        match (opt(r, "rating"), confirmed_at) {
            (Some(v), Some(at)) => {
                let rating =
                    parse_rating(&v).ok_or_else(|| bad(format!("满意度 {v} 应为 1 到 5 或 满意/基本满意/不满意")))?;
                steps.push((ProblemAction::Confirmed { rating, comment: get(r, "comment").into() }, at, None));
            }
            (None, None) => {}
            (Some(_), None) => return Err(bad("有满意度的问题须有确认时间".into())),
            (None, Some(_)) => return Err(bad("有确认时间的问题须有满意度".into())),
        }
        if let Some(at) = time("closed_at", "关闭时间", false)? {
            steps.push((ProblemAction::Closed { note: String::new() }, at, None));
        }
        if steps.iter().any(|(_, at, _)| *at > self.now) {
            return Err(bad("历史记录的时间不能晚于现在".into()));
        }
        let mut checked = Vec::with_capacity(steps.len());
        for (action, at, person) in steps {
            let action = action.validate().map_err(|e| bad(e.user_message()))?;
            checked.push((action, at, person));
        }
        check_history::<ProblemState, _>(&checked, zh_step).map_err(bad)?;
        Ok(Planned {
            line,
            id: problem_id(&number),
            number,
            header: [("enterprise_id", ent_id), ("enterprise_name", ent_name), ("region_id", region)],
            steps: checked,
        })
    }
}

/// The time a row gives in column `k` (named `name` in messages), if any; `end_of_day` as for
/// [`parse_time`].
fn row_time(line: usize, r: &Row, k: &str, name: &str, end_of_day: bool) -> Result<Option<i64>, ImportError> {
    match opt(r, k) {
        None => Ok(None),
        Some(v) => parse_time(&v, end_of_day)
            .map(Some)
            .ok_or_else(|| row_err(line, format!("{name} {v} 不是日期时间（如 2022-03-01 09:30）"))),
    }
}

/// A row's record number: not empty, at most 64 characters.
fn record_number(line: usize, r: &Row) -> Result<&str, ImportError> {
    let number = get(r, "number");
    if number.is_empty() || number.chars().count() > 64 {
        return Err(row_err(line, "编号不能为空，最多64字"));
    }
    Ok(number)
}

/// Folds a record's events as the relay will: every one must apply, in the order of its times.
fn check_history<S: Fold, P>(
    steps: &[(S::Action, i64, P)],
    zh_step: fn(&S::Action) -> &'static str,
) -> Result<(), String>
where
    S::Action: Clone,
{
    let mut events = Vec::with_capacity(steps.len());
    for (i, (action, at, _)) in steps.iter().enumerate() {
        if i > 0 && *at < steps[i - 1].1 {
            return Err(format!("{}的时间早于前一步", zh_step(action)));
        }
        events.push(Event {
            id: format!("e{i}"),
            by: String::new(),
            role: Role::Manager,
            device: String::new(),
            at: *at,
            seen: if i == 0 { vec![] } else { vec![format!("e{}", i - 1)] },
            origin: None,
            action: action.clone(),
        });
    }
    let (_, folded) = fold::<S>(events);
    for f in folded {
        match f.outcome {
            Outcome::Applied => {}
            Outcome::Rejected { reason } | Outcome::Conflict { reason, .. } => {
                return Err(format!("{}：{reason}", zh_step(&f.event.action)));
            }
            Outcome::Unknown => return Err("无法识别的步骤".into()),
        }
    }
    Ok(())
}

fn zh_step(action: &ProblemAction) -> &'static str {
    match action {
        ProblemAction::Reported { .. } => "上报",
        ProblemAction::Accepted { .. } => "受理",
        ProblemAction::Routed { .. } => "交办",
        ProblemAction::Resolved { .. } => "办结",
        ProblemAction::Confirmed { .. } => "确认",
        ProblemAction::Closed { .. } => "关闭",
        _ => "该步骤",
    }
}

/// The columns of a visit log.
const VISIT_COLUMNS: &[(&str, &[&str])] = &[
    ("number", &["编号", "走访编号", "原编号", "no"]),
    ("enterprise", &["企业", "企业编号", "统一社会信用代码", "信用代码", "enterprise_id", "uscc"]),
    ("cadre", &["干部", "走访干部", "干部登录名", "登录名"]),
    ("date", &["走访日期", "走访时间", "日期"]),
    ("people", &["见到的人", "接待人", "企业接待人"]),
    ("notes", &["走访情况", "走访内容", "情况"]),
    ("policies", &["惠企政策", "宣讲政策"]),
];

/// The visit id of the visit numbered `number` on the previous platform (see [`problem_id`]).
pub fn visit_id(number: &str) -> String {
    problem_id(&format!("visit:{number}"))
}

/// One row's visit, checked.
struct PlannedVisit {
    line: usize,
    number: String,
    enterprise_id: String,
    cadre: (String, String),
    record: VisitRecord,
    at: i64,
}

/// Imports a visit log (CSV or XLSX): each visit is recorded in its enterprise's document, dated
/// as recorded, counted for its cadre (who must have an account here, as an imported user may).
/// Nothing is written if a row is bad; a visit already imported is skipped.
pub fn visits(state: &AppState, data: &[u8]) -> Result<Imported, ImportError> {
    let t = read(data, VISIT_COLUMNS, &["number", "enterprise", "cadre", "date", "notes"])?;
    let system = system_user(state)?;
    let mut planner = Planner::new(state, &system)?;
    let mut planned = Vec::with_capacity(t.rows.len());
    for (line, r) in &t.rows {
        planned.push(planner.visit(state, *line, r)?);
    }
    let mut done = Imported { written: 0, already: 0, events: 0 };
    // The visits each enterprise already holds, read once.
    let mut held: HashMap<String, HashSet<String>> = HashMap::new();
    for chunk in planned.chunks(CHUNK) {
        let mut author = Author::importing(state, &system)?;
        for v in chunk {
            if !held.contains_key(&v.enterprise_id) {
                let ids = state
                    .read_doc(&v.enterprise_id, |c| {
                        let events = Document::from_automerge(c.doc.clone()).events();
                        fold::<EnterpriseState>(events).0.visits.into_iter().map(|v| v.record.id).collect()
                    })?
                    .unwrap_or_default();
                held.insert(v.enterprise_id.clone(), ids);
            }
            if !held.get_mut(&v.enterprise_id).expect("read above").insert(v.record.id.clone()) {
                done.already += 1;
                continue;
            }
            let (user, name) = &v.cadre;
            author.set_origin(Some(Origin {
                record: v.number.clone(),
                person: Some(name.clone()),
                user: Some(user.clone()),
            }));
            author
                .append(&v.enterprise_id, EnterpriseAction::VisitRecorded { visit: v.record.clone() }, v.at)
                .map_err(|e| row_err(v.line, e.message_zh))?;
            done.written += 1;
            done.events += 1;
        }
        submit(author, |doc| chunk.iter().find(|v| v.enterprise_id == doc).map_or(0, |v| v.line))?;
    }
    after_import(state);
    Ok(done)
}

/// The columns of a task notice ledger (任务通知台账): one row a recipient of a notice. The rows of
/// one notice share its number; its title, content, region, issuer and times are written on its
/// first row and, on the others, either again or left empty (as merged cells read).
const NOTICE_COLUMNS: &[(&str, &[&str])] = &[
    ("number", &["编号", "通知编号", "原编号", "no"]),
    ("title", &["标题", "通知标题"]),
    ("body", &["内容", "通知内容", "正文"]),
    ("region", &["地区", "下发地区", "区划代码"]),
    ("issuer", &["下发人", "下发单位", "发文单位"]),
    ("issued_at", &["下发时间", "发布时间"]),
    ("deadline", &["办理时限", "截止时间"]),
    ("recipient", &["接收对象", "接收单位", "接收人"]),
    ("acknowledged_at", &["签收时间"]),
    ("completed_at", &["完成时间"]),
    ("note", &["完成情况", "办理情况"]),
];

/// The values a notice's rows share (see [`NOTICE_COLUMNS`]).
const NOTICE_SHARED: &[(&str, &str)] = &[
    ("title", "标题"),
    ("body", "内容"),
    ("region", "地区"),
    ("issuer", "下发人"),
    ("issued_at", "下发时间"),
    ("deadline", "办理时限"),
];

/// The document id of the task notice numbered `number` on the previous platform: `hist-notice-`
/// and the hash, never a problem's id (those are `hist-` and hex digits only).
pub fn notice_id(number: &str) -> String {
    problem_id(number).replacen(ID_PREFIX, &format!("{ID_PREFIX}notice-"), 1)
}

/// One notice, checked: its rows' first line, region and events with their origins.
struct PlannedNotice {
    line: usize,
    id: String,
    region_id: String,
    steps: Vec<(TaskNoticeAction, i64, Origin)>,
}

type Row = HashMap<&'static str, String>;

/// Imports a task notice ledger (CSV or XLSX): each notice is issued at its time to its recipients
/// (departments by id or name, cadres by id or login, all in the notice's region), who acknowledge
/// and complete it at theirs. Nothing is written if a row is bad; a notice already imported is
/// skipped.
pub fn notices(state: &AppState, data: &[u8]) -> Result<Imported, ImportError> {
    let t = read(data, NOTICE_COLUMNS, &["number", "title", "region", "issued_at", "deadline", "recipient"])?;
    let system = system_user(state)?;
    let planner = Planner::new(state, &system)?;
    // The rows of each notice, notices in the order they first appear.
    let mut groups: Vec<(String, Vec<(usize, &Row)>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (line, r) in &t.rows {
        let number = record_number(*line, r)?;
        let i = *index.entry(number).or_insert_with(|| {
            groups.push((number.to_owned(), Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push((*line, r));
    }
    let planned: Vec<PlannedNotice> =
        groups.iter().map(|(number, rows)| planner.notice(state, number, rows)).collect::<Result<_, _>>()?;
    let storage = state.storage.as_ref();
    let keys = storage
        .user_keys(planner.dir.users.get(&system).ok_or_else(|| ImportError::File("no system account".into()))?)?;
    let mut done = Imported { written: 0, already: 0, events: 0 };
    for chunk in planned.chunks(CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(|n| n.id.as_str()).collect();
        let there: HashSet<String> = storage.docs_in_scope(&ids, &keys)?.into_iter().collect();
        let mut author = Author::importing(state, &system)?;
        for n in chunk {
            if there.contains(&n.id) {
                done.already += 1;
                continue;
            }
            let header = [("region_id", n.region_id.as_str())];
            stage(&mut author, DocKind::TaskNotice, &n.id, &header, n.steps.iter().cloned())
                .map_err(|m| row_err(n.line, m))?;
            done.written += 1;
            done.events += n.steps.len();
        }
        submit(author, |doc| chunk.iter().find(|n| n.id == doc).map_or(0, |n| n.line))?;
    }
    after_import(state);
    Ok(done)
}

/// The department a ledger names: by id, or else by name among those whose region's path `fits`
/// (several departments share a name, 财政局 in every county). A name more than one of them bears is
/// refused, not guessed.
fn department_named(dir: &Snapshot, key: &str, fits: impl Fn(&str) -> bool) -> Result<Option<String>, String> {
    if dir.departments.contains_key(key) {
        return Ok(Some(key.to_owned()));
    }
    let mut named = dir
        .departments
        .values()
        .filter(|d| d.name == key && dir.paths.get(&d.region_id).is_some_and(|p| fits(p)))
        .map(|d| d.id.clone());
    match (named.next(), named.next()) {
        (Some(_), Some(_)) => Err(format!("责任单位名称 {key} 对应多个单位，请写单位编号")),
        (one, None) => Ok(one),
        (None, Some(_)) => unreachable!("an iterator yields in order"),
    }
}

fn zh_notice_step(action: &TaskNoticeAction) -> &'static str {
    match action {
        TaskNoticeAction::Issued { .. } => "下发",
        TaskNoticeAction::Acknowledged { .. } => "签收",
        TaskNoticeAction::Completed { .. } => "完成",
        TaskNoticeAction::Unknown => "该步骤",
    }
}

impl Planner {
    /// A row's record number: not empty, at most 64 characters, and not another row's.
    fn number(&mut self, line: usize, r: &Row) -> Result<String, ImportError> {
        let number = record_number(line, r)?.to_owned();
        if !self.numbers.insert(number.clone()) {
            return Err(row_err(line, format!("编号 {number} 重复")));
        }
        Ok(number)
    }

    fn visit(
        &mut self,
        state: &AppState,
        line: usize,
        r: &HashMap<&'static str, String>,
    ) -> Result<PlannedVisit, ImportError> {
        let bad = |m: String| row_err(line, m);
        let number = self.number(line, r)?;
        let key = get(r, "enterprise");
        let enterprise_id =
            self.enterprise(state, key).ok_or_else(|| bad(format!("企业 {key} 不存在或不在导入账号的地区内")))?;
        let login = get(r, "cadre");
        let cadre = match self.dir.users.get(login) {
            Some(u) => Some((u.id.clone(), u.name.clone())),
            None => state.storage.account_by_login(login)?.map(|a| (a.user.id, a.user.name)),
        }
        .ok_or_else(|| bad(format!("干部 {login} 没有账号（请先导入用户）")))?;
        // A visit given as a day is dated at its noon.
        let date = get(r, "date");
        let at = parse_time(date, false)
            .map(|t| if date.trim().len() <= 10 { t + 12 * HOUR_MS } else { t })
            .ok_or_else(|| bad(format!("走访日期 {date} 不是日期（如 2022-03-01）")))?;
        if at > self.now {
            return Err(bad("历史记录的时间不能晚于现在".into()));
        }
        let list = |k: &str| super::import::list(get(r, k));
        let record = VisitRecord {
            id: visit_id(&number),
            date: zhuqi_core::domain::text::date_of(at),
            people_met: list("people"),
            notes: get(r, "notes").into(),
            policies: list("policies"),
            policy_ids: vec![],
            location: None,
            photos: vec![],
        }
        .validate(at.saturating_add(CST_MS).div_euclid(DAY_MS))
        .map_err(|e| bad(e.user_message()))?;
        Ok(PlannedVisit { line, number, enterprise_id, cadre, record, at })
    }

    /// A notice from its rows (see [`NOTICE_COLUMNS`]).
    fn notice(&self, state: &AppState, number: &str, rows: &[(usize, &Row)]) -> Result<PlannedNotice, ImportError> {
        let (first_line, first) = rows[0];
        // A shared value is written on the first row, and on the others again or not at all.
        for (line, r) in &rows[1..] {
            for (k, name) in NOTICE_SHARED {
                if !get(r, k).is_empty() && get(r, k) != get(first, k) {
                    return Err(row_err(*line, format!("编号 {number} 的{name}与第{first_line}行不一致")));
                }
            }
        }
        let bad = |m: String| row_err(first_line, m);
        let region_id = get(first, "region").to_owned();
        let region_path = self
            .dir
            .paths
            .get(&region_id)
            .filter(|p| path_covers(&self.scope, p))
            .ok_or_else(|| bad(format!("地区 {region_id} 不存在或不在导入账号的地区内")))?;
        let issued_at =
            row_time(first_line, first, "issued_at", "下发时间", false)?.ok_or_else(|| bad("缺少下发时间".into()))?;
        let deadline =
            row_time(first_line, first, "deadline", "办理时限", true)?.ok_or_else(|| bad("缺少办理时限".into()))?;
        let origin = |person: Option<String>, user: Option<String>| Origin { record: number.to_owned(), person, user };
        let mut recipients = Vec::with_capacity(rows.len());
        let mut later: Vec<(TaskNoticeAction, i64, Origin)> = Vec::new();
        for (line, r) in rows {
            let (recipient, name, user) = self.recipient(state, *line, get(r, "recipient"), region_path)?;
            if recipients.contains(&recipient) {
                return Err(row_err(*line, format!("编号 {number} 的接收对象 {name} 重复")));
            }
            recipients.push(recipient.clone());
            let acknowledged = row_time(*line, r, "acknowledged_at", "签收时间", false)?;
            let completed = row_time(*line, r, "completed_at", "完成时间", false)?;
            let in_order = match (acknowledged, completed) {
                (Some(a), Some(c)) => issued_at <= a && a <= c,
                (Some(t), None) | (None, Some(t)) => issued_at <= t,
                (None, None) => true,
            };
            if !in_order {
                return Err(row_err(*line, "签收、完成时间须依次不早于下发时间"));
            }
            let by = || origin(Some(name.clone()), user.clone());
            if let Some(at) = acknowledged {
                later.push((TaskNoticeAction::Acknowledged { recipient: recipient.clone() }, at, by()));
            }
            if let Some(at) = completed {
                let note = text::optional("note", get(r, "note"), text::MEDIUM)
                    .map_err(|e| row_err(*line, e.user_message()))?;
                later.push((TaskNoticeAction::Completed { recipient, note }, at, by()));
            }
        }
        let issued = TaskNoticeAction::Issued {
            region_id: region_id.clone(),
            title: get(first, "title").into(),
            body: get(first, "body").into(),
            deadline,
            recipients,
        }
        .validate(issued_at)
        .map_err(|e| bad(e.user_message()))?;
        let issuer = text::optional("issuer", get(first, "issuer"), text::SHORT).map_err(|e| bad(e.user_message()))?;
        // Each recipient's steps in the order of their times, after the issue.
        later.sort_by_key(|(_, at, _)| *at);
        let mut steps = vec![(issued, issued_at, origin(Some(issuer).filter(|i| !i.is_empty()), None))];
        steps.extend(later);
        if steps.iter().any(|(_, at, _)| *at > self.now) {
            return Err(bad("历史记录的时间不能晚于现在".into()));
        }
        check_history::<TaskNoticeState, _>(&steps, zh_notice_step).map_err(bad)?;
        Ok(PlannedNotice { line: first_line, id: notice_id(number), region_id, steps })
    }

    /// The recipient a row names, in the notice's region: a department (by id or name) or a cadre (by
    /// id or login); with the name shown for it and, for a cadre, the account.
    fn recipient(
        &self,
        state: &AppState,
        line: usize,
        key: &str,
        region_path: &str,
    ) -> Result<(Recipient, String, Option<String>), ImportError> {
        let key = key.trim();
        let bad = |m: String| row_err(line, m);
        let within = |region_id: &str| self.dir.paths.get(region_id).is_some_and(|p| path_covers(region_path, p));
        let department = match department_named(&self.dir, key, |p| path_covers(region_path, p)).map_err(bad)? {
            Some(id) => self.dir.departments.get(&id),
            None => None,
        };
        if let Some(d) = department {
            return if within(&d.region_id) {
                Ok((Recipient::Department(d.id.clone()), d.name.clone(), None))
            } else {
                Err(bad(format!("接收单位 {key} 不在通知的地区内")))
            };
        }
        let user = match self.dir.users.get(key) {
            Some(u) => Some(u.clone()),
            None => state.storage.account_by_login(key)?.map(|a| a.user),
        };
        let cadre =
            user.filter(|u| u.role == Role::Cadre).ok_or_else(|| bad(format!("接收对象 {key} 不是责任单位或干部")))?;
        if !cadre.region_id.as_deref().is_some_and(within) {
            return Err(bad(format!("接收干部 {key} 不在通知的地区内")));
        }
        Ok((Recipient::Cadre(cadre.id.clone()), cadre.name.clone(), Some(cadre.id.clone())))
    }

    /// The enterprise a row names (by id or credit code), if it lies in the importing account's region.
    fn enterprise(&mut self, state: &AppState, key: &str) -> Option<String> {
        let id = self.resolved.entry(key.to_owned()).or_insert_with(|| resolve_enterprise(state, key)).clone()?;
        let (_, region) = self.enterprises.get(&id)?;
        self.dir.paths.get(region).is_some_and(|p| path_covers(&self.scope, p)).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_times_read_in_china_standard_time() {
        let day = days_from_civil(2022, 3, 1) * DAY_MS - CST_MS;
        assert_eq!(parse_time("2022-03-01", false), Some(day));
        assert_eq!(parse_time("2022/3/1", true), Some(day + DAY_MS - 1000));
        assert_eq!(parse_time("2022-03-01 09:05", false), Some(day + 9 * HOUR_MS + 5 * 60_000));
        assert_eq!(parse_time("2022-03-01T09:05:30", false), Some(day + 9 * HOUR_MS + 5 * 60_000 + 30_000));
        for bad in
            ["", "2022-02-30", "2022-13-01", "22-03-01", "2022-03-01 24:00", "2022-03-01 9", "2022-03-01-02", "３月"]
        {
            assert_eq!(parse_time(bad, false), None, "{bad}");
        }
    }

    #[test]
    fn ratings_and_categories_read_as_ledgers_write_them() {
        assert_eq!(parse_rating("满意"), Some(5));
        assert_eq!(parse_rating("基本满意"), Some(3));
        assert_eq!(parse_rating("不满意"), Some(1));
        assert_eq!(parse_rating("4"), Some(4));
        assert_eq!(parse_rating("6"), None);
        assert_eq!(parse_category("融资"), Some(Category::Financing));
        assert_eq!(parse_category("融资问题"), Some(Category::Financing));
        assert_eq!(parse_category("land"), Some(Category::Land));
        assert_eq!(parse_category("天气"), None);
    }

    #[test]
    fn a_number_gives_the_same_plain_id_every_time() {
        assert_eq!(problem_id("HN-2022-000001"), problem_id("HN-2022-000001"));
        assert_ne!(problem_id("HN-2022-000001"), problem_id("HN-2022-000002"));
        assert!(zhuqi_core::domain::is_plain_id(&problem_id("豫2022/01号")));
    }
}
