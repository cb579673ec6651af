//! Admin imports from CSV (UTF-8, with or without a BOM; Chinese or English headers) or XLSX (the
//! first sheet, read as the same table): regions, departments, users, enterprises, assignments, the
//! campaign offices' settings and the holiday calendar. Every row is checked first; a bad row is
//! reported with its line number and nothing is imported.

use crate::AppState;
use crate::http::error::ApiError;
use crate::storage::Account;
use crate::sync::author::Author;
use std::collections::HashMap;
use zhuqi_core::domain::enterprise::KNOWN_TAGS;
use zhuqi_core::domain::policy::{Criteria, PolicyAction, PolicyText};
use zhuqi_core::domain::{
    Calendar, CalendarDay, Contact, Department, Directory, DocKind, EnterpriseAction, OfficeSettings, Profile, Region,
    RegionLevel, Role, Scale, SizeBand, User, uscc,
};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("第{line}行：{message}")]
    Row { line: usize, message: String },
    #[error("{0}")]
    File(String),
    #[error("{0}")]
    Api(String),
}

impl From<ApiError> for ImportError {
    fn from(e: ApiError) -> Self {
        ImportError::Api(format!("{} ({})", e.message_zh, e.message))
    }
}

impl From<crate::storage::StorageError> for ImportError {
    fn from(e: crate::storage::StorageError) -> Self {
        ImportError::Api(e.to_string())
    }
}

/// A CSV file read into rows keyed by canonical column names.
pub(super) struct Table {
    pub(super) rows: Vec<(usize, HashMap<&'static str, String>)>,
}

/// How many lines may come before the header (titles, notes, blank lines).
const HEADER_SEARCH: usize = 10;

/// Reads `data` (CSV, or XLSX: a zip archive), mapping each header (any of its aliases) to a
/// canonical name; `required` columns must be present.
pub(super) fn read(data: &[u8], columns: &[(&'static str, &[&str])], required: &[&str]) -> Result<Table, ImportError> {
    let converted;
    let data = if data.starts_with(b"PK\x03\x04") {
        converted = xlsx_as_csv(data)?;
        &converted[..]
    } else {
        data
    };
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(data);
    let column_of = |h: &str| {
        let h = h.trim().to_lowercase();
        columns
            .iter()
            .find(|(name, aliases)| *name == h || aliases.iter().any(|a| a.to_lowercase() == h))
            .map(|(name, _)| *name)
    };
    // The header is the first line naming a required column: exports often open with a title line
    // ("2022年问题台账") or a blank one.
    let mut records = reader.records();
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for record in records.by_ref().take(HEADER_SEARCH) {
        let record = record.map_err(|e| ImportError::File(format!("无法读取表头：{e}")))?;
        if record.iter().any(|h| column_of(h).is_some_and(|c| required.contains(&c))) {
            index = record.iter().enumerate().filter_map(|(i, h)| Some((column_of(h)?, i))).collect();
            break;
        }
    }
    for r in required {
        if !index.contains_key(r) {
            let aliases = columns.iter().find(|(n, _)| n == r).map(|(_, a)| a.join("/")).unwrap_or_default();
            return Err(ImportError::File(format!("缺少列：{r}（{aliases}）")));
        }
    }
    // The file's own line of a record starting at a byte offset (the reader's line count leaves out
    // blank lines, and its offset is before the blank lines it skipped).
    let mut counted = (0usize, 1usize);
    let mut line_at = |byte: u64| {
        let mut byte = (byte as usize).min(data.len()).max(counted.0);
        while data.get(byte).is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            byte += 1;
        }
        counted = (byte, counted.1 + data[counted.0..byte].iter().filter(|b| **b == b'\n').count());
        counted.1
    };
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| line_at(p.byte()));
            ImportError::Row { line, message: format!("格式错误：{e}") }
        })?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        // A quoted value may span lines: a record's line is its first.
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        let map = index.iter().map(|(k, &i)| (*k, record.get(i).unwrap_or("").to_owned())).collect();
        rows.push((line, map));
    }
    Ok(Table { rows })
}

