//! Problem ledgers as a previous platform exports them (问题台账, one row a problem), generated for
//! the history import's test and benchmark: every stage from reported to closed, some resolved late,
//! some outside the year, ratings as digits and as words, enterprises by id and by credit code.

use crate::{DAY, ENT_A, FINANCE, HR};
use zhuqi_core::domain::uscc;

pub const HOUR: i64 = 3_600_000;
/// 2022-01-01 00:00 China Standard Time.
pub const YEAR_START: i64 = 1_640_966_400_000;
pub const YEAR_END: i64 = 1_672_502_400_000;

/// One generated row, with the times the file writes (to the minute; a deadline as a day):
/// reported, then accepted, routed with a deadline, resolved, confirmed with a rating, closed — each
/// step only if the one before it is there.
pub struct Row {
    pub number: String,
    pub enterprise: String,
    pub reported_at: i64,
    pub accepted_at: Option<i64>,
    /// When it was routed, and its deadline.
    pub routed: Option<(i64, i64)>,
    pub resolved_at: Option<i64>,
    pub confirmed: Option<(i64, u8)>,
    pub closed_at: Option<i64>,
}

/// A tiny deterministic generator (the rows must be the same on every run).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn minute(t: i64) -> i64 {
    t - t.rem_euclid(60_000)
}

fn cst(t: i64) -> String {
    let local = t + 8 * HOUR;
    let (y, m, d) = zhuqi_core::domain::text::civil_from_days(local.div_euclid(DAY));
    let s = local.rem_euclid(DAY) / 1000;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", s / 3600, s / 60 % 60)
}

fn date(t: i64) -> String {
    cst(t)[..10].to_owned()
}

/// The last moment of the day (CST) of `t`, as a deadline given as a day is read.
fn end_of_day(t: i64) -> i64 {
    let local = t + 8 * HOUR;
    local.div_euclid(DAY) * DAY + DAY - 1000 - 8 * HOUR
}

pub fn generate(n: usize, seed: u64) -> Vec<Row> {
    let mut g = Lcg(seed);
    let ent_b = uscc::complete("91410103MA55AB3C7").unwrap();
    (0..n)
        .map(|i| {
            // From mid-December 2021 (some rows fall outside the year) to the end of 2022.
            let reported_at =
                minute(YEAR_START - 15 * DAY + g.below(380) as i64 * DAY + g.below(10 * 60) as i64 * 60_000);
            let stage = g.below(6);
            let accepted_at = (stage >= 1).then(|| minute(reported_at + HOUR + g.below(48) as i64 * HOUR));
            let routed = accepted_at.filter(|_| stage >= 2).map(|a| {
                let at = minute(a + g.below(24) as i64 * HOUR);
                (at, end_of_day(at + (5 + g.below(25) as i64) * DAY))
            });
            let resolved_at = routed.filter(|_| stage >= 3).map(|(at, _)| minute(at + (1 + g.below(40) as i64) * DAY));
            let confirmed = resolved_at
                .filter(|_| stage >= 4)
                .map(|r| (minute(r + (1 + g.below(5) as i64) * DAY), 1 + g.below(5) as u8));
            let closed_at = confirmed.filter(|_| stage >= 5).map(|(c, _)| c + DAY);
            Row {
                number: format!("豫企诉〔2022〕{i:05}号"),
                enterprise: if i % 3 == 0 { ent_b.clone() } else { ENT_A.to_owned() },
                reported_at,
                accepted_at,
                routed,
                resolved_at,
                confirmed,
                closed_at,
            }
        })
        .collect()
}

