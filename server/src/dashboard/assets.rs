//! The pages' stylesheet and table-sorting script, served as files under `/static/` so that the
//! Content-Security-Policy can forbid inline styles and scripts.

use crate::http::error::ApiError;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

const CSS: &str = "body{font-family:system-ui,'PingFang SC','Microsoft YaHei',sans-serif;margin:0;color:#222;background:#f6f7f9}\
header{background:#b71c1c;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;align-items:center;gap:1rem}\
header h1{font-size:1.15rem;margin:0;flex:1}nav{display:flex;gap:1rem;align-items:center}nav a{color:#fff}\
nav form{display:inline}nav button{background:none;border:1px solid #fff;color:#fff;border-radius:4px;cursor:pointer}\
main{padding:1rem;max-width:1200px;margin:auto}.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:.75rem}\
.card{background:#fff;border-radius:8px;padding:.75rem;box-shadow:0 1px 2px #0002}.card b{display:block;font-size:1.5rem}\
table{border-collapse:collapse;width:100%;background:#fff;margin:1rem 0}th,td{padding:.4rem .5rem;border-bottom:1px solid #eee;text-align:right}\
th:first-child,td:first-child{text-align:left}#timeline td,#timeline th,#visits td,#visits th{text-align:left}th{cursor:pointer;background:#fafafa}.muted{color:#777;font-size:.85rem}\
form.period{display:flex;gap:.5rem;flex-wrap:wrap;align-items:end}.login{max-width:360px;margin:3rem auto;background:#fff;padding:1.5rem;border-radius:8px}\
.login input{width:100%;padding:.5rem;margin:.25rem 0 .75rem;box-sizing:border-box}.error{color:#b71c1c}button.primary{background:#b71c1c;color:#fff;border:0;padding:.5rem 1rem;border-radius:4px}\
.chart-box{margin:.5rem 0 1.25rem}.chart-scroll{overflow-x:auto}\
svg.chart{display:block;width:100%;max-width:720px;height:auto;background:#fff}svg.chart.bars,svg.chart.category-bars{min-width:540px}\
svg.chart .grid{stroke:#e6e6e6;stroke-width:1}svg.chart .axis{fill:#666}svg.chart .legend,svg.chart .lbl,svg.chart .val{fill:#333}\
svg.chart .live{fill:#e65100}svg.chart a .lbl{fill:#1565c0;text-decoration:underline}svg.chart a:hover rect,svg.chart a:focus rect{opacity:.75}\
svg.chart g.bar:hover rect,svg.chart g.column:hover rect,svg.chart g.week:hover rect,svg.chart g.pair:hover rect{opacity:.8}\
fieldset.picks{margin-bottom:.75rem}fieldset.picks p{margin:.4rem 0;line-height:1.8}label.pick{display:inline-block;margin-right:1rem;white-space:nowrap}\
details.chart-data{margin:.25rem 0;max-width:720px}details.chart-data summary{cursor:pointer;color:#555;font-size:.85rem}details.chart-data table{margin:.25rem 0}\
img.thumb{max-width:96px;max-height:96px;margin-right:4px;vertical-align:middle}.missing{color:#b71c1c}.flag{color:#e65100;background:#fff3e0;border-radius:3px;padding:0 4px;margin-right:4px;font-size:90%}";

/// Sorts a table by the clicked column (numbers numerically).
const JS: &str = "document.querySelectorAll('table.sortable th').forEach((th,i)=>th.addEventListener('click',()=>{\
const tb=th.closest('table').tBodies[0];const rows=[...tb.rows];const asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';\
const v=r=>{const t=r.cells[i].dataset.v??r.cells[i].textContent;const n=parseFloat(t);return isNaN(n)?t:n};\
rows.sort((a,b)=>{const x=v(a),y=v(b);return (x>y?1:x<y?-1:0)*(asc?1:-1)});rows.forEach(r=>tb.appendChild(r))}));";

/// `GET /static/{app.css,app.js}`: the pages' stylesheet and script.
pub async fn static_file(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return ApiError::not_found("no such file").into_response(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}
