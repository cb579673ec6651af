//! `GET /export/{ranking,problems,policies}.{csv,xlsx}`: the ranking, the filtered problem list and
//! the policies' reach as files, with the query of the page they are exported from.

use super::pages::problems::ProblemFilters;
use super::policies::{policy_table, reach, region_table, today, unmatched_table};
use super::problems::filtered_problems;
use super::reports::{csv_bytes, problems_table, ranking_table, xlsx_bytes};
use super::session::managed;
use super::{MonthQuery, month_of, rankings_for};
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
        match Query::<MonthQuery>::try_from_uri(&uri) {
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
    Query(q): Query<MonthQuery>,
) -> Response {
    managed(state, headers, move |st, session, _| {
        let (month, m, p) = month_of(&q, now_ms());
        let (counties, departments) = rankings_for(st, session, m, p)?;
        let (c, d) = (ranking_table(&counties), ranking_table(&departments));
        match format.as_str() {
            "ranking.csv" => {
                // One file: the county table, an empty line, the department table.
                let mut bytes = csv_bytes(&c);
                bytes.extend_from_slice(b"\n");
                bytes.extend_from_slice(&csv_bytes(&d)[3..]);
                Ok(download(bytes, CSV, &format!("ranking-{month}.csv")))
            }
            "ranking.xlsx" => {
                let bytes =
                    xlsx_bytes(&[("县区", &c), ("责任单位", &d)]).map_err(|e| ApiError::internal(e.to_string()))?;
                Ok(download(bytes, XLSX, &format!("ranking-{month}.xlsx")))
            }
            _ => Err(ApiError::not_found("no such export")),
        }
    })
    .await
}

async fn problems_export(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(format): Path<String>,
    Query(q): Query<ProblemFilters>,
) -> Response {
    managed(state, headers, move |st, session, _| {
        let rows = filtered_problems(st, session, &q)?;
        let dir = st.directory.get(st.storage.as_ref())?;
        let table = problems_table(&rows, &dir, now_ms());
        match format.as_str() {
            "problems.csv" => Ok(download(csv_bytes(&table), CSV, "problems.csv")),
            "problems.xlsx" => {
                let bytes = xlsx_bytes(&[("问题", &table)]).map_err(|e| ApiError::internal(e.to_string()))?;
                Ok(download(bytes, XLSX, "problems.xlsx"))
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