/// The first sheet of a workbook as CSV: text as written, whole numbers without a decimal point, and
/// date cells as `YYYY-MM-DD` (or `YYYY-MM-DD HH:MM:SS` when they hold a time of day), China time as
/// the workbook shows it. Cells are read one by one, not as a dense range (a workbook naming a cell
/// far away would make that range huge); columns past the [`MAX_COLUMNS`]th are ignored.
fn xlsx_as_csv(data: &[u8]) -> Result<Vec<u8>, ImportError> {
    use calamine::{DataRef, Reader};
    const MAX_COLUMNS: u32 = 64;
    let bad = |e: String| ImportError::File(format!("无法读取 XLSX 文件：{e}"));
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(data))
        .map_err(|e: calamine::XlsxError| bad(e.to_string()))?;
    // Serial dates count from 1904 in workbooks saved so (1,462 days later than 1900's epoch).
    let epoch_days = if book.has_1904_epoch() { 1_462.0 } else { 0.0 };
    let name = book.sheet_names().first().cloned().ok_or_else(|| bad("没有工作表".into()))?;
    let mut cells = book.worksheet_cells_reader(&name).map_err(|e| bad(e.to_string()))?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    while let Some(cell) = cells.next_cell().map_err(|e| bad(e.to_string()))? {
        let (r, c) = cell.get_position();
        if c >= MAX_COLUMNS {
            continue;
        }
        let text = match cell.get_value() {
            DataRef::Empty => continue,
            DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
            DataRef::SharedString(s) => (*s).to_owned(),
            DataRef::Int(i) => i.to_string(),
            DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            DataRef::Float(f) => f.to_string(),
            DataRef::Bool(b) => b.to_string(),
            DataRef::DateTime(d) => excel_time(d.as_f64() + epoch_days),
            DataRef::Error(e) => format!("#{e:?}"),
        };
        let (r, c) = (r as usize, c as usize);
        if rows.len() <= r {
            rows.resize(r + 1, Vec::new());
        }
        if rows[r].len() <= c {
            rows[r].resize(c + 1, String::new());
        }
        rows[r][c] = text;
    }
    let mut out = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
    for row in rows {
        out.write_record(if row.is_empty() { vec![String::new()] } else { row }).map_err(|e| bad(e.to_string()))?;
    }
    out.into_inner().map_err(|e| bad(e.to_string()))
}

/// An Excel serial date (days since 1899-12-30, the time of day as the fraction), as a ledger
/// writes it.
fn excel_time(serial: f64) -> String {
    let seconds = (serial * 86_400.0).round() as i64;
    let (days, second) = (seconds.div_euclid(86_400) - 25_569, seconds.rem_euclid(86_400));
    let (y, m, d) = zhuqi_core::domain::text::civil_from_days(days);
    if second == 0 {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", second / 3600, second / 60 % 60, second % 60)
    }
}

pub(super) fn get<'a>(row: &'a HashMap<&'static str, String>, k: &str) -> &'a str {
    row.get(k).map_or("", String::as_str)
}

pub(super) fn opt(row: &HashMap<&'static str, String>, k: &str) -> Option<String> {
    Some(get(row, k).to_owned()).filter(|s| !s.is_empty())
}

/// The entries of a cell listing several (`专精特新、小巨人`, `a; b`, `a，b`).
pub(super) fn list(cell: &str) -> Vec<String> {
    cell.split([';', '；', '、', ',', '，']).map(str::trim).filter(|s| !s.is_empty()).map(Into::into).collect()
}

pub(super) fn row_err(line: usize, message: impl Into<String>) -> ImportError {
    ImportError::Row { line, message: message.into() }
}

pub fn regions(state: &AppState, data: &[u8]) -> Result<usize, ImportError> {
    let t = read(
        data,
        &[
            ("id", &["代码", "编码"]),
            ("name", &["名称"]),
            ("level", &["级别", "层级"]),
            ("parent", &["上级", "上级代码"]),
        ],
        &["id", "name", "level"],
    )?;
    let mut regions = Vec::new();
    for (line, r) in &t.rows {
        let level = region_level(get(r, "level"))
            .ok_or_else(|| row_err(*line, format!("级别“{}”应为 省/市/县区/乡镇街道 之一", get(r, "level"))))?;
        if get(r, "id").is_empty() || get(r, "name").is_empty() {
            return Err(row_err(*line, "代码和名称不能为空"));
        }
        regions.push(Region {
            id: get(r, "id").into(),
            name: get(r, "name").into(),
            level,
            parent_id: opt(r, "parent"),
        });
    }
    let known: Vec<String> = state.directory.get(state.storage.as_ref())?.regions.keys().cloned().collect();
    for (i, r) in regions.iter().enumerate() {
        if let Some(p) = &r.parent_id
            && !known.contains(p)
            && !regions.iter().any(|x| &x.id == p)
        {
            return Err(row_err(t.rows[i].0, format!("上级地区 {p} 不存在")));
        }
    }
    state.storage.upsert_directory(&Directory { regions: regions.clone(), ..Default::default() }, &[])?;
    Ok(regions.len())
}

