//! The enterprise pages' stylesheet, a file of its own (the Content-Security-Policy forbids inline
//! styles): small screens first, large tap targets, about 2 KB, cached a day.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// What the pages look like. Class names are the pages' (`pages`); the browser tests find things by
/// them too.
pub const CSS: &str = "*{box-sizing:border-box}\
body{margin:0;font:16px/1.5 system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;color:#222;background:#f5f6f8}\
header{background:#b71c1c;color:#fff;padding:.6rem .9rem;display:flex;align-items:center;gap:.5rem;flex-wrap:wrap}\
header b{flex:1;font-size:1rem}header span{font-size:.85rem}header form{margin:0}\
header button{background:none;border:1px solid #fff;color:#fff;border-radius:4px;padding:.25rem .7rem;font:inherit;font-size:.9rem}\
main{padding:.8rem;max-width:640px;margin:auto}h1{font-size:1.25rem;margin:.3rem 0 .8rem}h2{font-size:1.05rem;margin:1.3rem 0 .4rem}\
a{color:#1565c0}.card{display:block;background:#fff;border-radius:8px;padding:.7rem .8rem;margin:.5rem 0;color:inherit;\
text-decoration:none;box-shadow:0 1px 2px #0002}.card b{display:block;font-size:1.02rem}.meta{color:#666;font-size:.85rem}\
.badge{display:inline-block;border-radius:3px;padding:0 .35rem;font-size:.8rem;background:#eceff1;margin-right:.3rem}\
.badge.wait{background:#fff3e0;color:#e65100}.late{color:#b71c1c}\
.btn{display:block;width:100%;text-align:center;background:#b71c1c;color:#fff;border:0;border-radius:6px;padding:.75rem;\
font:inherit;margin:.7rem 0;text-decoration:none}.btn.plain{background:#fff;color:#b71c1c;border:1px solid #b71c1c}\
label{display:block;margin:.7rem 0 .2rem}input[type=text],textarea,select{width:100%;font:inherit;padding:.55rem;\
border:1px solid #bbb;border-radius:6px;background:#fff}textarea{min-height:6rem}\
fieldset{border:0;padding:0;margin:.7rem 0}legend{padding:0}.stars{display:flex;gap:.3rem;margin-top:.3rem}\
.stars label{flex:1;margin:0;text-align:center;background:#fff;border:1px solid #bbb;border-radius:6px;padding:.55rem 0}\
.stars label:has(input:checked){background:#fff3e0;border-color:#e65100}.stars input{margin:0 .15rem 0 0}\
ol.timeline{list-style:none;padding:0;margin:0}ol.timeline li{background:#fff;border-left:3px solid #b71c1c;\
padding:.5rem .7rem;margin:.4rem 0;border-radius:0 6px 6px 0}ol.timeline li.conflict{border-left-color:#999;color:#666}\
.error{color:#b71c1c;background:#ffebee;padding:.6rem;border-radius:6px}.note{background:#fff;padding:.6rem;border-radius:6px}\
.text{white-space:pre-wrap;word-break:break-word}.code{font:1.15rem/1.4 ui-monospace,monospace;letter-spacing:.08em}\
details{background:#fff;border-radius:8px;padding:.6rem .8rem;margin:.7rem 0}summary{font-weight:bold}";

/// `GET /e/e.css`.
pub async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=86400")], CSS)
        .into_response()
}
