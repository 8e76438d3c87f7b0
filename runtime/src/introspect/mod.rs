//! Reading a live database's schema into a [`Catalog`], and the catalog the schema model expects
//! on a dialect, so the two can be compared (tests, drift detection).
//!
//! A catalog holds what each dialect can report faithfully: where a database does not keep a
//! name (MySQL primary keys, SQLite unique constraints and foreign keys), the name is `None` on
//! both sides.

// Plain SQL over a `Connection`: compiled whatever the features, dispatched to by those on.
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
mod mysql;
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
mod postgres;
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
mod sqlite;

use std::collections::{BTreeMap, BTreeSet};

use crate::db::{Connection, DbError};
use crate::op::{
    BoundValue, Column, ColumnType, DefaultValue, Dialect, Literal, PartitionBound,
    PartitionMethod, Partitioning, ReferentialAction, Table,
};
use crate::schema::Schema;

/// A dialect-specific, comparable description of a schema.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Catalog {
    pub tables: BTreeMap<String, CatalogTable>,
    /// Native enum types (PostgreSQL only), with their values in order.
    pub enums: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogTable {
    pub columns: Vec<CatalogColumn>,
    /// Name (where the dialect keeps it) and columns in key order.
    pub primary_key: Option<(Option<String>, Vec<String>)>,
    pub uniques: BTreeSet<(Option<String>, Vec<String>)>,
    pub indexes: BTreeSet<CatalogIndex>,
    pub checks: BTreeSet<String>,
    pub foreign_keys: BTreeSet<CatalogForeignKey>,
    /// The names of the triggers on it (not PostgreSQL's internal ones).
    pub triggers: BTreeSet<String>,
    pub partitioning: Option<CatalogPartitioning>,
}

/// A partitioned table's method (`RANGE`, `LIST`, `HASH`), columns and partitions, each with
/// its bound in a canonical text ([`canonical_bound`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogPartitioning {
    pub method: String,
    pub columns: Vec<String>,
    pub partitions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogColumn {
    pub name: String,
    /// The native type as the database reports it.
    pub ty: String,
    pub nullable: bool,
    /// The default, normalized (see [`normalize_default`]).
    pub default: Option<String>,
    pub auto_increment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CatalogIndex {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    pub partial: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CatalogForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    pub on_delete: String,
    pub on_update: String,
}

/// Reads the schema of the connected database (the current schema / database), leaving out
/// `exclude_tables` (e.g. the history table).
pub async fn introspect(
    conn: &mut Connection,
    exclude_tables: &[&str],
) -> Result<Catalog, DbError> {
    let mut catalog = match conn {
        #[cfg(feature = "postgres")]
        Connection::Postgres(_) => postgres::introspect(conn).await?,
        #[cfg(feature = "mysql")]
        Connection::Mysql(_) => mysql::introspect(conn).await?,
        #[cfg(feature = "sqlite")]
        Connection::Sqlite(_) => sqlite::introspect(conn).await?,
    };
    // What godwit keeps for itself (a conversion's copies and the triggers feeding them) is
    // no part of the schema.
    let reserved = |name: &str| name.starts_with(crate::schema::RESERVED_PREFIX);
    catalog
        .tables
        .retain(|name, _| !exclude_tables.contains(&name.as_str()) && !reserved(name));
    for table in catalog.tables.values_mut() {
        table.triggers.retain(|name| !reserved(name));
    }
    Ok(catalog)
}

impl Catalog {
    /// What introspecting `dialect` should find after the ops that built `schema`.
    pub fn expected(schema: &Schema, dialect: Dialect) -> Catalog {
        let mut catalog = Catalog::default();
        for t in schema.tables() {
            catalog
                .tables
                .insert(t.name.clone(), CatalogTable::expected(schema, t, dialect));
        }
        if dialect == Dialect::Postgres {
            for (name, values) in schema.enums() {
                catalog.enums.insert(name.to_owned(), values.to_vec());
            }
        }
        catalog
    }

    /// A readable list of the differences from `other`, empty when they are equal.
    pub fn diff(&self, other: &Catalog) -> Vec<String> {
        let mut out = Vec::new();
        for (name, table) in &self.tables {
            match other.tables.get(name) {
                None => out.push(format!("table `{name}` only on the left")),
                Some(o) if o != table => out.push(format!(
                    "table `{name}` differs:\n  left:  {table:?}\n  right: {o:?}"
                )),
                Some(_) => {}
            }
        }
        for name in other
            .tables
            .keys()
            .filter(|n| !self.tables.contains_key(*n))
        {
            out.push(format!("table `{name}` only on the right"));
        }
        if self.enums != other.enums {
            out.push(format!(
                "enum types differ:\n  left:  {:?}\n  right: {:?}",
                self.enums, other.enums
            ));
        }
        out
    }
}

/// One way the live schema differs from the model's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The table, or `None` for an enum type.
    pub table: Option<String>,
    /// What differs, in words: `column "nickname" is in the database, not in the model`.
    pub what: String,
}

