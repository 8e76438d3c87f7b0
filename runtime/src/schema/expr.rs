//! Just enough SQL lexing to find and rename identifiers inside check expressions and index
//! predicates: words outside string literals, bare or quoted with `"` or `` ` ``.

/// A span of `expr` that is an identifier, with its unquoted text.
struct IdentSpan {
    start: usize,
    end: usize,
    text: String,
}

fn identifiers(expr: &str) -> Vec<IdentSpan> {
    let bytes = expr.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' => {
                // String literal; '' is an escaped quote.
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'"' | b'`' => {
                let start = i;
                let mut text = String::new();
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == c {
                        if bytes.get(i + 1) == Some(&c) {
                            text.push(c as char);
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    let ch = expr[i..].chars().next().expect("in bounds");
                    text.push(ch);
                    i += ch.len_utf8();
                }
                i += 1;
                spans.push(IdentSpan {
                    start,
                    end: i.min(bytes.len()),
                    text,
                });
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                spans.push(IdentSpan {
                    start,
                    end: i,
                    text: expr[start..i].to_owned(),
                });
            }
            _ => i += 1,
        }
    }
    spans
}

/// Whether `expr` mentions the identifier `name` (case-insensitively for bare words).
pub(crate) fn mentions_identifier(expr: &str, name: &str) -> bool {
    identifiers(expr)
        .iter()
        .any(|span| matches_name(expr, span, name))
}

/// `expr` with every mention of identifier `from` replaced by `to`, quoted with `quote`.
pub(crate) fn rename_identifier(expr: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut last = 0;
    for span in identifiers(expr) {
        if matches_name(expr, &span, from) {
            out.push_str(&expr[last..span.start]);
            let quote = match expr.as_bytes()[span.start] {
                q @ (b'"' | b'`') => q as char,
                _ => '"',
            };
            let is_plain = to.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                && !expr[span.start..].starts_with(['"', '`']);
            if is_plain {
                out.push_str(to);
            } else {
                out.push(quote);
                out.push_str(&to.replace(quote, &format!("{quote}{quote}")));
                out.push(quote);
            }
            last = span.end;
        }
    }
    out.push_str(&expr[last..]);
    out
}

/// `expr` with every mention of one of `columns` written as `qualified(column)` (`NEW."a"`),
/// except where it is already qualified (after a `.`) or is a function name (before a `(`).
pub(crate) fn qualify_columns(
    expr: &str,
    columns: &[&str],
    qualified: impl Fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(expr.len() * 2);
    let mut last = 0;
    for span in identifiers(expr) {
        let after_dot = expr[..span.start].trim_end().ends_with('.');
        let called = expr[span.end..].trim_start().starts_with('(');
        let column = columns.iter().find(|c| matches_name(expr, &span, c));
        if let (Some(column), false, false) = (column, after_dot, called) {
            out.push_str(&expr[last..span.start]);
            out.push_str(&qualified(column));
            last = span.end;
        }
    }
    out.push_str(&expr[last..]);
    out
}

fn matches_name(expr: &str, span: &IdentSpan, name: &str) -> bool {
    let quoted = expr[span.start..].starts_with(['"', '`']);
    if quoted {
        span.text == name
    } else {
        span.text.eq_ignore_ascii_case(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_bare_and_quoted_identifiers_but_not_strings() {
        assert!(mentions_identifier("price > 0", "price"));
        assert!(mentions_identifier("\"Price\" > 0", "Price"));
        assert!(!mentions_identifier("\"Price\" > 0", "price"));
        assert!(!mentions_identifier("status <> 'price'", "price"));
        assert!(!mentions_identifier("prices > 0", "price"));
        assert!(mentions_identifier("`a``b` > 0", "a`b"));
    }

    #[test]
    fn qualifies_columns_but_not_functions_strings_or_qualified_names() {
        let qualify =
            |expr| qualify_columns(expr, &["name", "left", "Id"], |c| format!("NEW.\"{c}\""));
        assert_eq!(
            qualify("split_part(name, ' ', 1) || 'name'"),
            "split_part(NEW.\"name\", ' ', 1) || 'name'"
        );
        assert_eq!(qualify("left(name, 2)"), "left(NEW.\"name\", 2)");
        assert_eq!(qualify("t.name = left"), "t.name = NEW.\"left\"");
        // Bare words match any case, as everywhere in the model.
        assert_eq!(qualify("\"Id\" + id"), "NEW.\"Id\" + NEW.\"Id\"");
    }

    #[test]
    fn renames_only_the_identifier() {
        assert_eq!(
            rename_identifier("price > 0 AND note <> 'price'", "price", "cost"),
            "cost > 0 AND note <> 'price'"
        );
        assert_eq!(
            rename_identifier("\"price\" > 0", "price", "Cost"),
            "\"Cost\" > 0"
        );
        assert_eq!(rename_identifier("price>0", "price", "New"), "\"New\">0");
    }
}
