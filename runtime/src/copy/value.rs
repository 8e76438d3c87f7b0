//! Values on their way between databases: how each dialect reads a column of each model type
//! (an SQL expression, decoded as text, bytes or a float), the canonical form every value is
//! brought to whatever database it came from, and how each dialect is given it back.
//!
//! The canonical form is what the checksums hash, so it is the same for equal values on every
//! dialect: booleans `true`/`false`; decimals with exactly the column's scale; times and
//! timestamps `YYYY-MM-DD HH:MM:SS[.ffffff]` with the fraction's trailing zeros cut;
//! timestamps with time zone in UTC with a `Z`; JSON compact with its keys sorted; UUIDs in
//! lower case; floats in the shortest form that reads back to the same float; binary as bytes.

use std::fmt::Write as _;

use crate::canonical::{timestamp_utc, trim_fraction};

use crate::op::{ColumnType, Dialect};
use crate::render::quote_identifier;

/// A value in its canonical form; `None` is NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Canon {
    Text(String),
    Bytes(Vec<u8>),
}

/// How a column's read expression is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decode {
    Text,
    /// An integer: read as it is stored, without a cast on the server.
    Int,
    Bytes,
    F32,
    F64,
}

/// What a driver handed back for one column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
    F32(f32),
    F64(f64),
}

pub(crate) fn decode_of(dialect: Dialect, ty: &ColumnType) -> Decode {
    match ty {
        // SQLite may hold text in an integer column: it is cast, and read as text.
        _ if ty.is_integer() && dialect != Dialect::Sqlite => Decode::Int,
        ColumnType::Binary => Decode::Bytes,
        ColumnType::Real => Decode::F32,
        ColumnType::Double => Decode::F64,
        _ => Decode::Text,
    }
}

/// The expression that reads column `name` of type `ty` on `dialect`, for [`decode_of`].
pub(crate) fn read_expr(dialect: Dialect, name: &str, ty: &ColumnType) -> String {
    let c = quote_identifier(dialect, name);
    match (dialect, decode_of(dialect, ty)) {
        (Dialect::Sqlite, Decode::Bytes) => format!("CAST({c} AS BLOB)"),
        (Dialect::Sqlite, Decode::F32 | Decode::F64) => format!("CAST({c} AS REAL)"),
        (_, Decode::Bytes | Decode::F32 | Decode::F64 | Decode::Int) => c,
        // Text as it is stored.
        (Dialect::Mysql, Decode::Text)
            if matches!(ty, ColumnType::String(_) | ColumnType::Text) =>
        {
            c
        }
        // The session's time zone is UTC: PostgreSQL prints the offset, MySQL converts.
        (Dialect::Postgres, Decode::Text) => format!("{c}::text"),
        (Dialect::Mysql, Decode::Text) => format!("CAST({c} AS CHAR)"),
        (Dialect::Sqlite, Decode::Text) => format!("CAST({c} AS TEXT)"),
    }
}

/// `raw`, read from a column of type `ty`, in its canonical form; an error says why it has
/// none (text where JSON belongs stays as it is, for the target to accept or reject).
pub(crate) fn canonical(ty: &ColumnType, raw: Raw) -> Result<Canon, String> {
    let text = match raw {
        Raw::Bytes(bytes) => return Ok(Canon::Bytes(bytes)),
        Raw::F32(f) => return Ok(Canon::Text(format!("{f:?}"))),
        Raw::F64(f) => return Ok(Canon::Text(format!("{f:?}"))),
        Raw::Int(n) => n.to_string(),
        Raw::Text(text) => text,
    };
    Ok(Canon::Text(match ty {
        ColumnType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "1" | "t" | "true" => "true".to_owned(),
            "0" | "f" | "false" => "false".to_owned(),
            other => return Err(format!("`{other}` is not a boolean")),
        },
        ColumnType::Decimal(_, scale) if has_scale(&text, *scale) => text,
        ColumnType::Decimal(_, scale) => decimal(&text, *scale)?,
        ColumnType::Time => trim_fraction(&text),
        ColumnType::Timestamp => trim_fraction(&text.replacen('T', " ", 1)),
        ColumnType::TimestampTz => match utc_without_zone(&text) {
            Some(time) => format!("{}Z", trim_fraction(time)),
            None => timestamp_utc(&text)?,
        },
        ColumnType::Json => json(&text).unwrap_or(text),
        ColumnType::Uuid if text.bytes().any(|b| b.is_ascii_uppercase()) => {
            text.to_ascii_lowercase()
        }
        ColumnType::Real | ColumnType::Double => match text.parse::<f64>() {
            Ok(f) => format!("{f:?}"),
            Err(_) => text,
        },
        _ => text,
    }))
}