pub fn departments(state: &AppState, data: &[u8]) -> Result<usize, ImportError> {
    let t = read(
        data,
        &[("id", &["编号", "代码"]), ("name", &["名称", "单位名称"]), ("region", &["地区", "所属地区"])],
        &["id", "name", "region"],
    )?;
    let dir = state.directory.get(state.storage.as_ref())?;
    let mut out = Vec::new();
    for (line, r) in &t.rows {
        if !dir.regions.contains_key(get(r, "region")) {
            return Err(row_err(*line, format!("地区 {} 不存在", get(r, "region"))));
        }
        if get(r, "id").is_empty() || get(r, "name").is_empty() {
            return Err(row_err(*line, "编号和名称不能为空"));
        }
        out.push(Department {
            id: get(r, "id").into(),
            name: get(r, "name").into(),
            region_id: get(r, "region").into(),
        });
    }
    state.storage.upsert_directory(&Directory { departments: out.clone(), ..Default::default() }, &[])?;
    Ok(out.len())
}

/// The campaign offices' settings: per region, the days an enterprise has to answer a resolution
/// and whether deadlines count working days (是/否). Each applies to the region's subtree.
pub fn office_settings(state: &AppState, data: &[u8]) -> Result<usize, ImportError> {
    let t = read(
        data,
        &[
            ("region", &["地区", "区划代码", "代码"]),
            ("answer_days", &["确认期限", "企业确认期限", "确认期限天数"]),
            ("working_days", &["工作日", "按工作日计", "工作日计时"]),
        ],
        &["region", "answer_days"],
    )?;
    let dir = state.directory.get(state.storage.as_ref())?;
    let mut out: Vec<OfficeSettings> = Vec::new();
    for (line, r) in &t.rows {
        let region_id = get(r, "region");
        if !dir.regions.contains_key(region_id) {
            return Err(row_err(*line, format!("地区 {region_id} 不存在")));
        }
        if out.iter().any(|o| o.region_id == region_id) {
            return Err(row_err(*line, format!("地区 {region_id} 重复")));
        }
        let answer_days = get(r, "answer_days")
            .trim_end_matches('天')
            .parse()
            .map_err(|_| row_err(*line, format!("企业确认期限“{}”应为天数", get(r, "answer_days"))))?;
        let working_days = match get(r, "working_days") {
            "" | "否" | "no" | "false" | "0" => false,
            "是" | "yes" | "true" | "1" => true,
            other => return Err(row_err(*line, format!("按工作日计“{other}”应为 是 或 否"))),
        };
        let settings = OfficeSettings { region_id: region_id.to_owned(), answer_days, working_days }
            .validate()
            .map_err(|e| row_err(*line, e.user_message()))?;
        out.push(settings);
    }
    state.storage.upsert_directory(&Directory { settings: out.clone(), ..Default::default() }, &[])?;
    Ok(out.len())
}

/// The holiday calendar of a year (or several): each holiday (休) and each make-up working day on a
/// weekend (班, 调休上班), with its name. Days not listed follow the week; a day listed again is
/// updated, so a corrected notice is imported over the old one.
pub fn calendar(state: &AppState, data: &[u8]) -> Result<usize, ImportError> {
    let t = read(
        data,
        &[("date", &["日期"]), ("kind", &["类型", "休/班"]), ("name", &["名称", "节日", "说明"])],
        &["date", "kind"],
    )?;
    let mut out: Vec<CalendarDay> = Vec::new();
    for (line, r) in &t.rows {
        let working = match get(r, "kind") {
            "休" | "假" | "节假日" | "holiday" => false,
            "班" | "上班" | "调休上班" | "workday" => true,
            other => return Err(row_err(*line, format!("类型“{other}”应为 休 或 班"))),
        };
        // Dates as spreadsheets write them (2026-10-01, 2026/10/1), kept as YYYY-MM-DD.
        let written = get(r, "date");
        let at = super::history::parse_time(written, false)
            .filter(|_| written.trim().len() <= 10)
            .ok_or_else(|| row_err(*line, format!("日期“{written}”不是日期（如 2026-10-01）")))?;
        let date = zhuqi_core::domain::text::date_of(at);
        if working && Calendar::default().is_working(Calendar::day_of(at)) {
            return Err(row_err(*line, format!("{date} 本是工作日：“班”只用于周末调休上班")));
        }
        let day = CalendarDay { date, working, name: get(r, "name").to_owned() }
            .validate()
            .map_err(|e| row_err(*line, e.user_message()))?;
        if out.iter().any(|d| d.date == day.date) {
            return Err(row_err(*line, format!("日期 {} 重复", day.date)));
        }
        out.push(day);
    }
    state.storage.upsert_directory(&Directory { calendar: out.clone(), ..Default::default() }, &[])?;
    Ok(out.len())
}

fn parse_role(s: &str) -> Option<Role> {
    Role::parse(s).or(match s {
        "干部" | "助企干部" | "首席服务官" => Some(Role::Cadre),
        "活动办" | "管理员" => Some(Role::Manager),
        "责任单位" | "经办人" => Some(Role::DepartmentHandler),
        "企业" | "企业负责人" => Some(Role::EnterpriseContact),
        _ => None,
    })
}