/// The ledger's header and rows, as text.
pub fn cells(rows: &[Row]) -> Vec<Vec<String>> {
    let header = "编号,企业,问题类别,标题,问题描述,上报人,上报时间,受理时间,办理层级,责任单位,交办时间,办理时限,办理人,办结时间,办理结果,确认时间,满意度,评价意见,关闭时间";
    let mut out = vec![header.split(',').map(String::from).collect::<Vec<_>>()];
    let t = |v: Option<i64>| v.map(cst).unwrap_or_default();
    for (i, r) in rows.iter().enumerate() {
        let rating = r.confirmed.map(|(_, rating)| match (rating, i % 2) {
            (5, 0) => "满意".to_owned(),
            (3, 0) => "基本满意".to_owned(),
            (1, 0) => "不满意".to_owned(),
            (n, _) => n.to_string(),
        });
        let category = ["融资", "用地", "labour", "审批问题"][i % 4];
        out.push(vec![
            r.number.clone(),
            r.enterprise.clone(),
            category.into(),
            format!("历史问题{i}"),
            "企业反映的问题，原平台记录".into(),
            format!("干部{}", i % 7),
            cst(r.reported_at),
            t(r.accepted_at),
            r.routed.map(|_| (1 + i % 3).to_string()).unwrap_or_default(),
            r.routed.map(|_| if i % 2 == 0 { FINANCE } else { HR }.to_owned()).unwrap_or_default(),
            t(r.routed.map(|(at, _)| at)),
            r.routed.map(|(_, d)| date(d)).unwrap_or_default(),
            r.resolved_at.map(|_| "王科长".to_owned()).unwrap_or_default(),
            t(r.resolved_at),
            r.resolved_at.map(|_| "已协调解决".to_owned()).unwrap_or_default(),
            t(r.confirmed.map(|(c, _)| c)),
            rating.unwrap_or_default(),
            String::new(),
            t(r.closed_at),
        ]);
    }
    out
}

/// The ledger as a CSV file (UTF-8 with a BOM, as spreadsheet programs save it).
pub fn csv(rows: &[Row]) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    for line in cells(rows) {
        out += &line.join(",");
        out.push('\n');
    }
    out.into_bytes()
}

/// The ledger as a workbook: times as date cells (a deadline as a day), the level as a number.
pub fn xlsx(rows: &[Row]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let minutes = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let day = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for (r, line) in cells(rows).iter().enumerate() {
        for (c, v) in line.iter().enumerate() {
            let (r, c16) = (r as u32, c as u16);
            if r == 0 || v.is_empty() {
                sheet.write_string(r, c16, v).unwrap();
            } else if c == 8 {
                sheet.write_number(r, c16, v.parse::<f64>().unwrap()).unwrap();
            } else if c == 11 {
                let d = rust_xlsxwriter::ExcelDateTime::parse_from_str(v).unwrap();
                sheet.write_datetime_with_format(r, c16, &d, &day).unwrap();
            } else if [6, 7, 10, 13, 15, 18].contains(&c) {
                let d = rust_xlsxwriter::ExcelDateTime::parse_from_str(&format!("{v}:00")).unwrap();
                sheet.write_datetime_with_format(r, c16, &d, &minutes).unwrap();
            } else {
                sheet.write_string(r, c16, v).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

/// A visit log (走访台账) of `n` visits as a previous platform exports it: to both enterprises (by id
/// and by credit code), by three cadres, from mid-December 2021 through 2022, some with a time of
/// day. Returns the file and, per row, (cadre login, day of the visit in ms).
pub fn visit_log(n: usize) -> (Vec<u8>, Vec<(&'static str, i64)>) {
    let ent_b = uscc::complete("91410103MA55AB3C7").unwrap();
    let mut out = String::from("\u{feff}编号,企业,干部,走访日期,见到的人,走访情况,惠企政策\n");
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let cadre = ["cadre", "cadre-b", "cadre-c"][i % 3];
        let day = YEAR_START - 15 * DAY + (i as i64 * 380 / n as i64) * DAY;
        let date = if i % 4 == 0 { format!("{} 09:30", &cst(day)[..10]) } else { cst(day)[..10].to_owned() };
        let enterprise = if i % 2 == 0 { ENT_A.to_owned() } else { ent_b.clone() };
        out += &format!(
            "走访〔2022〕{i:05}号,{enterprise},{cadre},{date},刘总；王经理,了解生产经营情况，宣讲惠企政策,稳岗返还、研发费用加计扣除\n"
        );
        rows.push((cadre, day));
    }
    (out.into_bytes(), rows)
}
