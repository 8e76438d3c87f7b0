//! Typed errors of the graph: building it, parsing a target, and planning.

use std::fmt::Write as _;

use thiserror::Error;

use super::Direction;

/// The graph could not be built from the given migrations.
///
/// With `#[migration]` only [`GraphError::DuplicateId`] can happen (and [`crate::registry`]
/// reports it first, with source locations); the others come from graphs built from plain data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GraphError {
    #[error("invalid migration id: {reason}")]
    InvalidId { id: String, reason: String },

    #[error("two migrations have the id `{id}`; ids must be unique")]
    DuplicateId { id: String },

    #[error("migration `{id}` depends on `{dependency}`, which is not a known migration")]
    UnknownDependency { id: String, dependency: String },

    #[error("migration `{id}` depends on itself; remove `{id}` from its dependencies")]
    SelfDependency { id: String },

    #[error("migration `{id}` lists `{dependency}` twice in its dependencies")]
    DuplicateDependency { id: String, dependency: String },

    #[error("{count} migrations are more than a graph can hold")]
    TooLarge { count: usize },

    /// `cycle[0]` comes after `cycle[1]`, which comes after `cycle[2]`, ..., which comes after
    /// `cycle[0]`. Rotated so that the smallest id is first.
    #[error("dependency cycle: {}; remove one of these dependencies", describe_cycle(.cycle))]
    Cycle { cycle: Vec<String> },
}

fn describe_cycle(cycle: &[String]) -> String {
    let mut s = String::new();
    for (i, id) in cycle.iter().enumerate() {
        let next = &cycle[(i + 1) % cycle.len()];
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "`{id}` is after `{next}`");
    }
    s
}

/// A target string (`heads`, `head`, `base`, an id or prefix, `+N`, `-N`, `id+N`, `id-N`) that
/// does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseTargetError {
    #[error(
        "empty target; expected `heads`, `head`, `base`, a migration id or prefix, `+N`, `-N`, `<id>+N` or `<id>-N`"
    )]
    Empty,

    #[error("invalid step in target `{target}`: expected a number of at least 1 after `+` or `-`")]
    BadStep { target: String },

    #[error(
        "`{target}`: `heads` names every head and cannot take a step; use `head{step}` (one head) or `<id>{step}`"
    )]
    StepFromHeads { target: String, step: String },

    #[error("invalid target `{target}`: {reason}")]
    InvalidId { target: String, reason: String },
}

/// A target that cannot be resolved or a plan that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error("no migration has the id or id prefix `{target}`{}", did_you_mean(.suggestion))]
    UnknownTarget {
        target: String,
        suggestion: Option<String>,
    },

    #[error(
        "`{prefix}` is the prefix of several migrations: {}; give more characters",
        list(.candidates)
    )]
    AmbiguousPrefix {
        prefix: String,
        candidates: Vec<String>,
    },

    #[error(
        "`head` is ambiguous: there are {} heads, {}; target one of them by id, or all of them with `heads`",
        .heads.len(),
        list(.heads)
    )]
    MultipleHeads { heads: Vec<String> },

    #[error(
        "`{target}` is ambiguous: {} has several {}, {}; name the one you mean",
        at_point(.at),
        match .direction { Direction::Up => "children", Direction::Down => "parents" },
        list(.candidates)
    )]
    AmbiguousStep {
        target: String,
        /// The id the walk was at, or `None` for base.
        at: Option<String>,
        direction: Direction,
        candidates: Vec<String>,
    },

    #[error("`{target}` goes past {}", past(.reached, *.direction))]
    OutOfRange {
        target: String,
        /// The id where the walk stopped, or `None` for base.
        reached: Option<String>,
        direction: Direction,
    },

    #[error("`+{steps}` asks for {steps} migrations but only {pending} are pending")]
    NotEnoughPending { steps: usize, pending: usize },

    #[error("`-{steps}` asks to revert {steps} migrations but only {applied} are applied")]
    NotEnoughApplied { steps: usize, applied: usize },

    #[error(
        "`{target}` is a{} target; it cannot be used to {}",
        match .direction { Direction::Up => " downgrade", Direction::Down => "n upgrade" },
        match .direction { Direction::Up => "upgrade", Direction::Down => "downgrade" }
    )]
    WrongDirection {
        target: String,
        direction: Direction,
    },

    #[error("the relative target `{target}` cannot be combined with other targets")]
    RelativeWithOthers { target: String },

    #[error("`{target}` is relative to what is applied; use it in an upgrade or downgrade plan")]
    RelativeNeedsPlan { target: String },

    #[error("no target given; use `heads` to upgrade everything or `base` to downgrade everything")]
    NoTarget,

    #[error(
        "cannot downgrade to `{id}`: it is not applied (downgrading to it would revert everything else); upgrade to it instead"
    )]
    TargetNotApplied { id: String },

    #[error(
        "the database records migrations that this program does not know: {}; is the crate that defines them linked into this binary (`use my_migrations as _;`)?",
        list(.ids)
    )]
    UnknownApplied { ids: Vec<String> },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
}

fn at_point(at: &Option<String>) -> String {
    match at {
        Some(id) => format!("`{id}`"),
        None => "base".into(),
    }
}

fn past(reached: &Option<String>, direction: Direction) -> String {
    match (reached, direction) {
        (Some(id), Direction::Up) => format!("`{id}`, which is a head"),
        (Some(id), Direction::Down) => format!("base (`{id}` is a base)"),
        (None, Direction::Down) => "base".into(),
        (None, Direction::Up) => "base: there are no migrations".into(),
    }
}

/// "`a`, `b`, `c`", at most ten names, then "and N more".
pub(crate) fn list(ids: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut s = String::new();
    for (i, id) in ids.iter().take(SHOWN).enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "`{id}`");
    }
    if ids.len() > SHOWN {
        let _ = write!(s, " and {} more", ids.len() - SHOWN);
    }
    s
}