/// `table: what`.
impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.table {
            Some(table) => write!(f, "{table}: {}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

impl Catalog {
    /// How the live catalog `live` differs from this expected one, object by object; column
    /// order aside (a revert re-adds a dropped column last).
    pub fn differences(&self, live: &Catalog) -> Vec<Difference> {
        let mut out = Vec::new();
        let at = |table: &str, what: String| Difference {
            table: Some(table.to_owned()),
            what,
        };
        for (name, expected) in &self.tables {
            match live.tables.get(name) {
                None => out.push(at(
                    name,
                    "the table is in the model, not in the database".into(),
                )),
                Some(found) => out.extend(
                    expected
                        .differences(found)
                        .into_iter()
                        .map(|what| at(name, what)),
                ),
            }
        }
        for name in live.tables.keys().filter(|n| !self.tables.contains_key(*n)) {
            out.push(at(
                name,
                "the table is in the database, not in the model".into(),
            ));
        }
        for (name, values) in &self.enums {
            match live.enums.get(name) {
                None => out.push(Difference {
                    table: None,
                    what: format!("enum type \"{name}\" is in the model, not in the database"),
                }),
                Some(found) if found != values => out.push(Difference {
                    table: None,
                    what: format!(
                        "enum type \"{name}\" has the values {found:?} in the database, {values:?} in the model"
                    ),
                }),
                Some(_) => {}
            }
        }
        for name in live.enums.keys().filter(|n| !self.enums.contains_key(*n)) {
            out.push(Difference {
                table: None,
                what: format!("enum type \"{name}\" is in the database, not in the model"),
            });
        }
        out
    }
}

/// The differences between two sets of one kind of object, named by `describe`.
fn set_differences<T: Ord>(
    kind: &str,
    expected: &BTreeSet<T>,
    found: &BTreeSet<T>,
    describe: impl Fn(&T) -> String,
    out: &mut Vec<String>,
) {
    for item in expected.difference(found) {
        out.push(format!(
            "{kind} {} is in the model, not in the database",
            describe(item)
        ));
    }
    for item in found.difference(expected) {
        out.push(format!(
            "{kind} {} is in the database, not in the model",
            describe(item)
        ));
    }
}

impl CatalogTable {
    /// How `found` (the live table) differs from this expected one, in words.
    pub fn differences(&self, found: &CatalogTable) -> Vec<String> {
        let mut out = Vec::new();
        for column in &self.columns {
            match found.columns.iter().find(|c| c.name == column.name) {
                None => out.push(format!(
                    "column \"{}\" is in the model, not in the database",
                    column.name
                )),
                Some(live) => {
                    let mut field = |what: &str, model: String, database: String| {
                        if model != database {
                            out.push(format!(
                                "column \"{}\": {what} is {database} in the database, {model} in the model",
                                column.name
                            ));
                        }
                    };
                    field("the type", column.ty.clone(), live.ty.clone());
                    let null = |n: bool| if n { "NULL" } else { "NOT NULL" }.to_owned();
                    field("nullability", null(column.nullable), null(live.nullable));
                    let default = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".into());
                    field(
                        "the default",
                        default(&column.default),
                        default(&live.default),
                    );
                    let generated =
                        |g: bool| if g { "generated" } else { "not generated" }.to_owned();
                    field(
                        "auto-increment",
                        generated(column.auto_increment),
                        generated(live.auto_increment),
                    );
                }
            }
        }
        for column in found
            .columns
            .iter()
            .filter(|c| !self.columns.iter().any(|e| e.name == c.name))
        {
            out.push(format!(
                "column \"{}\" is in the database, not in the model",
                column.name
            ));
        }
        if self.primary_key != found.primary_key {
            out.push(format!(
                "the primary key is {:?} in the database, {:?} in the model",
                found.primary_key.as_ref().map(|(_, c)| c),
                self.primary_key.as_ref().map(|(_, c)| c)
            ));
        }
        let named = |name: &Option<String>, columns: &[String]| match name {
            Some(name) => format!("\"{name}\" ({})", columns.join(", ")),
            None => format!("({})", columns.join(", ")),
        };
        set_differences(
            "unique constraint",
            &self.uniques,
            &found.uniques,
            |(n, c)| named(n, c),
            &mut out,
        );
        set_differences(
            "index",
            &self.indexes,
            &found.indexes,
            |i| {
                format!(
                    "\"{}\" ({}){}{}",
                    i.name,
                    i.columns.join(", "),
                    if i.unique { ", unique" } else { "" },
                    if i.partial { ", partial" } else { "" }
                )
            },
            &mut out,
        );
        set_differences(
            "check",
            &self.checks,
            &found.checks,
            |c| format!("\"{c}\""),
            &mut out,
        );
        set_differences(
            "foreign key",
            &self.foreign_keys,
            &found.foreign_keys,
            |fk| {
                format!(
                    "{} -> {} ({}) on delete {} on update {}",
                    named(&fk.name, &fk.columns),
                    fk.ref_table,
                    fk.ref_columns.join(", "),
                    fk.on_delete,
                    fk.on_update
                )
            },
            &mut out,
        );
        set_differences(
            "trigger",
            &self.triggers,
            &found.triggers,
            |t| format!("\"{t}\""),
            &mut out,
        );
        match (&self.partitioning, &found.partitioning) {
            (Some(model), Some(live)) => {
                if (&model.method, &model.columns) != (&live.method, &live.columns) {
                    out.push(format!(
                        "partitioned by {} ({}) in the database, by {} ({}) in the model",
                        live.method,
                        live.columns.join(", "),
                        model.method,
                        model.columns.join(", ")
                    ));
                }
                let set = |p: &CatalogPartitioning| -> BTreeSet<(String, String)> {
                    p.partitions.clone().into_iter().collect()
                };
                set_differences(
                    "partition",
                    &set(model),
                    &set(live),
                    |(name, bound)| format!("\"{name}\" ({bound})"),
                    &mut out,
                );
            }
            (Some(_), None) => out.push("partitioned in the model, not in the database".into()),
            (None, Some(_)) => out.push("partitioned in the database, not in the model".into()),
            (None, None) => {}
        }
        out
    }

    /// How far apart two states of a table are: the columns, keys, indexes, checks and foreign
    /// keys one has and the other has not (or has otherwise); an absent table has none.
    pub(crate) fn distance(a: Option<&CatalogTable>, b: Option<&CatalogTable>) -> usize {
        let parts = |t: Option<&CatalogTable>| -> BTreeSet<String> {
            let Some(t) = t else {
                return BTreeSet::new();
            };
            let mut parts: BTreeSet<String> = t.columns.iter().map(|c| format!("{c:?}")).collect();
            parts.insert(format!("table, primary key {:?}", t.primary_key));
            parts.extend(t.uniques.iter().map(|u| format!("{u:?}")));
            parts.extend(t.indexes.iter().map(|i| format!("{i:?}")));
            parts.extend(t.checks.iter().map(|c| format!("check {c}")));
            parts.extend(t.foreign_keys.iter().map(|f| format!("{f:?}")));
            parts.extend(t.triggers.iter().map(|name| format!("trigger {name}")));
            parts.extend(t.partitioning.iter().map(|p| format!("{p:?}")));
            parts
        };
        parts(a).symmetric_difference(&parts(b)).count()
    }

    /// Whether introspecting `dialect` finds this table, named `name`, as it is on every
    /// server of the dialect. Not always on MySQL: a server may keep table names in lower
    /// case (`lower_case_table_names`), and MySQL (unlike MariaDB) reports string defaults
    /// without their quotes.
    pub(crate) fn reads_back(&self, name: &str, dialect: Dialect) -> bool {
        let lower_case = |name: &str| !name.chars().any(|c| c.is_ascii_uppercase());
        dialect != Dialect::Mysql
            || lower_case(name)
                && self.foreign_keys.iter().all(|fk| lower_case(&fk.ref_table))
                && self.columns.iter().all(mysql::default_reads_back)
    }

    /// What introspecting `dialect` should find of the model's table `t` in `schema`.
    pub fn expected(schema: &Schema, t: &Table, dialect: Dialect) -> CatalogTable {
        let mut table = CatalogTable {
            columns: t
                .columns
                .iter()
                .map(|c| CatalogColumn {
                    name: c.name.clone(),
                    ty: native_type(schema, c, dialect),
                    nullable: c.nullable,
                    default: c.default.as_ref().map(|d| expected_default(&c.ty, d)),
                    auto_increment: c.auto_increment,
                })
                .collect(),
            primary_key: t.primary_key.as_ref().map(|pk| {
                let name = (dialect == Dialect::Postgres).then(|| pk.name.clone());
                (name, pk.columns.clone())
            }),
            checks: t.checks.iter().map(|c| c.name.clone()).collect(),
            ..CatalogTable::default()
        };
        for u in &t.uniques {
            match dialect {
                Dialect::Postgres => {
                    table
                        .uniques
                        .insert((Some(u.name.clone()), u.columns.clone()));
                }
                // MySQL keeps a unique constraint as a unique index of the same name.
                Dialect::Mysql => {
                    table.indexes.insert(CatalogIndex {
                        name: u.name.clone(),
                        columns: u.columns.clone(),
                        unique: true,
                        partial: false,
                    });
                }
                Dialect::Sqlite => {
                    table.uniques.insert((None, u.columns.clone()));
                }
            }
        }
        for i in &t.indexes {
            table.indexes.insert(CatalogIndex {
                name: i.name.clone(),
                columns: i.columns.clone(),
                unique: i.unique,
                partial: i.predicate.is_some(),
            });
        }
        for trigger in &t.sync_triggers {
            match dialect {
                // One trigger for both events.
                Dialect::Postgres => {
                    table.triggers.insert(trigger.name.clone());
                }
                Dialect::Mysql | Dialect::Sqlite => {
                    for event in ["insert", "update"] {
                        table
                            .triggers
                            .insert(crate::render::event_trigger(&trigger.name, event));
                    }
                }
            }
        }
        table.partitioning = t
            .partitioning
            .as_ref()
            .map(|p| expected_partitioning(p, dialect));
        for fk in &t.foreign_keys {
            table.foreign_keys.insert(CatalogForeignKey {
                name: (dialect != Dialect::Sqlite).then(|| fk.name.clone()),
                columns: fk.columns.clone(),
                ref_table: fk.ref_table.clone(),
                ref_columns: fk.ref_columns.clone(),
                on_delete: action_name(fk.on_delete),
                on_update: action_name(fk.on_update),
            });
        }
        table
    }
}

/// What introspection reads of `partitioning` on `dialect`. MySQL keeps only the end of each
/// range partition: each starts where the one before ends, the first at MINVALUE.
fn expected_partitioning(partitioning: &Partitioning, dialect: Dialect) -> CatalogPartitioning {
    let text = |v: &BoundValue| match v {
        BoundValue::MinValue => "MINVALUE".to_owned(),
        BoundValue::MaxValue => "MAXVALUE".to_owned(),
        BoundValue::Value(Literal::String(s)) => canonical_value(s),
        BoundValue::Value(Literal::Int(i)) => i.to_string(),
        BoundValue::Value(Literal::Float(f)) => f.to_string(),
        BoundValue::Value(Literal::Bool(b)) => b.to_string(),
    };
    let row = |values: &[BoundValue]| values.iter().map(text).collect::<Vec<_>>();
    let mut partitions: Vec<(&str, PartitionBound)> = partitioning
        .partitions
        .iter()
        .map(|p| (p.name.as_str(), p.bound.clone()))
        .collect();
    if dialect == Dialect::Mysql && partitioning.method == PartitionMethod::Range {
        // The renderer refuses ranges that do not follow one another; sorted by their end,
        // each one's start is the end before it.
        let to = |b: &PartitionBound| match b {
            PartitionBound::Range { to, .. } => to.clone(),
            _ => Vec::new(),
        };
        partitions.sort_by(|(_, a), (_, b)| crate::schema::compare_bound_rows(&to(a), &to(b)));
        if let Some((_, PartitionBound::Range { from, .. })) = partitions.first_mut() {
            from.iter_mut().for_each(|v| *v = BoundValue::MinValue);
        }
    }
    CatalogPartitioning {
        method: partitioning.method.sql().to_owned(),
        columns: partitioning.columns.clone(),
        partitions: partitions
            .into_iter()
            .map(|(name, bound)| {
                let bound = match bound {
                    PartitionBound::Range { from, to } => canonical_range(&row(&from), &row(&to)),
                    PartitionBound::List(values) => canonical_list(
                        values
                            .iter()
                            .map(|v| text(&BoundValue::Value(v.clone())))
                            .collect(),
                    ),
                    PartitionBound::Hash { modulus, remainder } => {
                        canonical_hash(modulus, remainder)
                    }
                    PartitionBound::Default => "DEFAULT".to_owned(),
                };
                (name.to_owned(), bound)
            })
            .collect(),
    }
}

pub(crate) fn canonical_range(from: &[String], to: &[String]) -> String {
    format!("FROM ({}) TO ({})", from.join(", "), to.join(", "))
}

pub(crate) fn canonical_list(mut values: Vec<String>) -> String {
    values.sort();
    format!("IN ({})", values.join(", "))
}

pub(crate) fn canonical_hash(
    modulus: impl std::fmt::Display,
    remainder: impl std::fmt::Display,
) -> String {
    format!("MODULUS {modulus} REMAINDER {remainder}")
}

/// The values of a bound as a database spells them (`'2026-01-01 00:00:00+00', MAXVALUE`),
/// each canonical ([`canonical_value`]); `backslashes`: a backslash escapes the next character
/// (MySQL's spelling).
pub(crate) fn canonical_bound_values(list: &str, backslashes: bool) -> Vec<String> {
    let mut values = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = list.chars().peekable();
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' if quoted && chars.peek() == Some(&'\'') => {
                current.push('\'');
                chars.next();
            }
            '\\' if quoted && backslashes => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            '\'' => {
                quoted = !quoted;
                was_quoted = true;
            }
            ',' if !quoted => {
                values.push(finish_value(&current, was_quoted));
                current.clear();
                was_quoted = false;
            }
            c => current.push(c),
        }
    }
    if !current.trim().is_empty() || was_quoted {
        values.push(finish_value(&current, was_quoted));
    }
    values
}

