//! The reverse SQL kept in each history row, so that a binary which does not know a migration
//! (an older release) can still revert it, and a migration edited after it was applied is
//! reverted as it was applied.
//!
//! The text form is line-based with length-prefixed SQL, so any statement survives intact:
//!
//! ```text
//! godwit-down v1 derived 2          -- `derived`: one unit per op; `explicit`: one unit
//! unit sql 1                        -- the SQL that reverts op 1: 1 rendered op
//! op 0 0 1                          -- outside_transaction, foreign_keys_off, statements
//! stmt 0 21                         -- expect_no_rows, byte length; the SQL follows
//! DROP TABLE "accounts"
//! unless 42                         -- optional, before a `stmt`: its `unless_exists` probe
//! SELECT 1 FROM ...
//! unit irreversible 31              -- op 2 cannot be reverted; the reason follows
//! raw SQL has no reverse; add ...
//! ```
//! A `unit rust <len>` names a Rust step: only a binary that knows the migration can run it.
//! A backfill's op has no statements but a `batched` entry after its `op` line:
//!
//! ```text
//! batched sqlite 1 1000 0 - 1         -- dialect, key columns, batch size, pause and target
//!                                     -- batch time (µs, `-`: none), parallel slices
//! key 1 2                             -- a numeric key column, its name's length; the name
//! id
//! table 5                             -- then the table, the SET list and, if any, `only`
//! users
//! set 17
//! "full_name" = NULL
//! ```

use std::time::Duration;

use crate::op::{Batching, Dialect};
use crate::render::{BatchedUpdate, KeyColumn, RenderedOp, Statement};

/// How to revert what a migration applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StoredDown {
    /// `true`: one unit, the explicit `down`, reverting the whole migration. `false`: unit `i`
    /// reverts op `i`.
    pub explicit: bool,
    pub units: Vec<StoredUnit>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoredUnit {
    Sql(Vec<RenderedOp>),
    Irreversible(String),
    /// A Rust step, by name.
    Rust(String),
}

const HEADER: &str = "godwit-down v1";

impl StoredDown {
    pub fn encode(&self) -> String {
        let mut out = format!(
            "{HEADER} {} {}\n",
            if self.explicit { "explicit" } else { "derived" },
            self.units.len()
        );
        let flag = |b: bool| if b { '1' } else { '0' };
        for unit in &self.units {
            match unit {
                StoredUnit::Sql(ops) => {
                    out.push_str(&format!("unit sql {}\n", ops.len()));
                    for op in ops {
                        out.push_str(&format!(
                            "op {} {} {}\n",
                            flag(op.outside_transaction),
                            flag(op.foreign_keys_off),
                            op.statements.len()
                        ));
                        if let Some(batched) = &op.batched {
                            encode_batched(&mut out, batched);
                        }
                        for statement in &op.statements {
                            if let Some(probe) = &statement.unless_exists {
                                out.push_str(&format!("unless {}\n{probe}\n", probe.len()));
                            }
                            out.push_str(&format!(
                                "stmt {} {}\n{}\n",
                                flag(statement.expect_no_rows),
                                statement.sql.len(),
                                statement.sql
                            ));
                        }
                    }
                }
                StoredUnit::Irreversible(reason) => {
                    out.push_str(&format!("unit irreversible {}\n{reason}\n", reason.len()));
                }
                StoredUnit::Rust(name) => {
                    out.push_str(&format!("unit rust {}\n{name}\n", name.len()));
                }
            }
        }
        out
    }

