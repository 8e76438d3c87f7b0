use thiserror::Error;

/// An op that does not fit the schema it is applied to.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{op}: {kind}")]
pub struct SchemaError {
    /// The op, described with its subject (see [`crate::Op::describe`]).
    pub op: String,
    pub kind: SchemaErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaErrorKind {
    #[error("table `{0}` does not exist")]
    UnknownTable(String),
    #[error("table `{table}` has no column `{column}`")]
    UnknownColumn { table: String, column: String },
    #[error("table `{table}` has no {what} named `{name}`")]
    UnknownObject {
        table: String,
        what: &'static str,
        name: String,
    },
    #[error("enum type `{0}` does not exist; create it first with `create_enum`")]
    UnknownEnum(String),
    #[error("enum type `{name}` has no value `{value}`")]
    UnknownEnumValue { name: String, value: String },
    #[error("table `{0}` already exists")]
    DuplicateTable(String),
    #[error("table `{table}` already has a column `{column}`")]
    DuplicateColumn { table: String, column: String },
    #[error(
        "the name `{name}` is already used by {existing}; index and constraint names must be unique in the schema"
    )]
    DuplicateName { name: String, existing: String },
    #[error("enum type `{0}` already exists")]
    DuplicateEnum(String),
    #[error("enum type `{name}` already has the value `{value}`")]
    DuplicateEnumValue { name: String, value: String },
    #[error("{what} lists column `{column}` twice")]
    RepeatedColumn { what: String, column: String },
    #[error("invalid identifier {name:?}: {reason}")]
    InvalidIdentifier { name: String, reason: String },
    #[error("column `{table}`.`{column}` is still used by {user}; {fix}")]
    ColumnInUse {
        table: String,
        column: String,
        user: String,
        fix: String,
    },
    #[error("table `{table}` is still referenced by {user}; drop that foreign key first")]
    TableInUse { table: String, user: String },
    #[error("{key} of table `{table}` is still referenced by {user}; drop that foreign key first")]
    KeyInUse {
        table: String,
        key: String,
        user: String,
    },
    #[error("enum type `{name}` is still used by {user}")]
    EnumInUse { name: String, user: String },
    #[error("{0}")]
    Invalid(String),
}