fn finish_value(raw: &str, was_quoted: bool) -> String {
    let mut value = raw.trim();
    // `'…'::date`: the cast is outside the quotes, so it is in `raw` after the value.
    if let Some(at) = value.find("::").filter(|_| was_quoted) {
        value = value[..at].trim_end();
    }
    if !was_quoted && matches!(value.to_ascii_uppercase().as_str(), "MINVALUE" | "MAXVALUE") {
        return value.to_ascii_uppercase();
    }
    canonical_value(value)
}

/// A bound value as every database reads back: a number without trailing zeros (`10.50` is
/// `10.5`), a time with an offset in UTC and without it, `T` between a date and its time a
/// space, and a date's midnight left out (`2026-01-01T00:00:00+01` is `2025-12-31 23:00:00`,
/// `2026-01-01 00:00:00` is `2026-01-01`).
pub(crate) fn canonical_value(value: &str) -> String {
    let v = value.trim();
    if let Some(number) = canonical_number(v) {
        return number;
    }
    let is_date = |d: &str| {
        d.len() == 10
            && d.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            })
    };
    if v.len() < 10 || !is_date(&v[..10]) {
        return v.to_owned();
    }
    let time = v[10..].trim_start_matches([' ', 'T']);
    let with_offset = time.len() > 8 && time[8..].contains(['+', '-', 'Z', 'z']);
    let mut text = match with_offset {
        true => match crate::canonical::timestamp_utc(v) {
            Ok(utc) => utc.trim_end_matches('Z').to_owned(),
            Err(_) => return v.to_owned(),
        },
        false if time.is_empty() => return v[..10].to_owned(),
        false => crate::canonical::trim_fraction(&format!("{} {time}", &v[..10])),
    };
    let midnight = text.len() > 10 && &text[11..] == "00:00:00";
    if midnight {
        text.truncate(10);
    }
    text
}