/// Whether `text` is a decimal already in its canonical form for `scale`: digits, with no
/// leading zero but the units', and exactly `scale` of them after the point (what PostgreSQL
/// and MySQL print).
fn has_scale(text: &str, scale: u32) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match (scale, digits.split_once('.')) {
        (0, None) => (digits, ""),
        (_, Some(parts)) if scale > 0 => parts,
        _ => return false,
    };
    let zero = whole.bytes().chain(fraction.bytes()).all(|b| b == b'0');
    !whole.is_empty()
        && (whole == "0" || !whole.starts_with('0'))
        && fraction.len() == scale as usize
        && whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        && !(zero && text.starts_with('-'))
}

/// The date and time of a timestamp that is in UTC as written (no zone, or `+00`), in ISO
/// form with a space.
fn utc_without_zone(text: &str) -> Option<&str> {
    let time = text.strip_suffix("+00").unwrap_or(text);
    let bytes = time.as_bytes();
    let iso = bytes.len() >= 19
        && bytes[4] == b'-'
        && bytes[10] == b' '
        && bytes[13] == b':'
        && time[19..].bytes().all(|b| b == b'.' || b.is_ascii_digit());
    iso.then_some(time)
}

/// A decimal's digits with exactly `scale` of them after the point, from `12.5`, `-0.1`,
/// `1.0e+20` or `12`.
pub(crate) fn decimal(text: &str, scale: u32) -> Result<String, String> {
    let bad = || format!("`{text}` is not a decimal number");
    let text = text.trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().map_err(|_| bad())?),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    // All digits, and where the point falls among them.
    let digits = format!("{int}{frac}");
    let point = int.len() as i64 + exponent;
    let scale = i64::from(scale);
    let digit = |i: i64| -> char {
        match usize::try_from(i) {
            Ok(i) if i < digits.len() => digits.as_bytes()[i] as char,
            _ => '0',
        }
    };
    if point > 1000 {
        return Err(bad());
    }
    let whole: String = (0..point.max(0)).map(digit).collect();
    let mut out = match whole.trim_start_matches('0') {
        "" => "0".to_owned(),
        whole => whole.to_owned(),
    };
    if scale > 0 {
        out.push('.');
        for i in 0..scale {
            out.push(digit(point + i));
        }
    }
    let dropped = (point + scale..digits.len() as i64).any(|i| digit(i) != '0');
    if dropped {
        return Err(format!(
            "`{text}` has more than {scale} digits after the point"
        ));
    }
    let zero = out.bytes().all(|b| b == b'0' || b == b'.');
    Ok(match negative && !zero {
        true => format!("-{out}"),
        false => out,
    })
}

/// JSON compact, with the keys of every object sorted; `None` when `text` is not JSON.
fn json(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let mut out = String::with_capacity(text.len());
    write_json(&value, &mut out);
    Some(out)
}