    pub fn decode(text: &str) -> Result<StoredDown, String> {
        let mut reader = Reader { rest: text };
        let header = reader.line()?;
        let fields: Vec<&str> = header.split(' ').collect();
        let (explicit, count) = match fields.as_slice() {
            ["godwit-down", "v1", kind @ ("derived" | "explicit"), count] => {
                (*kind == "explicit", number(count)?)
            }
            _ => {
                return Err(format!(
                    "unknown header `{header}`, expected `{HEADER} ...`"
                ));
            }
        };
        let mut units = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            let line = reader.line()?;
            let unit = match line.split(' ').collect::<Vec<_>>().as_slice() {
                ["unit", "sql", n] => {
                    let mut ops = Vec::new();
                    for _ in 0..number(n)? {
                        let op_line = reader.line()?;
                        let ["op", outside, fk_off, statements] =
                            op_line.split(' ').collect::<Vec<_>>()[..]
                        else {
                            return Err(format!("expected `op ...`, found `{op_line}`"));
                        };
                        let mut op = RenderedOp {
                            outside_transaction: boolean(outside)?,
                            foreign_keys_off: boolean(fk_off)?,
                            ..RenderedOp::default()
                        };
                        if reader.rest.starts_with("batched ") {
                            op.batched = Some(decode_batched(&mut reader)?);
                        }
                        for _ in 0..number(statements)? {
                            let mut stmt_line = reader.line()?;
                            let mut unless_exists = None;
                            if let ["unless", len] = stmt_line.split(' ').collect::<Vec<_>>()[..] {
                                unless_exists = Some(reader.exact(number(len)?)?.to_owned());
                                stmt_line = reader.line()?;
                            }
                            let ["stmt", expect, len] =
                                stmt_line.split(' ').collect::<Vec<_>>()[..]
                            else {
                                return Err(format!("expected `stmt ...`, found `{stmt_line}`"));
                            };
                            op.statements.push(Statement {
                                expect_no_rows: boolean(expect)?,
                                sql: reader.exact(number(len)?)?.to_owned(),
                                unless_exists,
                                check: None,
                                reports_plan: false,
                            });
                        }
                        ops.push(op);
                    }
                    StoredUnit::Sql(ops)
                }
                ["unit", "irreversible", len] => {
                    StoredUnit::Irreversible(reader.exact(number(len)?)?.to_owned())
                }
                ["unit", "rust", len] => StoredUnit::Rust(reader.exact(number(len)?)?.to_owned()),
                _ => return Err(format!("expected `unit ...`, found `{line}`")),
            };
            units.push(unit);
        }
        if !reader.rest.is_empty() {
            return Err("trailing text after the last unit".into());
        }
        Ok(StoredDown { explicit, units })
    }
}

fn encode_batched(out: &mut String, b: &BatchedUpdate) {
    let micros = |d: Duration| d.as_micros().to_string();
    out.push_str(&format!(
        "batched {} {} {} {} {} {}\n",
        b.dialect.name(),
        b.key.len(),
        b.batching.batch_size,
        micros(b.batching.pause),
        b.batching.target_batch_time.map_or("-".into(), micros),
        b.batching.parallel,
    ));
    for column in &b.key {
        let numeric = if column.number { '1' } else { '0' };
        out.push_str(&format!(
            "key {numeric} {}\n{}\n",
            column.name.len(),
            column.name
        ));
    }
    let mut text = |label: &str, value: &str| {
        out.push_str(&format!("{label} {}\n{value}\n", value.len()));
    };
    text("table", &b.table);
    text("set", &b.set);
    if let Some(only) = &b.only {
        text("only", only);
    }
    if let Some(copy) = &b.copy {
        text("copy", &copy.into);
        out.push_str(&format!("columns {}\n", copy.columns.len()));
        for column in &copy.columns {
            out.push_str(&format!("column {}\n{column}\n", column.len()));
        }
        out.push_str(&format!("setup {}\n", copy.setup.len()));
        for statement in &copy.setup {
            out.push_str(&format!("stmt {}\n{statement}\n", statement.len()));
        }
    }
}

fn decode_batched(reader: &mut Reader<'_>) -> Result<BatchedUpdate, String> {
    let line = reader.line()?;
    let ["batched", dialect, keys, size, pause, target, parallel] =
        line.split(' ').collect::<Vec<_>>()[..]
    else {
        return Err(format!("expected `batched ...`, found `{line}`"));
    };
    let dialect = Dialect::ALL
        .into_iter()
        .find(|d| d.name() == dialect)
        .ok_or_else(|| format!("`{dialect}` is not a dialect"))?;
    let micros = |s: &str| {
        s.parse()
            .map(Duration::from_micros)
            .map_err(|_| format!("`{s}` is not a duration"))
    };
    let batching = Batching {
        batch_size: size
            .parse()
            .map_err(|_| format!("`{size}` is not a batch size"))?,
        pause: micros(pause)?,
        target_batch_time: match target {
            "-" => None,
            target => Some(micros(target)?),
        },
        parallel: parallel
            .parse()
            .map_err(|_| format!("`{parallel}` is not a number of slices"))?,
    };
    let mut key = Vec::new();
    for _ in 0..number(keys)? {
        let line = reader.line()?;
        let ["key", numeric, len] = line.split(' ').collect::<Vec<_>>()[..] else {
            return Err(format!("expected `key ...`, found `{line}`"));
        };
        key.push(KeyColumn {
            number: boolean(numeric)?,
            name: reader.exact(number(len)?)?.to_owned(),
        });
    }
    fn text(reader: &mut Reader<'_>, label: &str) -> Result<String, String> {
        let line = reader.line()?;
        match line.split(' ').collect::<Vec<_>>()[..] {
            [found, len] if found == label => Ok(reader.exact(number(len)?)?.to_owned()),
            _ => Err(format!("expected `{label} ...`, found `{line}`")),
        }
    }
    let table = text(reader, "table")?;
    let set = text(reader, "set")?;
    let only = match reader.rest.starts_with("only ") {
        true => Some(text(reader, "only")?),
        false => None,
    };
    let copy = match reader.rest.starts_with("copy ") {
        true => {
            let into = text(reader, "copy")?;
            let mut list = |label: &str, item: &str| -> Result<Vec<String>, String> {
                let line = reader.line()?;
                let [found, n] = line.split(' ').collect::<Vec<_>>()[..] else {
                    return Err(format!("expected `{label} ...`, found `{line}`"));
                };
                if found != label {
                    return Err(format!("expected `{label} ...`, found `{line}`"));
                }
                (0..number(n)?).map(|_| text(reader, item)).collect()
            };
            let columns = list("columns", "column")?;
            let setup = list("setup", "stmt")?;
            Some(Box::new(crate::render::CopyRows {
                into,
                columns,
                setup,
            }))
        }
        false => None,
    };
    Ok(BatchedUpdate {
        dialect,
        table,
        key,
        set,
        only,
        batching,
        copy,
    })
}