/// `-10.50` as `-10.5`, `3.0` as `3`: a decimal number without trailing zeros; `None` for
/// what is not one.
fn canonical_number(v: &str) -> Option<String> {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !is_digits(whole) || !is_digits(fraction) {
        return None;
    }
    let fraction = fraction.trim_end_matches('0');
    let sign = if v.starts_with('-') { "-" } else { "" };
    Some(match fraction {
        "" => format!("{sign}{whole}"),
        f => format!("{sign}{whole}.{f}"),
    })
}

fn native_type(schema: &Schema, c: &Column, dialect: Dialect) -> String {
    let _ = schema;
    match dialect {
        #[cfg(feature = "postgres")]
        Dialect::Postgres => crate::render::postgres_native_type(&c.ty),
        #[cfg(feature = "mysql")]
        Dialect::Mysql => {
            let values = match &c.ty {
                ColumnType::Enum(name) => schema.enum_values(name),
                _ => None,
            };
            normalize_mysql_type(&crate::render::mysql_native_type(&c.ty, values))
        }
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => crate::render::sqlite_native_type(c),
        // No database of a dialect this build leaves out is read: the model's own name.
        #[allow(unreachable_patterns)]
        _ => c.ty.to_string(),
    }
}

/// MariaDB reports integer display widths (`int(11)`) and stores JSON as `longtext`.
pub(crate) fn normalize_mysql_type(ty: &str) -> String {
    let ty = ty.to_ascii_lowercase();
    for int in ["smallint", "int", "bigint", "mediumint"] {
        if let Some(rest) = ty.strip_prefix(int)
            && rest.starts_with('(')
            && rest.ends_with(')')
            && rest[1..rest.len() - 1].bytes().all(|b| b.is_ascii_digit())
        {
            return int.to_owned();
        }
    }
    if ty == "json" {
        return "longtext".into();
    }
    ty
}

