//! The process-wide registry of migrations.
//!
//! Every `#[migration]` submits one [`MigrationEntry`] with `inventory`; [`Registry::collect`]
//! gathers them, sorts them by id and rejects duplicate ids (naming both source locations)
//! before anything touches a database. [`Registry::graph`] then builds the [`Graph`].
//!
//! # Linking: a migrations crate must be referenced
//!
//! `inventory` registrations live in the crate that defines the migrations. A crate that the
//! final binary (your xtask, your server, a test) never names is not linked, and its migrations
//! **silently vanish** from the registry. Name the crate once, anywhere in the binary:
//!
//! ```ignore
//! use my_migrations as _; // links my_migrations' #[migration] functions
//!
//! let registry = godwit::registry::Registry::collect()?;
//! ```
//!
//! A dependency in `Cargo.toml` alone is not enough. Migrations that another crate's migration
//! names in `after = [...]` are always linked, because naming them references their crate.
//! Each test binary has its own registry: a test sees only the migrations linked into it.

use std::collections::HashMap;
use std::fmt;

use thiserror::Error;

use crate::graph::{Graph, GraphError, prefix_key, sort_by_prefix_key};
use crate::lint::Lint;
use crate::migration::Migration;
use crate::op::Dialect;

/// Where a migration is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    file: &'static str,
    line: u32,
    module_path: &'static str,
}

impl Location {
    pub const fn new(module_path: &'static str, file: &'static str, line: u32) -> Self {
        Location {
            file,
            line,
            module_path,
        }
    }

    pub fn module_path(&self) -> &'static str {
        self.module_path
    }

    pub fn file(&self) -> &'static str {
        self.file
    }

    pub fn line(&self) -> u32 {
        self.line
    }
}

/// `file:line (module path)`.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} ({})", self.file, self.line, self.module_path)
    }
}

/// One registered migration. `#[migration]` builds these; build them by hand only for tests.
#[derive(Clone, Copy)]
pub struct MigrationEntry {
    id: &'static str,
    after: &'static [&'static str],
    up: fn(&mut Migration),
    down: Option<fn(&mut Migration)>,
    transactional: bool,
    contract: bool,
    safe: bool,
    allows: &'static [(Lint, &'static str)],
    backup: Option<BackupScope>,
    location: Location,
}

/// What a backup before a migration holds (`#[migration(backup)]`, `backup(tables)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackupScope {
    /// The whole database.
    Database,
    /// The tables the migration's ops change or drop, as the model knows them; the whole
    /// database when it runs SQL the model cannot see into. SQLite backs up the whole file.
    Tables,
}

inventory::collect!(MigrationEntry);

/// Where a migration stands in an expand → contract change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// It keeps the code that runs now working: `up --expand` applies it.
    Expand,
    /// Marked `contract`: it removes what only the old code needed, once the new code runs
    /// everywhere. `up --expand` leaves it, and every migration after it, for `up`.
    Contract,
    /// It depends on a contract migration, so it waits with it.
    AfterContract,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Expand => "expand",
            Phase::Contract => "contract",
            Phase::AfterContract => "after contract",
        }
    }
}