struct Reader<'a> {
    rest: &'a str,
}

impl<'a> Reader<'a> {
    fn line(&mut self) -> Result<&'a str, String> {
        let end = self
            .rest
            .find('\n')
            .ok_or("the text ends in the middle of a line")?;
        let line = &self.rest[..end];
        self.rest = &self.rest[end + 1..];
        Ok(line)
    }

    /// `len` bytes followed by a newline.
    fn exact(&mut self, len: usize) -> Result<&'a str, String> {
        let text = self
            .rest
            .get(..len)
            .filter(|_| self.rest.as_bytes().get(len) == Some(&b'\n'))
            .ok_or("a length does not match the text that follows it")?;
        self.rest = &self.rest[len + 1..];
        Ok(text)
    }
}

fn number(s: &str) -> Result<usize, String> {
    s.parse().map_err(|_| format!("`{s}` is not a count"))
}

fn boolean(s: &str) -> Result<bool, String> {
    match s {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(format!("`{s}` is not 0 or 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_any_sql() {
        let down = StoredDown {
            explicit: false,
            units: vec![
                StoredUnit::Sql(vec![RenderedOp {
                    statements: vec![
                        Statement {
                            sql: "DROP TABLE \"x\n\"; -- stmt 0 4\nunit".into(),
                            expect_no_rows: false,
                            unless_exists: Some("SELECT 1\nunless 3".into()),
                            check: None,
                            reports_plan: false,
                        },
                        Statement {
                            sql: "PRAGMA foreign_key_check".into(),
                            expect_no_rows: true,
                            unless_exists: None,
                            check: None,
                            reports_plan: false,
                        },
                    ],
                    outside_transaction: false,
                    foreign_keys_off: true,
                    leftover: None,
                    batched: None,
                    in_transaction: false,
                }]),
                StoredUnit::Sql(vec![RenderedOp {
                    outside_transaction: true,
                    batched: Some(BatchedUpdate {
                        dialect: Dialect::Mysql,
                        table: "us\ners".into(),
                        key: vec![
                            KeyColumn {
                                name: "tenant".into(),
                                number: false,
                            },
                            KeyColumn {
                                name: "id\n".into(),
                                number: true,
                            },
                        ],
                        set: "`a` = CONCAT(b, '\nonly 3')".into(),
                        only: Some("a IS NULL".into()),
                        copy: Some(Box::new(crate::render::CopyRows {
                            into: "co\npy".into(),
                            columns: vec!["a".into(), "b\nc".into()],
                            setup: vec!["CREATE TABLE x (\n  a int\n)".into()],
                        })),
                        batching: Batching {
                            batch_size: 250,
                            pause: Duration::from_millis(15),
                            target_batch_time: Some(Duration::from_micros(1500)),
                            parallel: 4,
                        },
                    }),
                    ..RenderedOp::default()
                }]),
                StoredUnit::Irreversible("raw SQL has no reverse\nat all".into()),
                StoredUnit::Rust("copy names — ünïcode".into()),
                StoredUnit::Sql(vec![]),
            ],
        };
        assert_eq!(StoredDown::decode(&down.encode()).unwrap(), down);
    }

    #[test]
    fn damaged_text_is_an_error_not_a_panic() {
        let text = StoredDown {
            explicit: true,
            units: vec![StoredUnit::Rust("é".into())],
        }
        .encode();
        for cut in 0..text.len() {
            if text.is_char_boundary(cut) {
                assert!(StoredDown::decode(&text[..cut]).is_err(), "cut at {cut}");
            }
        }
        assert!(StoredDown::decode("godwit-down v2 derived 0\n").is_err());
        assert!(StoredDown::decode("godwit-down v1 derived 1\nunit rust 99\nx\n").is_err());
    }
}