pub fn users(state: &AppState, data: &[u8]) -> Result<usize, ImportError> {
    let t = read(
        data,
        &[
            ("login", &["登录名", "账号"]),
            ("name", &["姓名", "名称"]),
            ("role", &["角色"]),
            ("region", &["地区"]),
            ("department", &["部门", "责任单位"]),
            ("enterprise", &["企业", "统一社会信用代码"]),
            ("password", &["密码", "初始密码"]),
            ("mobile", &["手机", "手机号", "手机号码", "联系电话"]),
            ("position", &["职务", "职位"]),
            ("unit", &["工作单位", "单位", "所在单位"]),
        ],
        &["login", "name", "role"],
    )?;
    let storage = state.storage.as_ref();
    let dir = state.directory.get(storage)?;
    let mut accounts = Vec::new();
    let mut passwords: Vec<&str> = Vec::new();
    let mut logins = std::collections::HashSet::new();
    for (line, r) in &t.rows {
        let login = get(r, "login");
        if login.is_empty() || login.len() > 64 || !logins.insert(login.to_owned()) {
            return Err(row_err(*line, format!("登录名“{login}”为空、过长或重复")));
        }
        let role = parse_role(get(r, "role")).ok_or_else(|| row_err(*line, format!("角色“{}”无效", get(r, "role"))))?;
        let region = opt(r, "region");
        let department = opt(r, "department");
        let enterprise = match opt(r, "enterprise") {
            Some(e) => Some(resolve_enterprise(state, &e).ok_or_else(|| row_err(*line, format!("企业 {e} 不存在")))?),
            None => None,
        };
        let ok = match role {
            Role::Cadre | Role::Manager => region.as_ref().is_some_and(|x| dir.regions.contains_key(x)),
            Role::DepartmentHandler => department.as_ref().is_some_and(|x| dir.departments.contains_key(x)),
            Role::EnterpriseContact => enterprise.is_some(),
            Role::Unknown(_) => false,
        };
        if !ok {
            return Err(row_err(*line, "干部和活动办需要有效的地区，责任单位需要有效的部门，企业需要有效的企业"));
        }
        let password = get(r, "password");
        if !password.is_empty() && password.chars().count() < 8 {
            return Err(row_err(*line, "密码至少8位"));
        }
        let id = storage.account_by_login(login)?.map_or_else(|| uuid::Uuid::now_v7().to_string(), |a| a.user.id);
        let user = User {
            id,
            name: get(r, "name").into(),
            role,
            region_id: region,
            department_id: department,
            enterprise_id: enterprise,
            mobile: None,
            position: None,
            unit: None,
        }
        .with_details(get(r, "mobile"), get(r, "position"), get(r, "unit"))
        .map_err(|e| row_err(*line, e.user_message()))?;
        accounts.push(Account { user, login: login.into(), password_hash: None });
        passwords.push(password);
    }
    // Argon2 takes ~50 ms a password: hashed on every core at once, not one after another.
    let hashes = hash_all(&passwords);
    for (a, h) in accounts.iter_mut().zip(hashes) {
        a.password_hash = h;
    }
    storage.upsert_directory(&Directory::default(), &accounts).map_err(|e| ImportError::Api(e.to_string()))?;
    Ok(accounts.len())
}

/// The Argon2 hashes of `passwords` (none for an empty one), in order, computed on every core.
fn hash_all(passwords: &[&str]) -> Vec<Option<String>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = passwords.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let hashing: Vec<_> = passwords
            .chunks(chunk)
            .map(|c| {
                s.spawn(move || {
                    c.iter().map(|p| (!p.is_empty()).then(|| crate::auth::hash_password(p))).collect::<Vec<_>>()
                })
            })
            .collect();
        hashing.into_iter().flat_map(|h| h.join().expect("hashing a password does not panic")).collect()
    })
}

/// A region's level from the words real division tables use (民政部 codes and their names): the
/// tier (省级, 地级, 县级, 乡级) and the kinds of division at each.
fn region_level(word: &str) -> Option<RegionLevel> {
    Some(match word.trim() {
        "省" | "省级" | "自治区" | "直辖市" | "province" => RegionLevel::Province,
        "市" | "地级市" | "地级" | "自治州" | "地区" | "盟" | "city" => RegionLevel::City,
        "县" | "区" | "县区" | "县级" | "市辖区" | "县级市" | "自治县" | "旗" | "自治旗" | "林区" | "特区"
        | "county" => RegionLevel::County,
        "乡镇" | "乡级" | "街道" | "街道办事处" | "镇" | "乡" | "民族乡" | "苏木" | "township" => {
            RegionLevel::Township
        }
        _ => return None,
    })
}