impl MigrationEntry {
    /// A transactional migration without an explicit `down`.
    pub const fn new(
        id: &'static str,
        after: &'static [&'static str],
        up: fn(&mut Migration),
        location: Location,
    ) -> Self {
        MigrationEntry {
            id,
            after,
            up,
            down: None,
            transactional: true,
            contract: false,
            safe: false,
            allows: &[],
            backup: None,
            location,
        }
    }

    /// `contract`: the destructive half of an expand → contract change ([`Phase::Contract`]).
    pub const fn with_contract(mut self) -> Self {
        self.contract = true;
        self
    }

    /// Declared `contract`.
    pub fn is_contract(&self) -> bool {
        self.contract
    }

    /// `safe`: its ops run as their safe sequences ([`Migrator::safe`](crate::Migrator::safe)).
    pub const fn with_safe(mut self) -> Self {
        self.safe = true;
        self
    }

    /// Declared `safe`.
    pub fn is_safe(&self) -> bool {
        self.safe
    }

    /// `backup` / `backup(tables)`: a backup is taken before it runs.
    pub const fn with_backup(mut self, scope: BackupScope) -> Self {
        self.backup = Some(scope);
        self
    }

    /// What a backup before it holds, when it asks for one.
    pub fn backup(&self) -> Option<BackupScope> {
        self.backup
    }

    /// `allow(GW003 = "reason", …)`: the lint rules it silences, and why.
    pub const fn with_allows(mut self, allows: &'static [(Lint, &'static str)]) -> Self {
        self.allows = allows;
        self
    }

    /// The rules `allow(...)` silences, with their reasons.
    pub fn allows(&self) -> &'static [(Lint, &'static str)] {
        self.allows
    }

    /// Sets the explicit downgrade function (`down = ...`).
    pub const fn with_down(mut self, down: fn(&mut Migration)) -> Self {
        self.down = Some(down);
        self
    }

    /// `transactional = false`: run outside a transaction.
    pub const fn with_transactional(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }

    /// The stable id stored in the history table.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The ids of the dependencies, as declared.
    pub fn after(&self) -> &'static [&'static str] {
        self.after
    }

    pub fn up(&self) -> fn(&mut Migration) {
        self.up
    }

    /// The explicit downgrade function; `None` means "derive it from the schema model".
    pub fn down(&self) -> Option<fn(&mut Migration)> {
        self.down
    }

    /// `false` when declared `transactional = false`; `true` means "in a transaction where the
    /// dialect allows".
    pub fn is_transactional(&self) -> bool {
        self.transactional
    }

    pub fn location(&self) -> Location {
        self.location
    }

    /// Runs the migration function and returns what it recorded.
    pub fn record_up(&self, dialect: Dialect) -> Migration {
        let mut m = Migration::for_migration(self.id, dialect);
        (self.up)(&mut m);
        m
    }

    /// Runs the explicit downgrade function, if there is one.
    pub fn record_down(&self, dialect: Dialect) -> Option<Migration> {
        self.down.map(|down| {
            let mut m = Migration::for_migration(self.id, dialect);
            down(&mut m);
            m
        })
    }
}

impl fmt::Debug for MigrationEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MigrationEntry")
            .field("id", &self.id)
            .field("after", &self.after)
            .field("down", &self.down.is_some())
            .field("transactional", &self.transactional)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Several migrations registered under one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateId {
    pub id: &'static str,
    /// Every definition, sorted by file and line.
    pub locations: Vec<Location>,
}