fn write_json(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                write_json(value, out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// What a target is given for a canonical value: text, bytes, or an integer (booleans where
/// the target stores them as numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bound {
    Text(String),
    Bytes(Vec<u8>),
    Int(i64),
}

/// The most significant digits SQLite keeps of a decimal, which it stores as a float.
const SQLITE_DECIMAL_DIGITS: usize = 15;

/// Why `dialect` cannot hold `value` in a column of type `ty`, if it cannot: such a row goes
/// to the reject file before anything is sent.
pub(crate) fn refused(dialect: Dialect, ty: &ColumnType, value: &Canon) -> Option<String> {
    let (Dialect::Sqlite, ColumnType::Decimal(..), Canon::Text(text)) = (dialect, ty, value) else {
        return None;
    };
    let significant = text
        .trim_start_matches('-')
        .replace('.', "")
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len();
    (significant > SQLITE_DECIMAL_DIGITS).then(|| {
        format!(
            "SQLite stores DECIMAL as a float of {SQLITE_DECIMAL_DIGITS} significant digits, \
             and {text} has {significant}"
        )
    })
}

/// `value` as `dialect` takes it into a column of type `ty` (one [`refused`] let through).
pub(crate) fn bound(dialect: Dialect, ty: &ColumnType, value: Canon) -> Bound {
    let text = match value {
        Canon::Bytes(bytes) => return Bound::Bytes(bytes),
        Canon::Text(text) => text,
    };
    match (dialect, ty) {
        (Dialect::Mysql | Dialect::Sqlite, ColumnType::Boolean) => {
            Bound::Int(i64::from(text == "true"))
        }
        (Dialect::Postgres, ColumnType::TimestampTz) => {
            Bound::Text(format!("{}+00", text.trim_end_matches('Z')))
        }
        (Dialect::Mysql, ColumnType::TimestampTz) => {
            Bound::Text(text.trim_end_matches('Z').to_owned())
        }
        (Dialect::Sqlite, ColumnType::TimestampTz) => {
            Bound::Text(format!("{}+00:00", text.trim_end_matches('Z')))
        }
        _ => Bound::Text(text),
    }
}

/// A value given to the target, for the reject file, as [`describe`] spells it.
pub(crate) fn describe_bound(value: &Option<Bound>) -> String {
    match value {
        None => describe(&None),
        Some(Bound::Int(n)) => n.to_string(),
        Some(Bound::Text(text)) => describe(&Some(Canon::Text(text.clone()))),
        Some(Bound::Bytes(bytes)) => describe(&Some(Canon::Bytes(bytes.clone()))),
    }
}

/// A value in PostgreSQL's `COPY` text format, appended to `out`.
pub(crate) fn copy_text(value: Option<&Bound>, out: &mut Vec<u8>) {
    match value {
        None => out.extend_from_slice(b"\\N"),
        Some(Bound::Int(n)) => out.extend_from_slice(n.to_string().as_bytes()),
        // bytea's hex input, its backslash escaped for COPY.
        Some(Bound::Bytes(bytes)) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\\\x");
            for &byte in bytes {
                out.extend_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
            }
        }
        Some(Bound::Text(text)) => {
            for &byte in text.as_bytes() {
                match byte {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    other => out.push(other),
                }
            }
        }
    }
}

/// A row's canonical values, as one string for the reject file: `NULL`, text quoted as JSON,
/// bytes as `x'…'` hex.
pub(crate) fn describe(value: &Option<Canon>) -> String {
    match value {
        None => "NULL".to_owned(),
        Some(Canon::Text(text)) => serde_json::Value::String(text.clone()).to_string(),
        Some(Canon::Bytes(bytes)) => {
            let mut out = String::from("x'");
            for byte in bytes {
                let _ = write!(out, "{byte:02x}");
            }
            out.push('\'');
            out
        }
    }
}