/// An enterprise id from an id or a credit code.
pub(super) fn resolve_enterprise(state: &AppState, key: &str) -> Option<String> {
    if state.storage.enterprise_region(key).ok().flatten().is_some() {
        return Some(key.to_owned());
    }
    let code = uscc::validate(key).ok()?;
    state.storage.enterprise_by_uscc(&code).ok().flatten()
}

/// The campaign office account that imports act as: the built-in `system` manager of the province.
pub fn system_user(state: &AppState) -> Result<String, ImportError> {
    let storage = state.storage.as_ref();
    if let Some(a) = storage.account_by_login("system")? {
        return Ok(a.user.id);
    }
    let dir = state.directory.get(storage)?;
    let root =
        dir.regions.values().find(|r| r.parent_id.is_none()).ok_or_else(|| ImportError::File("请先导入地区".into()))?;
    let user = User {
        id: "system".into(),
        name: "系统导入".into(),
        role: Role::Manager,
        region_id: Some(root.id.clone()),
        department_id: None,
        enterprise_id: None,
        mobile: None,
        position: None,
        unit: None,
    };
    storage
        .upsert_directory(&Directory::default(), &[Account { user, login: "system".into(), password_hash: None }])?;
    Ok("system".into())
}

pub fn enterprises(state: &AppState, data: &[u8]) -> Result<usize, ImportError> {
    let t = read(
        data,
        &[
            ("name", &["名称", "企业名称"]),
            ("uscc", &["统一社会信用代码", "信用代码"]),
            ("region", &["地区", "所属地区"]),
            ("industry", &["行业"]),
            ("tags", &["标签", "企业标签"]),
            ("address", &["地址"]),
            ("contact", &["联系人"]),
            ("phone", &["电话", "联系电话"]),
            ("employees", &["从业人员", "从业人数", "员工人数", "职工人数"]),
            ("revenue", &["营业收入", "营业收入（万元）", "营业收入(万元)", "年营业收入"]),
            ("founded", &["成立日期", "成立时间"]),
        ],
        &["name", "uscc", "region"],
    )?;
    let system = system_user(state)?;
    let mut author = Author::new(state, &system)?;
    let mut seen = std::collections::HashSet::new();
    let now = crate::now_ms();
    for (line, r) in &t.rows {
        let tags = list(get(r, "tags"));
        let contacts = opt(r, "contact")
            .map(|name| vec![Contact { name, title: String::new(), phone: get(r, "phone").into() }])
            .unwrap_or_default();
        let profile = Profile {
            name: get(r, "name").into(),
            uscc: get(r, "uscc").into(),
            region_id: get(r, "region").into(),
            industry: get(r, "industry").into(),
            tags,
            address: get(r, "address").into(),
            location: None,
            contacts,
            scale: scale(*line, r)?,
        }
        .validate()
        .map_err(|e| row_err(*line, e.user_message()))?;
        if !state.directory.get(state.storage.as_ref())?.paths.contains_key(&profile.region_id) {
            return Err(row_err(*line, format!("地区 {} 不存在", profile.region_id)));
        }
        if !seen.insert(profile.uscc.clone()) || state.storage.enterprise_by_uscc(&profile.uscc)?.is_some() {
            return Err(row_err(*line, format!("统一社会信用代码 {} 重复", profile.uscc)));
        }
        let id = uuid::Uuid::now_v7().to_string();
        author.create(DocKind::Enterprise, &id, &[], EnterpriseAction::Registered { profile }, now)?;
    }
    let n = t.rows.len();
    author.submit_all()?;
    after_import(state);
    Ok(n)
}

/// An enterprise's scale from its row's `employees`, `revenue` (万元) and `founded` cells, any of
/// which may be empty.
fn scale(line: usize, r: &HashMap<&'static str, String>) -> Result<Scale, ImportError> {
    let number = |k: &str, what: &str| -> Result<Option<u64>, ImportError> {
        let Some(v) = opt(r, k) else { return Ok(None) };
        // Thousands separators; decimals (revenue in 万元, a spreadsheet's `120.0`) rounded.
        let digits = v.replace([',', '，'], "");
        match digits.parse::<f64>() {
            Ok(n) if (0.0..1e15).contains(&n) => Ok(Some(n.round() as u64)),
            _ => Err(row_err(line, format!("{what}应为非负数：{v}"))),
        }
    };
    let employees = number("employees", "从业人员")?
        .map(|e| u32::try_from(e).map_err(|_| row_err(line, format!("从业人员过多：{e}"))))
        .transpose()?;
    let founded = opt(r, "founded")
        .map(|v| day(&v).ok_or_else(|| row_err(line, format!("成立日期应为 YYYY-MM-DD：{v}"))))
        .transpose()?;
    Ok(Scale { employees, revenue: number("revenue", "营业收入")?, founded })
}

