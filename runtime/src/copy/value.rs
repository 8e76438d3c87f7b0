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
    /// A value that is none of its type's: why (SQLite text that is not UTF-8).
    Invalid(String),
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
        // As stored: the reader tells a float from text SQLite keeps in a float column
        // (which a cast would read as 0).
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
        Raw::Invalid(reason) => return Err(reason),
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
        ColumnType::Real => match text.trim().parse::<f64>() {
            Ok(f) => format!("{:?}", f as f32),
            Err(_) => return Err(format!("`{text}` is not a number")),
        },
        ColumnType::Double => match text.trim().parse::<f64>() {
            Ok(f) => format!("{f:?}"),
            Err(_) => return Err(format!("`{text}` is not a number")),
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
        && bytes[7] == b'-'
        && bytes[10] == b' '
        && bytes[13] == b':'
        && bytes[16] == b':'
        && bytes[19..].iter().all(|&b| b == b'.' || b.is_ascii_digit());
    // The fields at their places, as numbers: a real date and time of day.
    let field = |from: usize, to: usize| -> Option<i64> {
        let digits = &bytes[from..to];
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(digits).ok()?.parse().ok())?
    };
    let real = iso
        && matches!(
            (field(0, 4), field(5, 7), field(8, 10), field(11, 13), field(14, 16), field(17, 19)),
            (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s))
                if crate::canonical::is_time_of_day(y, mo, d, h, mi, s)
        );
    real.then_some(time)
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

/// JSON compact, with the keys of every object sorted (a key given twice keeps both, in their
/// order) and numbers as exact decimals (`1.50e2` is `150`, never a float); `None` when `text`
/// is not JSON.
fn json(text: &str) -> Option<String> {
    normalize_json(text).map(|(normal, _)| normal)
}

/// Whether a JSON object in `text` has a key twice.
fn json_has_duplicate_keys(text: &str) -> bool {
    normalize_json(text).is_some_and(|(_, twice)| twice)
}

fn normalize_json(text: &str) -> Option<(String, bool)> {
    let mut parser = Json {
        bytes: text.as_bytes(),
        at: 0,
        duplicates: false,
    };
    let mut out = String::with_capacity(text.len());
    parser.value(&mut out)?;
    parser.space();
    (parser.at == parser.bytes.len()).then_some((out, parser.duplicates))
}

/// Four hex digits of a `\\u` escape.
fn hex4(chars: &mut std::str::CharIndices<'_>) -> Option<u32> {
    let hex: String = (0..4)
        .filter_map(|_| chars.next().map(|(_, c)| c))
        .collect();
    u32::from_str_radix(&hex, 16)
        .ok()
        .filter(|_| hex.len() == 4)
}

/// Just enough of a JSON reader to write a value back in one spelling without changing it.
struct Json<'a> {
    bytes: &'a [u8],
    at: usize,
    duplicates: bool,
}