/// The 64-bit hash of a row's canonical form: each value tagged, with its length, so that no
/// two different rows read alike. A table's checksum adds these up, whatever the row order.
pub(crate) fn row_hash(row: &[Option<Canon>]) -> u64 {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut tagged = |tag: u8, content: &[u8]| {
        hasher.update([tag]);
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(content);
    };
    for value in row {
        match value {
            None => tagged(b'N', b""),
            Some(Canon::Text(text)) => tagged(b'T', text.as_bytes()),
            Some(Canon::Bytes(bytes)) => tagged(b'B', bytes),
        }
    }
    let digest = hasher.finalize();
    u64::from_le_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ty: &ColumnType, raw: &str) -> String {
        match canonical(ty, Raw::Text(raw.to_owned())).unwrap() {
            Canon::Text(t) => t,
            Canon::Bytes(_) => unreachable!("text in, text out"),
        }
    }

    #[test]
    fn decimals_have_the_columns_scale_whatever_their_spelling() {
        assert_eq!(decimal("12.5", 2).unwrap(), "12.50");
        assert_eq!(decimal("12", 2).unwrap(), "12.00");
        assert_eq!(decimal("-0.1", 3).unwrap(), "-0.100");
        assert_eq!(decimal("1.0e+20", 0).unwrap(), "100000000000000000000");
        assert_eq!(decimal("1.5e-2", 4).unwrap(), "0.0150");
        assert_eq!(decimal("007.10", 1).unwrap(), "7.1");
        assert_eq!(decimal("-0.00", 2).unwrap(), "0.00");
        assert_eq!(
            decimal("99999999999999999999999999999999.999999", 6).unwrap(),
            "99999999999999999999999999999999.999999"
        );
        assert!(decimal("12.345", 2).is_err());
        for (text, scale, canonical) in [
            ("12.50", 2, true),
            ("0.10", 2, true),
            ("-3", 0, true),
            ("012.50", 2, false),
            ("12.5", 2, false),
            ("-0.00", 2, false),
            ("1e5", 0, false),
            ("12.", 0, false),
        ] {
            assert_eq!(has_scale(text, scale), canonical, "{text}");
            if canonical {
                assert_eq!(decimal(text, scale).unwrap(), text);
            }
        }
        assert!(decimal("abc", 2).is_err());
    }

    #[test]
    fn timestamps_with_time_zone_are_told_in_utc() {
        let tz = ColumnType::TimestampTz;
        for (read, canonical) in [
            ("2024-01-02 03:04:05.500000+02", "2024-01-02 01:04:05.5Z"),
            ("2024-03-01T00:30:00+01:00", "2024-02-29 23:30:00Z"),
            ("1999-12-31 23:00:00-05:30", "2000-01-01 04:30:00Z"),
            ("2024-01-02 03:04:05", "2024-01-02 03:04:05Z"),
            ("2024-01-02 03:04:05Z", "2024-01-02 03:04:05Z"),
            ("2024-01-02 03:04:05.120+00", "2024-01-02 03:04:05.12Z"),
            ("2024-01-02 03:04:05.000000", "2024-01-02 03:04:05Z"),
        ] {
            assert_eq!(text(&tz, read), canonical, "{read}");
        }
        assert_eq!(
            text(&ColumnType::Timestamp, "2024-01-02T03:04:05.120"),
            "2024-01-02 03:04:05.12"
        );
        assert_eq!(text(&ColumnType::Time, "23:59:59.000000"), "23:59:59");
    }

    #[test]
    fn json_booleans_and_uuids_have_one_spelling() {
        assert_eq!(
            text(
                &ColumnType::Json,
                r#"{"b": [1, 2.5, null], "a": {"z": "é", "y": true}}"#
            ),
            r#"{"a":{"y":true,"z":"é"},"b":[1,2.5,null]}"#
        );
        assert_eq!(text(&ColumnType::Json, "not json"), "not json");
        assert_eq!(text(&ColumnType::Boolean, "1"), "true");
        assert_eq!(text(&ColumnType::Boolean, "f"), "false");
        assert_eq!(
            text(&ColumnType::Uuid, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        );
    }

    #[test]
    fn copy_text_escapes_what_copy_reads_as_syntax() {
        let mut out = Vec::new();
        copy_text(Some(&Bound::Text("a\tb\\c\nd".into())), &mut out);
        out.push(b'|');
        copy_text(Some(&Bound::Bytes(vec![0, 255])), &mut out);
        out.push(b'|');
        copy_text(None, &mut out);
        assert_eq!(out, b"a\\tb\\\\c\\nd|\\\\x00ff|\\N");
    }

    #[test]
    fn a_row_hash_tells_null_from_empty_and_shifted_values() {
        let t = |s: &str| Some(Canon::Text(s.to_owned()));
        assert_ne!(row_hash(&[None]), row_hash(&[t("")]));
        assert_ne!(row_hash(&[t("ab"), t("c")]), row_hash(&[t("a"), t("bc")]));
        assert_ne!(
            row_hash(&[t("ab")]),
            row_hash(&[Some(Canon::Bytes(b"ab".to_vec()))])
        );
    }

    #[test]
    fn sqlite_refuses_decimals_it_would_round() {
        let ty = ColumnType::Decimal(38, 10);
        let value = |s: &str| Canon::Text(s.to_owned());
        assert_eq!(
            refused(Dialect::Sqlite, &ty, &value("-12345.6789012345")),
            None
        );
        assert!(refused(Dialect::Sqlite, &ty, &value("1234567890123456.7")).is_some());
        assert_eq!(
            refused(Dialect::Postgres, &ty, &value("1234567890123456.7")),
            None
        );
    }
}