impl fmt::Display for DuplicateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "migration id `{}` is registered {} times: ",
            self.id,
            self.locations.len()
        )?;
        for (i, location) in self.locations.iter().enumerate() {
            if i > 0 {
                f.write_str(" and ")?;
            }
            write!(f, "at {location}")?;
        }
        write!(
            f,
            "; ids default to the function name: give all but one an explicit `#[migration(id = \"...\")]`"
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryError {
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    DuplicateIds(Vec<DuplicateId>),
}

/// Every registered migration, sorted by id, ids unique.
#[derive(Debug, Clone)]
pub struct Registry {
    entries: Vec<MigrationEntry>,
}

impl Registry {
    /// Collects the migrations linked into this binary (see the [module docs](self) on linking).
    pub fn collect() -> Result<Registry, RegistryError> {
        Registry::from_entries(inventory::iter::<MigrationEntry>.into_iter().copied())
    }

    /// A registry from explicit entries: the same checks as [`Registry::collect`].
    pub fn from_entries(
        entries: impl IntoIterator<Item = MigrationEntry>,
    ) -> Result<Registry, RegistryError> {
        let mut entries: Vec<MigrationEntry> = entries.into_iter().collect();
        // Sort small (prefix key, index) pairs, not the entries (see `graph::sort_by_prefix_key`),
        // then move each entry once into its place.
        let mut order: Vec<(u64, u32)> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (prefix_key(e.id), i as u32))
            .collect();
        sort_by_prefix_key(&mut order, |a, b| {
            let (x, y) = (&entries[a as usize], &entries[b as usize]);
            x.id.cmp(y.id).then_with(|| x.location.cmp(&y.location))
        });
        permute_in_place(&mut entries, &mut order);
        // Equal ids are now adjacent; their keys are equal too, so most pairs read no string.
        let same_id =
            |a: usize, b: usize| order[a].0 == order[b].0 && entries[a].id == entries[b].id;
        let mut duplicates = Vec::new();
        let mut i = 0;
        while i < entries.len() {
            let j = i
                + 1
                + (i + 1..entries.len())
                    .take_while(|&j| same_id(i, j))
                    .count();
            if j - i > 1 {
                duplicates.push(DuplicateId {
                    id: entries[i].id,
                    locations: entries[i..j].iter().map(|e| e.location).collect(),
                });
            }
            i = j;
        }
        if duplicates.is_empty() {
            Ok(Registry { entries })
        } else {
            Err(RegistryError::DuplicateIds(duplicates))
        }
    }

    /// The graph of these migrations.
    pub fn graph(&self) -> Result<Graph, GraphError> {
        Graph::new(self.entries.iter().map(|e| (e.id, e.after)))
    }

    /// The phase of every migration of `graph` (this registry's).
    pub fn phases<'g>(&self, graph: &'g Graph) -> HashMap<&'g str, Phase> {
        let mut phases: HashMap<&str, Phase> = HashMap::with_capacity(graph.len());
        for id in graph.order() {
            let phase = if self.get(id).is_some_and(MigrationEntry::is_contract) {
                Phase::Contract
            } else if graph
                .parents(id)
                .unwrap_or_default()
                .iter()
                .any(|parent| phases.get(parent) != Some(&Phase::Expand))
            {
                Phase::AfterContract
            } else {
                Phase::Expand
            };
            phases.insert(id, phase);
        }
        phases
    }

    /// Every entry, sorted by id.
    pub fn entries(&self) -> &[MigrationEntry] {
        &self.entries
    }

    pub fn get(&self, id: &str) -> Option<&MigrationEntry> {
        self.entries
            .binary_search_by(|e| e.id.cmp(id))
            .ok()
            .map(|i| &self.entries[i])
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Moves the item at `order[p].1` to position `p`, for every `p`, without a second vector: each
/// cycle of the permutation is rotated once, so every item moves once. Gathering into a new
/// vector needs a second allocation as large as the registry, and measured several times slower
/// at 10,000 entries. Each index is overwritten with its own position as its item lands (which
/// marks it done).
fn permute_in_place<T: Copy>(items: &mut [T], order: &mut [(u64, u32)]) {
    for start in 0..items.len() {
        if order[start].1 as usize == start {
            continue;
        }
        let first = items[start];
        let mut at = start;
        loop {
            let from = order[at].1 as usize;
            order[at].1 = at as u32;
            if from == start {
                items[at] = first;
                break;
            }
            items[at] = items[from];
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop(_: &mut Migration) {}

    fn entry(id: &'static str, after: &'static [&'static str], line: u32) -> MigrationEntry {
        MigrationEntry::new(id, after, noop, Location::new("m", "src/m.rs", line))
    }

    #[test]
    fn entries_are_sorted_by_id_and_found_by_id() {
        let registry = Registry::from_entries([
            entry("c", &["a"], 3),
            entry("a", &[], 1),
            entry("b", &[], 2),
        ])
        .unwrap();
        let ids: Vec<_> = registry.entries().iter().map(|e| e.id()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(registry.get("c").unwrap().location().line(), 3);
        assert!(registry.get("d").is_none());
        assert_eq!(registry.len(), 3);
        assert_eq!(registry.graph().unwrap().heads(), ["b", "c"]);
    }

    #[test]
    fn every_duplicate_is_reported_with_every_location() {
        let err = Registry::from_entries([
            entry("x", &[], 30),
            entry("y", &[], 5),
            entry("x", &[], 10),
            entry("x", &[], 20),
            entry("y", &[], 6),
            entry("z", &[], 1),
        ])
        .unwrap_err();
        let RegistryError::DuplicateIds(duplicates) = &err;
        assert_eq!(duplicates.len(), 2);
        assert_eq!(duplicates[0].id, "x");
        let lines: Vec<u32> = duplicates[0].locations.iter().map(|l| l.line()).collect();
        assert_eq!(lines, [10, 20, 30]);
        assert_eq!(
            err.to_string(),
            "migration id `x` is registered 3 times: at src/m.rs:10 (m) and at src/m.rs:20 (m) and \
             at src/m.rs:30 (m); ids default to the function name: give all but one an explicit \
             `#[migration(id = \"...\")]`\n\
             migration id `y` is registered 2 times: at src/m.rs:5 (m) and at src/m.rs:6 (m); ids \
             default to the function name: give all but one an explicit `#[migration(id = \"...\")]`"
        );
    }

    #[test]
    fn options_and_recording() {
        fn up(m: &mut Migration) {
            m.sql("SELECT 1");
        }
        fn down(m: &mut Migration) {
            m.sql("SELECT 2");
            m.sql("SELECT 3");
        }
        let e = MigrationEntry::new("a", &[], up, Location::new("m", "f.rs", 1))
            .with_down(down)
            .with_transactional(false);
        assert!(!e.is_transactional());
        assert_eq!(e.record_up(Dialect::Sqlite).ops().len(), 1);
        assert_eq!(e.record_down(Dialect::Sqlite).unwrap().ops().len(), 2);
        let plain = entry("b", &[], 1);
        assert!(plain.is_transactional());
        assert!(plain.record_down(Dialect::Mysql).is_none());
        assert_eq!(plain.location().to_string(), "src/m.rs:1 (m)");
    }

    #[test]
    fn this_binary_registers_nothing() {
        assert!(Registry::collect().unwrap().is_empty());
    }

    /// Ids with shared 8-byte prefixes, prefixes of each other, and many duplicates, in random
    /// order: the same entries and the same errors as a plain sort by (id, location).
    #[test]
    fn matches_a_plain_sort() {
        const IDS: &[&str] = &[
            "a",
            "ab",
            "abcdefgh",
            "abcdefghi",
            "abcdefgh_",
            "m1",
            "m10",
            "m2",
            "migration_1",
            "migration_10",
            "migration_2",
            "z",
            "zz",
        ];
        let mut state = 0x5eed_u64;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % n
        };
        for round in 0..300 {
            let len = [0, 1, 2, 13, 50, 200][round % 6];
            let input: Vec<MigrationEntry> = (0..len)
                .map(|_| entry(IDS[next(IDS.len())], &[], next(5) as u32))
                .collect();
            let mut expected = input.clone();
            expected.sort_by(|x, y| x.id.cmp(y.id).then_with(|| x.location.cmp(&y.location)));
            let mut duplicates = Vec::new();
            for group in expected.chunk_by(|x, y| x.id == y.id) {
                if group.len() > 1 {
                    duplicates.push(DuplicateId {
                        id: group[0].id,
                        locations: group.iter().map(|e| e.location).collect(),
                    });
                }
            }
            match Registry::from_entries(input) {
                Ok(registry) => {
                    assert!(duplicates.is_empty());
                    let got: Vec<_> = registry
                        .entries()
                        .iter()
                        .map(|e| (e.id, e.location))
                        .collect();
                    let want: Vec<_> = expected.iter().map(|e| (e.id, e.location)).collect();
                    assert_eq!(got, want);
                }
                Err(RegistryError::DuplicateIds(got)) => assert_eq!(got, duplicates),
            }
        }
    }
}