/// A day written `2020-03-01`, `2020/3/1`, `2020.3.1` or `2020年3月1日`, as `YYYY-MM-DD`.
fn day(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.trim().trim_end_matches('日').split(['-', '/', '.', '年', '月']).collect();
    let [y, m, d] = parts[..] else { return None };
    let (y, m, d): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// The scale of enterprises already registered (their figures change every year): each row sets
/// its enterprise's employees, revenue (万元) and founding day, as the office would; an empty cell
/// leaves that figure unknown.
pub fn scales(state: &AppState, data: &[u8]) -> Result<usize, ImportError> {
    let t = read(
        data,
        &[
            ("enterprise", &["企业", "统一社会信用代码", "信用代码"]),
            ("employees", &["从业人员", "从业人数", "员工人数", "职工人数"]),
            ("revenue", &["营业收入", "营业收入（万元）", "营业收入(万元)", "年营业收入"]),
            ("founded", &["成立日期", "成立时间"]),
        ],
        &["enterprise"],
    )?;
    let system = system_user(state)?;
    let mut author = Author::new(state, &system)?;
    let now = crate::now_ms();
    let mut seen = std::collections::HashSet::new();
    for (line, r) in &t.rows {
        let ent = resolve_enterprise(state, get(r, "enterprise"))
            .ok_or_else(|| row_err(*line, format!("企业 {} 不存在", get(r, "enterprise"))))?;
        if !seen.insert(ent.clone()) {
            return Err(row_err(*line, format!("企业 {} 重复", get(r, "enterprise"))));
        }
        let scale = scale(*line, r)?.validate().map_err(|e| row_err(*line, e.user_message()))?;
        author.append(&ent, EnterpriseAction::ScaleSet { scale }, now).map_err(|e| row_err(*line, e.message_zh))?;
    }
    let n = t.rows.len();
    author.submit_all()?;
    after_import(state);
    Ok(n)
}

pub fn assignments(state: &AppState, data: &[u8]) -> Result<usize, ImportError> {
    let t = read(
        data,
        &[
            ("enterprise", &["企业", "统一社会信用代码"]),
            ("cadre", &["干部", "干部登录名", "登录名"]),
            ("chief", &["首席", "首席服务官"]),
        ],
        &["enterprise", "cadre"],
    )?;
    let system = system_user(state)?;
    let mut author = Author::new(state, &system)?;
    let now = crate::now_ms();
    for (line, r) in &t.rows {
        let ent = resolve_enterprise(state, get(r, "enterprise"))
            .ok_or_else(|| row_err(*line, format!("企业 {} 不存在", get(r, "enterprise"))))?;
        let cadre = state
            .storage
            .account_by_login(get(r, "cadre"))?
            .filter(|a| a.user.role == Role::Cadre)
            .ok_or_else(|| row_err(*line, format!("干部 {} 不存在", get(r, "cadre"))))?;
        let chief = matches!(get(r, "chief"), "是" | "1" | "true" | "yes" | "Y" | "y");
        author
            .append(&ent, EnterpriseAction::CadreAssigned { cadre_id: cadre.user.id, chief }, now)
            .map_err(|e| row_err(*line, e.message_zh))?;
    }
    let n = t.rows.len();
    author.submit_all().map_err(|e| ImportError::Api(format!("{}（{}）", e.message_zh, e.message)))?;
    after_import(state);
    Ok(n)
}

/// Policies (惠企政策), issued by the campaign office of the row's region (发布地区). Regions and
/// departments by id or name, tags and size bands by code or Chinese name; 不可叠加 names other
/// policies by 文号 or title, of this file or already issued. A policy whose 文号 was issued before
/// is refused, as is one twice in the file.
pub fn policies(state: &AppState, data: &[u8]) -> Result<usize, ImportError> {
    let t = read(
        data,
        &[
            ("region", &["发布地区", "发文地区", "所属地区"]),
            ("title", &["政策名称", "标题", "名称"]),
            ("issuer", &["发文单位", "发布单位"]),
            ("doc_number", &["文号", "发文字号"]),
            ("summary", &["摘要", "政策摘要", "主要内容"]),
            ("text", &["原文", "原文链接", "链接"]),
            ("valid_from", &["生效日期", "起始日期", "开始日期"]),
            ("valid_until", &["截止日期", "失效日期", "结束日期"]),
            ("department", &["联系部门", "受理部门"]),
            ("regions", &["适用地区"]),
            ("industries", &["适用行业", "行业"]),
            ("tags", &["企业标签", "标签"]),
            ("sizes", &["企业规模", "规模"]),
            ("min_age", &["成立满年数", "成立年限下限"]),
            ("under_age", &["成立不满年数", "成立年限上限"]),
            ("excludes", &["不可叠加", "不可叠加政策"]),
        ],
        &["region", "title", "issuer", "summary", "valid_from", "valid_until"],
    )?;
    let storage = state.storage.as_ref();
    let dir = state.directory.get(storage)?;
    let region_id = |line: usize, key: &str| -> Result<String, ImportError> {
        if dir.regions.contains_key(key) {
            return Ok(key.to_owned());
        }
        let mut named = dir.regions.values().filter(|r| r.name == key);
        match (named.next(), named.next()) {
            (Some(r), None) => Ok(r.id.clone()),
            (Some(_), Some(_)) => Err(row_err(line, format!("地区 {key} 重名，请写地区代码"))),
            _ => Err(row_err(line, format!("地区 {key} 不存在"))),
        }
    };
    let years = |line: usize, r: &HashMap<&'static str, String>, k: &str| -> Result<Option<u32>, ImportError> {
        opt(r, k)
            .map(|v| {
                v.strip_suffix(".0").unwrap_or(&v).parse().map_err(|_| row_err(line, format!("年数应为整数：{v}")))
            })
            .transpose()
    };
    // A policy is the same as another by its 文号, or by its region and title when it has none. 不可
    // 叠加 names policies by 文号 or title: `names` maps each to the policy, `None` where two bear it.
    let same = |region: &str, title: &str, doc_number: &str| {
        if doc_number.is_empty() { format!("{region} {title}") } else { doc_number.to_owned() }
    };
    let stored = storage.policy_rows()?;
    let issued: std::collections::HashSet<String> =
        stored.iter().map(|p| same(&p.region_id, &p.title, &p.doc_number)).collect();
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    let mut name = |key: &str, id: &str| {
        if key.is_empty() {
            return;
        }
        let entry = names.entry(key.to_owned()).or_insert_with(|| Some(id.to_owned()));
        if entry.as_deref() != Some(id) {
            *entry = None;
        }
    };
    for p in &stored {
        name(&p.title, &p.id);
        name(&p.doc_number, &p.id);
    }
    let mut rows = Vec::new();
    let mut in_file = std::collections::HashSet::new();
    for (line, r) in &t.rows {
        let line = *line;
        let id = uuid::Uuid::now_v7().to_string();
        let region = region_id(line, get(r, "region"))?;
        let (title, doc_number) = (get(r, "title").to_owned(), get(r, "doc_number").to_owned());
        let key = same(&region, &title, &doc_number);
        let shown = if doc_number.is_empty() { format!("《{title}》") } else { format!("文号 {doc_number} ") };
        if issued.contains(&key) {
            return Err(row_err(line, format!("{shown}的政策已发布")));
        }
        if !in_file.insert(key) {
            return Err(row_err(line, format!("{shown}重复")));
        }
        name(&title, &id);
        name(&doc_number, &id);
        let tags = list(get(r, "tags"))
            .into_iter()
            .map(|t| {
                KNOWN_TAGS
                    .iter()
                    .find(|(code, zh)| *code == t || *zh == t || zh.trim_end_matches("企业") == t)
                    .map(|(code, _)| code.to_string())
                    .ok_or_else(|| row_err(line, format!("企业标签 {t} 不认识")))
            })
            .collect::<Result<_, _>>()?;
        let sizes = list(get(r, "sizes"))
            .into_iter()
            .map(|s| {
                SizeBand::parse(&s)
                    .map(|b| b.as_str().to_owned())
                    .ok_or_else(|| row_err(line, format!("企业规模 {s} 不认识")))
            })
            .collect::<Result<_, _>>()?;
        let contact_department = opt(r, "department")
            .map(|d| {
                if dir.departments.contains_key(&d) {
                    return Ok(d);
                }
                let mut named = dir.departments.values().filter(|x| x.name == d);
                match (named.next(), named.next()) {
                    (Some(x), None) => Ok(x.id.clone()),
                    (Some(_), Some(_)) => Err(row_err(line, format!("部门 {d} 重名，请写部门编号"))),
                    _ => Err(row_err(line, format!("部门 {d} 不存在"))),
                }
            })
            .transpose()?;
        let policy = PolicyText {
            title: get(r, "title").into(),
            issuer: get(r, "issuer").into(),
            doc_number,
            summary: get(r, "summary").into(),
            text: get(r, "text").into(),
            valid_from: day(get(r, "valid_from")).unwrap_or_else(|| get(r, "valid_from").into()),
            valid_until: day(get(r, "valid_until")).unwrap_or_else(|| get(r, "valid_until").into()),
            contact_department,
            criteria: Criteria {
                regions: list(get(r, "regions")).iter().map(|x| region_id(line, x)).collect::<Result<_, _>>()?,
                industries: list(get(r, "industries")),
                tags,
                sizes,
                min_age_years: years(line, r, "min_age")?,
                under_age_years: years(line, r, "under_age")?,
            },
            excludes: list(get(r, "excludes")),
        };
        rows.push((line, id, region, policy));
    }
    let system = system_user(state)?;
    let mut author = Author::new(state, &system)?;
    let now = crate::now_ms();
    let n = rows.len();
    for (line, id, region, mut policy) in rows {
        policy.excludes = std::mem::take(&mut policy.excludes)
            .into_iter()
            .map(|x| match names.get(&x) {
                Some(Some(other)) if *other == id => Err(row_err(line, format!("不可叠加的政策 {x} 是本政策"))),
                Some(Some(other)) => Ok(other.clone()),
                Some(None) => Err(row_err(line, format!("不可叠加的政策 {x} 有重名，请写文号"))),
                None => Err(row_err(line, format!("不可叠加的政策 {x} 不存在"))),
            })
            .collect::<Result<_, _>>()?;
        let action = PolicyAction::Issued { region_id: region.clone(), policy }
            .validate()
            .map_err(|e| row_err(line, e.user_message()))?;
        author
            .create(DocKind::Policy, &id, &[("region_id", &region)], action, now)
            .map_err(|e| row_err(line, e.message_zh))?;
    }
    author.submit_all()?;
    after_import(state);
    Ok(n)
}

