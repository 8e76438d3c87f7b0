//! Targets of an upgrade or a downgrade, as users write them.
//!
//! ```text
//! heads           every head
//! head            the only head (an error lists the heads if there are several)
//! base            before every migration
//! <id>            a migration, by id or by a unique prefix of its id
//! +N / -N         the next N pending migrations / the last N applied ones
//! <anchor>+N      N steps after an anchor, following the only child at each step
//! <anchor>-N      N steps before it, following the only parent (`-1` from a base is `base`)
//! ```
//!
//! where `<anchor>` is `head`, `base` or an id/prefix. Ids cannot contain `+` or `-`, so the
//! grammar is unambiguous.

use std::fmt;
use std::str::FromStr;

use super::ParseTargetError;
use super::check_id;

/// Where an upgrade or a downgrade goes. Parse one with [`str::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `heads`: every head of the graph.
    Heads,
    /// `+N`: the next `N` pending migrations, in plan order (upgrade only).
    Forward(usize),
    /// `-N`: the last `N` applied migrations, in reverse plan order (downgrade only).
    Back(usize),
    /// A point, possibly moved by whole steps: `head`, `base`, `<id>`, `<id>+N`, `head-N`, ...
    Point { anchor: Anchor, offset: isize },
}

/// The start of a [`Target::Point`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Anchor {
    /// The only head.
    Head,
    /// Before every migration.
    Base,
    /// A migration id, or a prefix matching exactly one id (an exact id wins over a prefix).
    Id(String),
}

impl Target {
    /// `head`.
    pub fn head() -> Self {
        Target::Point {
            anchor: Anchor::Head,
            offset: 0,
        }
    }

    /// `base`.
    pub fn base() -> Self {
        Target::Point {
            anchor: Anchor::Base,
            offset: 0,
        }
    }

    /// A migration by id or unique id prefix.
    pub fn id(id: impl Into<String>) -> Self {
        Target::Point {
            anchor: Anchor::Id(id.into()),
            offset: 0,
        }
    }
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anchor::Head => f.write_str("head"),
            Anchor::Base => f.write_str("base"),
            Anchor::Id(id) => f.write_str(id),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Heads => f.write_str("heads"),
            Target::Forward(n) => write!(f, "+{n}"),
            Target::Back(n) => write!(f, "-{n}"),
            Target::Point { anchor, offset } => match offset {
                0 => write!(f, "{anchor}"),
                n if *n > 0 => write!(f, "{anchor}+{n}"),
                n => write!(f, "{anchor}{n}"),
            },
        }
    }
}

impl FromStr for Target {
    type Err = ParseTargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ParseTargetError::Empty);
        }
        let step = |digits: &str| -> Result<usize, ParseTargetError> {
            match digits.parse::<usize>() {
                Ok(n) if n >= 1 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
                _ => Err(ParseTargetError::BadStep { target: s.into() }),
            }
        };
        if let Some(digits) = s.strip_prefix('+') {
            return Ok(Target::Forward(step(digits)?));
        }
        if let Some(digits) = s.strip_prefix('-') {
            return Ok(Target::Back(step(digits)?));
        }
        let (anchor, offset) = match s.rfind(['+', '-']) {
            Some(at) => {
                let n = step(&s[at + 1..])?;
                let n = isize::try_from(n)
                    .map_err(|_| ParseTargetError::BadStep { target: s.into() })?;
                let signed = if s.as_bytes()[at] == b'+' { n } else { -n };
                (&s[..at], signed)
            }
            None => (s, 0),
        };
        let anchor = match anchor {
            "heads" if offset == 0 => return Ok(Target::Heads),
            "heads" => {
                return Err(ParseTargetError::StepFromHeads {
                    target: s.into(),
                    step: s[anchor.len()..].into(),
                });
            }
            "head" => Anchor::Head,
            "base" => Anchor::Base,
            id => {
                check_id(id).map_err(|reason| ParseTargetError::InvalidId {
                    target: s.into(),
                    reason,
                })?;
                Anchor::Id(id.into())
            }
        };
        Ok(Target::Point { anchor, offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Target, ParseTargetError> {
        s.parse()
    }

    fn point(anchor: Anchor, offset: isize) -> Target {
        Target::Point { anchor, offset }
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(parse("heads"), Ok(Target::Heads));
        assert_eq!(parse("head"), Ok(Target::head()));
        assert_eq!(parse(" base "), Ok(Target::base()));
        assert_eq!(parse("ae1027"), Ok(Target::id("ae1027")));
        assert_eq!(parse("+2"), Ok(Target::Forward(2)));
        assert_eq!(parse("-1"), Ok(Target::Back(1)));
        assert_eq!(parse("ae10+2"), Ok(point(Anchor::Id("ae10".into()), 2)));
        assert_eq!(parse("ae10-3"), Ok(point(Anchor::Id("ae10".into()), -3)));
        assert_eq!(parse("head-1"), Ok(point(Anchor::Head, -1)));
        assert_eq!(parse("base+2"), Ok(point(Anchor::Base, 2)));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "heads", "head", "base", "a_b.c", "+3", "-2", "x+1", "x-4", "head-2", "base+1",
        ] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_malformed_targets() {
        assert_eq!(parse("  "), Err(ParseTargetError::Empty));
        for bad in [
            "+", "-", "+0", "a+", "a-0", "a+x", "++1", "a+-1", "+ 1", "a+1+2",
        ] {
            assert!(
                matches!(
                    parse(bad),
                    Err(ParseTargetError::BadStep { .. } | ParseTargetError::InvalidId { .. })
                ),
                "{bad}: {:?}",
                parse(bad)
            );
        }
        assert_eq!(
            parse("heads-1").unwrap_err().to_string(),
            "`heads-1`: `heads` names every head and cannot take a step; use `head-1` (one head) or `<id>-1`"
        );
        assert_eq!(
            parse("create users").unwrap_err().to_string(),
            "invalid target `create users`: `create users` contains ` `; use letters, digits, `_` and `.`"
        );
        assert!(matches!(
            parse("+99999999999999999999999"),
            Err(ParseTargetError::BadStep { .. })
        ));
    }
}
