//! Forms of the enterprise pages: read within `FORM_BODY_BYTES` before anything else (session,
//! CSRF, storage) is looked at, and what the contact typed checked against the same limits as the
//! phones' (`zhuqi_core::domain::text`), each refusal a typed error in Chinese and English.

use crate::http::body::{FORM_BODY_BYTES, read_body};
use crate::http::error::ApiError;
use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

/// Reads a URL-encoded form of at most [`FORM_BODY_BYTES`] (413 `too_large` beyond, before any of
/// it is parsed; a declared length over it is refused unread).
pub async fn read<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, ApiError> {
    let bytes = read_body(headers, body, FORM_BODY_BYTES).await?;
    let request = axum::http::Request::builder()
        .method(axum::http::Method::POST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(bytes))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    match axum::Form::<T>::from_request(request, &()).await {
        Ok(axum::Form(f)) => Ok(f),
        Err(e) => Err(ApiError::bad_request(format!("form: {}", e.body_text()))),
    }
}

/// A value typed into a form that breaks a rule: 422 with a code of its own.
pub fn invalid(code: &'static str, message: impl Into<String>, message_zh: &'static str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message, message_zh)
}

/// How long a field may be, in characters, and what to say when it is empty or too long.
pub struct Field {
    pub name: &'static str,
    pub max: usize,
    pub required: bool,
    pub empty_zh: &'static str,
    pub too_long_zh: &'static str,
}

/// A confirmation's comment (optional).
pub const COMMENT: Field = Field {
    name: "comment",
    max: zhuqi_core::domain::text::MEDIUM,
    required: false,
    empty_zh: "",
    too_long_zh: "评价内容不能超过500字",
};
/// Why a resolution is rejected.
pub const REASON: Field = Field {
    name: "reason",
    max: zhuqi_core::domain::text::MEDIUM,
    required: true,
    empty_zh: "请填写退回理由",
    too_long_zh: "退回理由不能超过500字",
};
/// A reported problem's title.
pub const TITLE: Field = Field {
    name: "title",
    max: zhuqi_core::domain::text::SHORT,
    required: true,
    empty_zh: "请填写问题标题",
    too_long_zh: "问题标题不能超过100字",
};
/// A reported problem's description.
pub const DESCRIPTION: Field = Field {
    name: "description",
    max: zhuqi_core::domain::text::LONG,
    required: true,
    empty_zh: "请填写问题描述",
    too_long_zh: "问题描述不能超过4000字",
};
/// The name of a contact the relay creates.
pub const CONTACT_NAME: Field = Field {
    name: "contact_name",
    max: 50,
    required: true,
    empty_zh: "请填写企业联系人姓名",
    too_long_zh: "联系人姓名不能超过50字",
};

/// The text of `field` as the phones would store it: line ends as `\n` (browsers send `\r\n`),
/// trimmed, within its length, without control characters but line ends and tabs.
pub fn text(value: &str, field: &Field) -> Result<String, ApiError> {
    let v = value.replace("\r\n", "\n").replace('\r', "\n");
    let v = v.trim();
    if v.is_empty() && field.required {
        return Err(invalid("required", format!("{}: required", field.name), field.empty_zh));
    }
    if v.chars().count() > field.max {
        return Err(invalid(
            "too_long",
            format!("{}: at most {} characters", field.name, field.max),
            field.too_long_zh,
        ));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(invalid(
            "invalid_text",
            format!("{}: control characters", field.name),
            "内容含有无法识别的字符，请删除后重试",
        ));
    }
    Ok(v.to_owned())
}

/// A satisfaction rating as sent by the form's radio buttons: 1 to 5.
pub fn rating(value: &str) -> Result<u8, ApiError> {
    match value.trim().parse::<u8>() {
        Ok(r @ 1..=5) => Ok(r),
        _ => Err(invalid("invalid_rating", "rating: a whole number from 1 to 5", "请选择1到5分的满意度")),
    }
}

/// A mobile number: 11 digits starting with 1, or nothing.
pub fn mobile(value: &str) -> Result<Option<String>, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.len() == 11 && v.starts_with('1') && v.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Some(v.to_owned()));
    }
    Err(invalid("invalid_mobile", "contact_mobile: 11 digits", "手机号码应为11位数字"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_bounded_and_clean() {
        assert_eq!(text("  第一行\r\n第二行 ", &REASON).unwrap(), "第一行\n第二行");
        assert_eq!(text("", &COMMENT).unwrap(), "");
        assert_eq!(text(" \r\n ", &REASON).unwrap_err().code, "required");
        assert!(text(&"企".repeat(500), &REASON).is_ok());
        let e = text(&"企".repeat(501), &REASON).unwrap_err();
        assert_eq!(
            (e.status, e.code, e.message_zh),
            (StatusCode::UNPROCESSABLE_ENTITY, "too_long", "退回理由不能超过500字")
        );
        assert_eq!(text("a\u{0}b", &COMMENT).unwrap_err().code, "invalid_text");
    }

    #[test]
    fn ratings_are_one_to_five() {
        assert_eq!(rating("5").unwrap(), 5);
        for bad in ["0", "6", "", "abc", "-1", "3.5", "256"] {
            assert_eq!(rating(bad).unwrap_err().code, "invalid_rating", "{bad}");
        }
        assert_eq!(mobile("13800000000").unwrap().as_deref(), Some("13800000000"));
        assert_eq!(mobile("").unwrap(), None);
        assert_eq!(mobile("1380000000x").unwrap_err().code, "invalid_mobile");
    }
}
