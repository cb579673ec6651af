//! `GET /export/{ranking,problems,policies}.{csv,xlsx}`: the ranking, the filtered problem list and
//! the policies' reach as files, with the query of the page they are exported from.

use super::pages::problems::ProblemFilters;
use super::policies::{policy_table, reach, region_table, today, unmatched_table};
use super::problems::selection;
use super::reports::{csv_bytes, csv_rows, problems_table, ranking_table, write_rows, xlsx_bytes};
use super::session::managed;
use super::units::Scope;
use super::{TermQuery, rankings_for, term_of};
use crate::storage::ProblemRow;
use crate::storage::figures::{self, ProblemSelection};
use futures_util::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use crate::http::error::ApiError;
use crate::{AppState, now_ms};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

const CSV: &str = "text/csv; charset=utf-8";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn download(bytes: Vec<u8>, content_type: &'static str, filename: &str) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response()
}

/// `GET /export/{ranking,problems,policies}.{csv,xlsx}` with the page's own query.
pub async fn export(state: State<Arc<AppState>>, headers: HeaderMap, path: Path<String>, uri: Uri) -> Response {
    if path.0.starts_with("policies.") {
        policies_export(state, headers, path).await
    } else if path.0.starts_with("ranking.") {
        match Query::<TermQuery>::try_from_uri(&uri) {
            Ok(q) => ranking_export(state, headers, path, q).await,
            Err(e) => ApiError::bad_request(e.to_string()).into_response(),
        }
    } else {
        match Query::<ProblemFilters>::try_from_uri(&uri) {
            Ok(q) => problems_export(state, headers, path, q).await,
            Err(e) => ApiError::bad_request(e.to_string()).into_response(),
        }
    }
}

async fn ranking_export(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(format): Path<String>,
    Query(q): Query<TermQuery>,
) -> Response {
    managed(state, headers, move |st, session, _| {
        let r = rankings_for(st, session, term_of(&q, now_ms()))?;
        let name = r.term.name();
        let (c, d) = (ranking_table(&r.counties), ranking_table(&r.departments));
        match format.as_str() {
            "ranking.csv" => {
                // One file: the county table, an empty line, the department table.
                let mut bytes = csv_bytes(&c);
                bytes.extend_from_slice(b"\n");
                bytes.extend_from_slice(&csv_bytes(&d)[3..]);
                Ok(download(bytes, CSV, &format!("ranking-{name}.csv")))
            }
            "ranking.xlsx" => {
                let bytes =
                    xlsx_bytes(&[("县区", &c), ("责任单位", &d)]).map_err(|e| ApiError::internal(e.to_string()))?;
                Ok(download(bytes, XLSX, &format!("ranking-{name}.xlsx")))
            }
            _ => Err(ApiError::not_found("no such export")),
        }
    })
    .await
}

/// Rows read per query while exporting the problem list.
const EXPORT_PAGE: u32 = 1_000;

/// Hands the problems of `selection` to `f` a page at a time, in the list's order, until `f` says
/// stop (false) or none are left. Each page is read in its own snapshot, after the last row of the
/// page before: a problem is written once even when others are reported meanwhile.
fn each_page(
    st: &AppState,
    mut selection: ProblemSelection,
    mut f: impl FnMut(&[ProblemRow]) -> Result<bool, ApiError>,
) -> Result<(), ApiError> {
    loop {
        let mut rows = Vec::new();
        st.storage.with_snapshot(&mut |db| {
            rows = figures::problem_page(db, &selection, EXPORT_PAGE)?;
            Ok(())
        })?;
        let Some(last) = rows.last() else { return Ok(()) };
        selection.after = Some((last.reported_at, last.id.clone()));
        if !f(&rows)? || rows.len() < EXPORT_PAGE as usize {
            return Ok(());
        }
    }
}

async fn problems_export(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(format): Path<String>,
    Query(q): Query<ProblemFilters>,
) -> Response {
    let shared = state.clone();
    managed(state, headers, move |st, session, _| {
        let dir = st.directory.get(st.storage.as_ref())?;
        let now = now_ms();
        let selection = selection(&Scope::of(&dir, session), &q, now);
        match format.as_str() {
            "problems.csv" => {
                // Written while it is sent, a page at a time: memory stays flat however long the list.
                let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
                let header = csv_bytes(&problems_table(&[], &dir, now));
                drop(dir);
                tokio::task::spawn_blocking(move || {
                    let st = shared.as_ref();
                    let sent = each_page(st, selection, |rows| {
                        let dir = st.directory.get(st.storage.as_ref())?;
                        Ok(tx.blocking_send(Ok(csv_rows(&problems_table(rows, &dir, now)))).is_ok())
                    });
                    if let Err(e) = sent {
                        tracing::warn!("problem export cut short: {}", e.message);
                        let _ = tx.blocking_send(Err(std::io::Error::other(e.message)));
                    }
                });
                let first = futures_util::stream::once(async move { Ok::<_, std::io::Error>(header) });
                let body = axum::body::Body::from_stream(first.chain(ReceiverStream::new(rx)));
                let disposition = "attachment; filename=\"problems.csv\"";
                Ok(([(header::CONTENT_TYPE, CSV), (header::CONTENT_DISPOSITION, disposition)], body).into_response())
            }
            "problems.xlsx" => {
                // Rows go to a temporary file as they are written (constant memory); the workbook is
                // assembled at the end.
                let xlsx = |e: rust_xlsxwriter::XlsxError| ApiError::internal(e.to_string());
                let mut book = rust_xlsxwriter::Workbook::new();
                let sheet = book.add_worksheet_with_constant_memory().map_err(xlsx)?;
                sheet.set_name("问题").map_err(xlsx)?;
                let mut next_row = write_rows(sheet, 0, &problems_table(&[], &dir, now), true).map_err(xlsx)?;
                each_page(st, selection, |rows| {
                    let table = problems_table(rows, &dir, now);
                    next_row = write_rows(sheet, next_row, &table, false).map_err(xlsx)?;
                    Ok(true)
                })?;
                Ok(download(book.save_to_buffer().map_err(xlsx)?, XLSX, "problems.xlsx"))
            }
            _ => Err(ApiError::not_found("no such export")),
        }
    })
    .await
}

/// The policies' table as CSV; as Excel, with the regions' and the unmatched enterprises' (all of
/// those listed) on sheets of their own.
async fn policies_export(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(format): Path<String>,
) -> Response {
    managed(state, headers, move |st, session, _| {
        let r = reach(st, session, today(), usize::MAX)?;
        match format.as_str() {
            "policies.csv" => Ok(download(csv_bytes(&policy_table(&r)), CSV, "policies.csv")),
            "policies.xlsx" => {
                let sheets = [
                    ("政策", &policy_table(&r)),
                    ("地区", &region_table(&r)),
                    ("无匹配政策企业", &unmatched_table(&r)),
                ];
                let bytes = xlsx_bytes(&sheets).map_err(|e| ApiError::internal(e.to_string()))?;
                Ok(download(bytes, XLSX, "policies.xlsx"))
            }
            _ => Err(ApiError::not_found("no such export")),
        }
    })
    .await
}
