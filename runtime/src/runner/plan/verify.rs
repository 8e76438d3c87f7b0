//! The offline proof `check` gives: every migration, in graph order, planned up from the
//! state the ones before it leave, and right after it, planned down as `down` would revert it.
//! The same planning as `up` and `down`, so what passes here is what they run.

use super::Planner;
use super::replay::Replay;
use crate::runner::error::RunError;

/// Why a migration fails the proof.
pub(crate) struct Finding {
    /// `migration` (it does not apply), `irreversible` (an op cannot be reverted), `down` (its
    /// explicit `down` does not apply).
    pub kind: &'static str,
    pub id: String,
    pub message: String,
}

impl Planner<'_> {
    /// Stops at the first migration that does not apply: later ones build on it, and their
    /// errors would only echo it.
    pub(crate) fn verify(&self) -> Vec<Finding> {
        let mut replay = Replay::default();
        let mut findings = Vec::new();
        for (seq, id) in self.graph.order().enumerate() {
            let finding = |kind, error: RunError| Finding {
                kind,
                id: id.to_owned(),
                message: describe(error),
            };
            if let Err(error) = self.upgrade_job(id, None, &mut replay, seq as i64) {
                findings.push(finding("migration", error));
                break;
            }
            // Reverting it right after it applied: what `down` plans when it is the last.
            let mut after = Replay {
                schema: replay.schema.clone(),
                inverses: replay.inverses.remove_entry(id).into_iter().collect(),
                ..Replay::default()
            };
            let row = &self.applied_rows([id])[0];
            if let Err(error) = self.revert_job(row, &mut after) {
                let (kind, message) = match (self.entry(id).down(), error) {
                    (Some(_), RunError::Model { source, .. }) => {
                        ("down", format!("its `down` does not apply: {source}"))
                    }
                    (None, RunError::Model { source, .. }) => (
                        "irreversible",
                        format!("its revert cannot run here: {source}; write a `down`"),
                    ),
                    (Some(_), error) => ("down", describe(error)),
                    (None, error) => ("irreversible", describe(error)),
                };
                findings.push(Finding {
                    kind,
                    id: id.to_owned(),
                    message,
                });
            }
        }
        findings
    }
}

/// The error without the migration it names: a finding names it already.
fn describe(error: RunError) -> String {
    match error {
        RunError::Model { source, .. } => source.to_string(),
        RunError::Irreversible {
            index, op, reason, ..
        } => format!("op {index} `{op}` cannot be reverted: {reason}"),
        RunError::CannotRevert { reason, .. } => reason,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::op::Dialect;
    use crate::registry::MigrationEntry;
    use crate::runner::fixtures::{Fixture, entry};

    fn findings(entries: Vec<MigrationEntry>) -> Vec<(&'static str, String, String)> {
        let fixture = Fixture::new(entries);
        let planner = fixture.planner(Dialect::Postgres);
        planner
            .verify()
            .into_iter()
            .map(|f| (f.kind, f.id, f.message))
            .collect()
    }

    #[test]
    fn what_down_could_not_revert_is_found_and_the_first_failure_stops_the_walk() {
        let found = findings(vec![
            entry("v1", &[], |m| {
                m.create_table("users", |t| {
                    t.id("id");
                });
            }),
            // Hand-written SQL without a reverse: `down` would refuse it.
            entry("v2", &["v1"], |m| {
                m.sql("UPDATE users SET id = id");
            }),
            // An explicit `down` that drops what is not there.
            entry("v3", &["v2"], |m| {
                m.create_table("posts", |t| {
                    t.id("id");
                });
            })
            .with_down(|m| m.drop_table("nothing")),
            // Does not apply: later migrations would only echo it.
            entry("v4", &["v3"], |m| m.drop_table("missing")),
            entry("v5", &["v4"], |m| m.drop_table("missing_too")),
        ]);
        let kinds: Vec<(&str, &str)> = found.iter().map(|(k, id, _)| (*k, id.as_str())).collect();
        assert_eq!(
            kinds,
            [("irreversible", "v2"), ("down", "v3"), ("migration", "v4")],
            "{found:#?}"
        );
        assert!(found[0].2.contains("op 1"), "{}", found[0].2);
        assert!(
            found[1].2.contains("its `down`") && found[1].2.contains("nothing"),
            "{}",
            found[1].2
        );
        assert!(found[2].2.contains("missing"), "{}", found[2].2);
    }
}