/// Refreshes the statistics the database plans its queries with; an import that could not refresh
/// them still stands.
pub(super) fn after_import(state: &AppState) {
    if let Err(e) = state.storage.after_bulk_load() {
        tracing::warn!("after the import: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_dates_read_as_ledgers_write_them() {
        // 44621 is 2022-03-01 in Excel's serial days; .375 is 09:00.
        assert_eq!(excel_time(44_621.0), "2022-03-01");
        assert_eq!(excel_time(44_621.375), "2022-03-01 09:00:00");
        assert_eq!(excel_time(44_621.999_999_9), "2022-03-02");
    }

    #[test]
    fn a_workbook_reads_as_the_same_table_as_its_csv() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm");
        sheet.write_string(0, 0, "编号").unwrap();
        sheet.write_string(0, 1, "层级").unwrap();
        sheet.write_string(0, 2, "上报时间").unwrap();
        sheet.write_string(1, 0, "豫-001").unwrap();
        sheet.write_number(1, 1, 2.0).unwrap();
        let at = rust_xlsxwriter::ExcelDateTime::parse_from_str("2022-03-01 09:30:00").unwrap();
        sheet.write_datetime_with_format(1, 2, &at, &date).unwrap();
        // A cell as far away as a sheet allows: read cell by cell, not as a dense range.
        sheet.write_string(1_048_575, 16_383, "far").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let columns: &[(&'static str, &[&str])] = &[("number", &["编号"]), ("level", &["层级"]), ("at", &["上报时间"])];
        let t = read(&bytes, columns, &["number"]).unwrap();
        assert_eq!(t.rows.len(), 1);
        let (line, row) = &t.rows[0];
        assert_eq!(*line, 2);
        assert_eq!((get(row, "number"), get(row, "level"), get(row, "at")), ("豫-001", "2", "2022-03-01 09:30:00"));
        // A title line before the header, as exports have: lines keep their numbers.
        let csv = "2022年问题台账,,\n编号,层级,上报时间\n豫-002,3,2022-03-02\n\n豫-003,1,2022-03-03\n";
        let t = read(csv.as_bytes(), columns, &["number"]).unwrap();
        let lines: Vec<(usize, &str)> = t.rows.iter().map(|(l, r)| (*l, get(r, "number"))).collect();
        assert_eq!(lines, [(3, "豫-002"), (5, "豫-003")]);
        // Not a workbook after all: a clear error, no panic.
        let err = read(b"PK\x03\x04 not a zip", columns, &["number"]).err().unwrap().to_string();
        assert!(err.contains("XLSX"), "{err}");
    }

    #[test]
    fn region_levels_read_as_division_tables_name_them() {
        for (word, level) in [
            ("省", RegionLevel::Province),
            ("自治区", RegionLevel::Province),
            ("地级市", RegionLevel::City),
            ("自治州", RegionLevel::City),
            ("市辖区", RegionLevel::County),
            ("县级市", RegionLevel::County),
            ("自治县", RegionLevel::County),
            ("街道", RegionLevel::Township),
            ("镇", RegionLevel::Township),
            (" 乡 ", RegionLevel::Township),
        ] {
            assert_eq!(region_level(word), Some(level), "{word}");
        }
        assert_eq!(region_level("村"), None, "villages are not regions of the campaign");
    }
}