fn action_name(action: ReferentialAction) -> String {
    action.sql().to_owned()
}

fn expected_default(ty: &ColumnType, default: &DefaultValue) -> String {
    match default {
        DefaultValue::Literal(Literal::Bool(b)) => b.to_string(),
        DefaultValue::Literal(Literal::Int(i)) => normalize_number(&i.to_string(), ty),
        DefaultValue::Literal(Literal::Float(f)) => normalize_number(&f.to_string(), ty),
        DefaultValue::Literal(Literal::String(s)) => s.clone(),
        DefaultValue::Now => "now()".into(),
        // Databases rewrite expressions; only their presence is compared.
        DefaultValue::Expr(_) => "(expression)".into(),
    }
}

fn normalize_number(n: &str, ty: &ColumnType) -> String {
    match (ty, n.parse::<f64>()) {
        (ColumnType::Boolean, Ok(v)) => (v != 0.0).to_string(),
        (_, Ok(v)) => v.to_string(),
        _ => n.to_owned(),
    }
}

/// Normalizes a default as a database reports it: casts and quotes stripped from literals, the
/// spellings of the current timestamp unified, other expressions reduced to their presence.
pub(crate) fn normalize_default(raw: &str, ty: &ColumnType) -> String {
    let mut s = raw.trim();
    // PostgreSQL: 'draft'::post_status, 'x'::character varying
    while let Some(at) = s.rfind("::") {
        let tail = &s[at + 2..];
        if tail.contains('\'') || tail.contains(')') && !tail.ends_with(')') {
            break;
        }
        s = s[..at].trim_end();
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "now()" | "current_timestamp" | "current_timestamp()" | "current_timestamp(6)"
    ) {
        return "now()".into();
    }
    let unquoted = s
        .strip_prefix("E'")
        .or_else(|| s.strip_prefix('\''))
        .and_then(|rest| rest.strip_suffix('\''));
    if let Some(inner) = unquoted {
        let value = inner.replace("''", "'").replace("\\'", "'");
        return match ty {
            ColumnType::Boolean => normalize_bool(&value).unwrap_or(value),
            t if t.is_integer()
                || matches!(
                    t,
                    ColumnType::Real | ColumnType::Double | ColumnType::Decimal(..)
                ) =>
            {
                normalize_number(&value, t)
            }
            _ => value,
        };
    }
    if let Some(b) = normalize_bool(&lower).filter(|_| *ty == ColumnType::Boolean) {
        return b;
    }
    let bare = lower.trim_start_matches('(').trim_end_matches(')');
    if bare.parse::<f64>().is_ok() {
        return normalize_number(bare, ty);
    }
    "(expression)".into()
}