impl Json<'_> {
    fn space(&mut self) {
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b" \t\n\r".contains(b))
        {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.space();
        let found = self.bytes.get(self.at) == Some(&byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn value(&mut self, out: &mut String) -> Option<()> {
        self.space();
        match *self.bytes.get(self.at)? {
            b'{' => {
                self.at += 1;
                let mut members: Vec<(String, String)> = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.space();
                        let key = self.string()?;
                        if !self.eat(b':') {
                            return None;
                        }
                        let mut value = String::new();
                        self.value(&mut value)?;
                        members.push((key, value));
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                if !members.is_sorted_by(|a, b| a.0 <= b.0) {
                    members.sort_by(|a, b| a.0.cmp(&b.0));
                }
                self.duplicates |= members.windows(2).any(|w| w[0].0 == w[1].0);
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(key);
                    out.push(':');
                    out.push_str(value);
                }
                out.push('}');
            }
            b'[' => {
                self.at += 1;
                out.push('[');
                if !self.eat(b']') {
                    loop {
                        self.value(out)?;
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                        out.push(',');
                    }
                }
                out.push(']');
            }
            b'"' => out.push_str(&self.string()?),
            b't' | b'f' | b'n' => {
                let word = [&b"true"[..], b"false", b"null"]
                    .into_iter()
                    .find(|w| self.bytes[self.at..].starts_with(w))?;
                self.at += word.len();
                out.push_str(std::str::from_utf8(word).ok()?);
            }
            _ => out.push_str(&self.number()?),
        }
        Some(())
    }

    /// A string, decoded and written again in serde_json's escaping.
    fn string(&mut self) -> Option<String> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return None;
        }
        self.at += 1;
        // Most strings have no escape: written back as they are.
        let plain = self.bytes[self.at..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20);
        if let Some(end) = plain
            && self.bytes[self.at + end] == b'"'
        {
            let text = std::str::from_utf8(&self.bytes[self.at - 1..self.at + end + 1]).ok()?;
            self.at += end + 1;
            return Some(text.to_owned());
        }
        let mut decoded = String::new();
        let rest = std::str::from_utf8(&self.bytes[self.at..]).ok()?;
        let mut chars = rest.char_indices();
        loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => {
                    self.at += i + 1;
                    return serde_json::to_string(&decoded).ok();
                }
                '\\' => {
                    let (_, escape) = chars.next()?;
                    decoded.push(match escape {
                        '"' => '"',
                        '\\' => '\\',
                        '/' => '/',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'u' => {
                            let high = hex4(&mut chars)?;
                            let code = if (0xD800..0xDC00).contains(&high) {
                                let (_, slash) = chars.next()?;
                                let (_, u) = chars.next()?;
                                if slash != '\\' || u != 'u' {
                                    return None;
                                }
                                let low = hex4(&mut chars)?.checked_sub(0xDC00)?;
                                0x10000 + ((high - 0xD800) << 10) + (low & 0x3FF)
                            } else {
                                high
                            };
                            char::from_u32(code)?
                        }
                        _ => return None,
                    });
                }
                c if (c as u32) < 0x20 => return None,
                c => decoded.push(c),
            }
        }
    }

    /// A number as an exact decimal: no exponent, no leading or trailing zeros, no `-0`.
    fn number(&mut self) -> Option<String> {
        let start = self.at;
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
        {
            self.at += 1;
        }
        let token = std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
        // A plain integer is its own canonical form.
        let digits = token.strip_prefix('-').unwrap_or(token);
        if !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" && token == "0" || !digits.starts_with('0'))
        {
            return Some(token.to_owned());
        }
        let (negative, unsigned) = match token.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, token),
        };
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i64>().ok()?),
            None => (unsigned, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits_only(int) || !digits_only(frac) || mantissa.ends_with('.') {
            return None;
        }
        if exponent.abs() > 400 {
            // Far out of any column's range: kept as written, but for the exponent's case.
            return Some(token.replace('E', "e"));
        }
        let digits = format!("{int}{frac}");
        let point = int.len() as i64 + exponent;
        let digit = |i: i64| {
            usize::try_from(i)
                .ok()
                .and_then(|i| digits.as_bytes().get(i).copied())
                .unwrap_or(b'0') as char
        };
        let last = (0..digits.len() as i64).rev().find(|&i| digit(i) != '0');
        let whole: String = (0..point.max(0)).map(digit).collect();
        let whole = match whole.trim_start_matches('0') {
            "" => "0",
            w => w,
        };
        let fraction: String = match last {
            Some(last) if last >= point => (point..=last).map(digit).collect(),
            _ => String::new(),
        };
        let zero = last.is_none();
        let sign = if negative && !zero { "-" } else { "" };
        Some(match fraction.is_empty() {
            true => format!("{sign}{whole}"),
            false => format!("{sign}{whole}.{fraction}"),
        })
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
    let Canon::Text(text) = value else {
        return None;
    };
    match (dialect, ty) {
        (Dialect::Sqlite, ColumnType::Real | ColumnType::Double) => {
            return matches!(text.as_str(), "NaN" | "inf" | "-inf" | "-0.0")
                .then(|| format!("SQLite keeps no {text}: it would store it as text, or as 0.0"));
        }
        (Dialect::Postgres, ColumnType::Json) => {
            return json_has_duplicate_keys(text).then(|| {
                "a JSON object has a key twice: PostgreSQL's jsonb keeps only the last, where \
                 the source reads the first"
                    .to_owned()
            });
        }
        (Dialect::Sqlite, ColumnType::Decimal(..)) => {}
        _ => return None,
    }
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
    fn json_keeps_its_meaning_in_one_spelling() {
        let json = |text: &str| normalize_json(text).map(|(normal, _)| normal);
        assert_eq!(
            json(r#" { "b" : [1.50e2, -0.0, 3.14159265358979323846264338327950288], "a": "x\u00e9\ud83d\ude00" } "#).as_deref(),
            Some(r#"{"a":"xé😀","b":[150,0,3.14159265358979323846264338327950288]}"#)
        );
        assert_eq!(
            json("123456789012345678901234567890").as_deref(),
            Some("123456789012345678901234567890")
        );
        assert_eq!(
            json("18446744073709551616").as_deref(),
            Some("18446744073709551616")
        );
        assert_eq!(
            json("1.000000000000000000001").as_deref(),
            Some("1.000000000000000000001")
        );
        assert_eq!(json("1e-3").as_deref(), Some("0.001"));
        // A key given twice keeps both, in their order; and it is told.
        assert_eq!(
            normalize_json(r#"{"a":1,"b":0,"a":2}"#),
            Some((r#"{"a":1,"a":2,"b":0}"#.to_owned(), true))
        );
        for bad in ["{", "[1,]", "01x", r#"{"a" 1}"#, "tru", r#""\u12""#, "1."] {
            assert_eq!(json(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_timestamps_and_floats_are_refused_not_changed() {
        let tz = ColumnType::TimestampTz;
        for bad in [
            "2024-02-30 10:00:00+01",
            "2024-01-01 25:70:ab+00:00",
            "2023-02-29 00:00:00+00",
        ] {
            assert!(canonical(&tz, Raw::Text(bad.into())).is_err(), "{bad}");
        }
        assert!(canonical(&tz, Raw::Text("2024-02-29 23:30:00+01".into())).is_ok());
        assert!(canonical(&ColumnType::Double, Raw::Text("abc".into())).is_err());
        assert_eq!(
            canonical(&ColumnType::Double, Raw::Text("0.10000000000000001".into())).unwrap(),
            Canon::Text("0.1".into())
        );
        assert!(canonical(&tz, Raw::Text("2024-01-02 03:04:0\u{e9}".into())).is_err());
        let twice = Canon::Text(r#"{"a":1,"a":2}"#.into());
        assert!(refused(Dialect::Postgres, &ColumnType::Json, &twice).is_some());
        assert!(refused(Dialect::Mysql, &ColumnType::Json, &twice).is_none());
        assert!(
            refused(
                Dialect::Sqlite,
                &ColumnType::Double,
                &Canon::Text("NaN".into())
            )
            .is_some()
        );
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