fn normalize_bool(s: &str) -> Option<String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" => Some("true".into()),
        "false" | "0" => Some("false".into()),
        _ => None,
    }
}

/// A referential action as the databases spell it.
pub(crate) fn normalize_action(raw: &str) -> String {
    match raw {
        "a" => "NO ACTION",
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        other => other,
    }
    .to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_reads_back_what_its_reports_keep() {
        let with_default = |ty: &str, default: &str| CatalogTable {
            columns: vec![CatalogColumn {
                name: "c".into(),
                ty: ty.into(),
                nullable: true,
                default: Some(default.into()),
                auto_increment: false,
            }],
            ..CatalogTable::default()
        };
        let reads_back = |table: &CatalogTable| table.reads_back("t", Dialect::Mysql);
        for (ty, default) in [
            ("varchar(255)", "draft"),
            ("int", "0"),
            ("tinyint(1)", "true"),
            ("datetime", "now()"),
            ("varchar(255)", "(expression)"),
        ] {
            assert!(reads_back(&with_default(ty, default)), "{ty} {default}");
        }
        // MySQL reports these string defaults bare: NULL, an expression, a number.
        for default in ["NULL", "f(x)", "1.50"] {
            assert!(
                !reads_back(&with_default("varchar(255)", default)),
                "{default}"
            );
            assert!(with_default("varchar(255)", default).reads_back("t", Dialect::Postgres));
        }
        assert!(!CatalogTable::default().reads_back("Legacy", Dialect::Mysql));
        assert!(CatalogTable::default().reads_back("legacy", Dialect::Mysql));
    }

    #[test]
    fn defaults_normalize_across_dialects() {
        let text = ColumnType::Text;
        assert_eq!(normalize_default("'draft'::post_status", &text), "draft");
        assert_eq!(normalize_default("'it''s'::text", &text), "it's");
        assert_eq!(
            normalize_default("current_timestamp(6)", &ColumnType::Timestamp),
            "now()"
        );
        assert_eq!(
            normalize_default("CURRENT_TIMESTAMP", &ColumnType::Timestamp),
            "now()"
        );
        assert_eq!(normalize_default("1", &ColumnType::Boolean), "true");
        assert_eq!(normalize_default("false", &ColumnType::Boolean), "false");
        assert_eq!(
            normalize_default("1.50", &ColumnType::Decimal(10, 2)),
            "1.5"
        );
        assert_eq!(normalize_default("lower('X'::text)", &text), "(expression)");
        assert_eq!(
            normalize_default("(1 + 2)", &ColumnType::Integer),
            "(expression)"
        );
    }

    #[test]
    fn bound_values_read_back_alike() {
        for (written, read) in [
            ("2026-01-01", "2026-01-01"),
            ("2026-01-01 00:00:00", "2026-01-01"),
            ("2026-01-01T06:30:00", "2026-01-01 06:30:00"),
            ("2026-01-01 00:00:00+00", "2026-01-01"),
            ("2026-01-01 00:00:00+01", "2025-12-31 23:00:00"),
            ("2026-03-01 01:30:00-02:30", "2026-03-01 04:00:00"),
            ("2024-02-29 23:00:00.250-01", "2024-03-01 00:00:00.25"),
            ("10.00", "10"),
            ("-3.50", "-3.5"),
            ("100", "100"),
            ("eu", "eu"),
        ] {
            assert_eq!(canonical_value(written), read, "{written}");
        }
        assert_eq!(
            canonical_bound_values("'a\\\\b', 'it''s', MAXVALUE", true),
            ["a\\b", "it's", "MAXVALUE"]
        );
        assert_eq!(canonical_bound_values("'a\\b'", false), ["a\\b"]);
    }

    #[test]
    fn mysql_types_lose_display_widths() {
        assert_eq!(normalize_mysql_type("int(11)"), "int");
        assert_eq!(normalize_mysql_type("bigint(20)"), "bigint");
        assert_eq!(normalize_mysql_type("tinyint(1)"), "tinyint(1)");
        assert_eq!(normalize_mysql_type("decimal(10,2)"), "decimal(10,2)");
    }
}
