//! The migration graph on plain data: the scenarios of Alembic's revision-graph tests
//! (`tests/test_revision.py`, `tests/test_version_traversal.py`), target resolution, plans, and a
//! large generated graph checked against naive reference implementations.
//!
//! Alembic lists revisions from the top down and has branch labels; godwit plans in one
//! deterministic topological order (ties broken by id) and names branches by their migrations.
//! Each port keeps Alembic's graph and the *set* of migrations Alembic selects, and pins godwit's
//! exact order. Where godwit deliberately differs, the test says so.

use std::collections::{BTreeMap, BTreeSet};

use godwit::graph::{Direction, Graph, GraphError, ParseTargetError, PlanError, Target};

type Spec<'a> = &'a [(&'a str, &'a [&'a str])];

fn graph(spec: Spec) -> Graph {
    Graph::new(spec.iter().map(|(id, deps)| (*id, deps.iter()))).expect("valid graph")
}

fn build_error(spec: Spec) -> GraphError {
    Graph::new(spec.iter().map(|(id, deps)| (*id, deps.iter()))).expect_err("invalid graph")
}

/// Space-separated targets.
fn targets(s: &str) -> Vec<Target> {
    s.split_whitespace()
        .map(|t| t.parse().expect("valid target"))
        .collect()
}

fn up<'g>(g: &'g Graph, applied: &[&str], to: &str) -> Vec<&'g str> {
    g.upgrade_plan(applied, &targets(to))
        .expect("upgrade plan")
        .ids()
        .to_vec()
}

fn down<'g>(g: &'g Graph, applied: &[&str], to: &str) -> Vec<&'g str> {
    g.downgrade_plan(applied, &targets(to))
        .expect("downgrade plan")
        .ids()
        .to_vec()
}

fn up_err(g: &Graph, applied: &[&str], to: &str) -> PlanError {
    g.upgrade_plan(applied, &targets(to))
        .expect_err("upgrade must fail")
}

fn down_err(g: &Graph, applied: &[&str], to: &str) -> PlanError {
    g.downgrade_plan(applied, &targets(to))
        .expect_err("downgrade must fail")
}

fn all(g: &Graph) -> Vec<&str> {
    g.order().collect()
}

fn set<'a>(ids: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
    ids.into_iter().collect()
}

/// Every dependency of a migration comes before it in `order` (`reverse`: after it).
fn assert_respects_dependencies(g: &Graph, order: &[&str], reverse: bool) {
    let position = |id: &str| order.iter().position(|x| *x == id);
    for id in order {
        for parent in g.parents(id).unwrap() {
            if let Some(p) = position(parent) {
                let c = position(id).unwrap();
                assert!(
                    if reverse { p > c } else { p < c },
                    "`{parent}` and `{id}` out of order in {order:?}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Alembic APITest
// ---------------------------------------------------------------------------------------------

#[test]
fn api_one_head_then_add_revision() {
    let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
    assert_eq!(g.heads(), ["c"]);
    let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("d", &["c"])]);
    assert_eq!(g.heads(), ["d"]);
}

#[test]
fn api_two_heads_then_add_revision() {
    let spec: Spec = &[("a", &[]), ("b", &["a"]), ("c1", &["b"]), ("c2", &["b"])];
    assert_eq!(graph(spec).heads(), ["c1", "c2"]);
    let g = graph(&[
        ("a", &[]),
        ("b", &["a"]),
        ("c1", &["b"]),
        ("c2", &["b"]),
        ("d1", &["c1"]),
    ]);
    assert_eq!(g.heads(), ["c2", "d1"]);
}

#[test]
fn api_head_and_base_single() {
    let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
    assert_eq!(g.resolve(&Target::head()).unwrap(), ["c"]);
    assert!(g.resolve(&Target::base()).unwrap().is_empty());
    assert_eq!(g.bases(), ["a"]);
}

#[test]
fn api_head_multiple_is_an_error_listing_heads_but_heads_is_fine() {
    let g = graph(&[("a", &[]), ("b", &["a"]), ("c1", &["b"]), ("c2", &["b"])]);
    let err = g.resolve(&Target::head()).unwrap_err();
    assert_eq!(
        err,
        PlanError::MultipleHeads {
            heads: vec!["c1".into(), "c2".into()]
        }
    );
    assert_eq!(
        err.to_string(),
        "`head` is ambiguous: there are 2 heads, `c1`, `c2`; target one of them by id, or all of them with `heads`"
    );
    assert_eq!(g.resolve(&Target::Heads).unwrap(), ["c1", "c2"]);
    assert_eq!(up_err(&g, &[], "head"), err);
    assert_eq!(up(&g, &[], "heads"), ["a", "b", "c1", "c2"]);
}

#[test]
fn api_base_multiple() {
    let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &[]), ("d", &["c"])]);
    assert!(g.resolve(&Target::base()).unwrap().is_empty());
    assert_eq!(g.bases(), ["a", "c"]);
}

#[test]
fn api_tolerates_duplicate_targets() {
    let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
    assert_eq!(up(&g, &["a"], "c c"), ["b", "c"]);
}

// ---------------------------------------------------------------------------------------------
// Alembic DiamondTest, EmptyMapTest
// ---------------------------------------------------------------------------------------------

#[test]
fn diamond() {
    let g = graph(&[
        ("a", &[]),
        ("b1", &["a"]),
        ("b2", &["a"]),
        ("c", &["b1", "b2"]),
        ("d", &["c"]),
    ]);
    assert_eq!(up(&g, &[], "d"), ["a", "b1", "b2", "c", "d"]);
    let everything = all(&g);
    // Alembic "d" down to "a" inclusive: d, c, b1, b2, a.
    assert_eq!(down(&g, &everything, "base"), ["d", "c", "b2", "b1", "a"]);
    assert_eq!(down(&g, &everything, "a"), ["d", "c", "b2", "b1"]);
    assert_eq!(g.parents("c").unwrap(), ["b1", "b2"]);
    assert_eq!(g.children("a").unwrap(), ["b1", "b2"]);
}

#[test]
fn empty_graph() {
    let g = graph(&[]);
    assert!(g.is_empty());
    assert!(up(&g, &[], "head").is_empty());
    assert!(up(&g, &[], "heads").is_empty());
    assert!(down(&g, &[], "base").is_empty());
    assert_eq!(
        up_err(&g, &[], "base+1").to_string(),
        "`base+1` goes past base: there are no migrations"
    );
}

// ---------------------------------------------------------------------------------------------
// Alembic LabeledBranchTest. godwit has no branch labels: a branch is named by its migrations
// (`d+3` is the head of the branch that starts at `d`). Everything else carries over.
// ---------------------------------------------------------------------------------------------

const LABELED: Spec = &[
    ("a", &[]), // "abranch"
    ("b", &["a"]),
    ("somelongername", &["b"]),
    ("c", &["somelongername"]),
    ("d", &[]),
    ("e", &["d"]), // "ebranch"
    ("someothername", &["e"]),
    ("f", &["someothername"]),
];

#[test]
fn labeled_bases_heads_and_branch_heads() {
    let g = graph(LABELED);
    assert_eq!(g.bases(), ["a", "d"]);
    assert_eq!(g.heads(), ["c", "f"]);
    // "ebranch@head" / "abranch@head"
    assert_eq!(g.resolve(&"e+2".parse().unwrap()).unwrap(), ["f"]);
    assert_eq!(g.resolve(&"a+3".parse().unwrap()).unwrap(), ["c"]);
    // "somelongername@base" is "a"
    assert_eq!(
        g.resolve(&"somelongername-2".parse().unwrap()).unwrap(),
        ["a"]
    );
    assert!(g.resolve(&"a-1".parse().unwrap()).unwrap().is_empty());
}

#[test]
fn labeled_downgrade_one_branch_to_its_base() {
    let g = graph(LABELED);
    let everything = all(&g);
    assert_eq!(
        everything,
        [
            "a",
            "b",
            "d",
            "e",
            "somelongername",
            "c",
            "someothername",
            "f"
        ]
    );
    // heads -> "ebranch@base": the whole e-branch goes, the a-branch stays at its head.
    assert_eq!(down(&g, &everything, "c"), ["f", "someothername", "e", "d"]);
    // heads -> "abranch@base"
    assert_eq!(
        down(&g, &everything, "f"),
        ["c", "somelongername", "b", "a"]
    );
}

#[test]
fn labeled_branch_relative_steps() {
    let g = graph(LABELED);
    let everything = all(&g);
    // heads -> "ebranch@-2": two steps down one branch, the other stays.
    assert_eq!(down(&g, &everything, "c f-2"), ["f", "someothername"]);
    // base -> "ebranch@+2": two steps up one branch from base.
    assert_eq!(up(&g, &[], "d+1"), ["d", "e"]);
    // With two bases, `base+1` does not say which.
    assert_eq!(
        up_err(&g, &[], "base+2").to_string(),
        "`base+2` is ambiguous: base has several children, `a`, `d`; name the one you mean"
    );
}

#[test]
fn labeled_partial_ids() {
    let g = graph(LABELED);
    assert_eq!(g.resolve(&Target::id("somel")).unwrap(), ["somelongername"]);
    assert_eq!(g.resolve(&Target::id("someo")).unwrap(), ["someothername"]);
    let err = g.resolve(&Target::id("some")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`some` is the prefix of several migrations: `somelongername`, `someothername`; give more characters"
    );
    // A short id that is also a prefix of nothing else is exact.
    assert_eq!(g.resolve(&Target::id("e")).unwrap(), ["e"]);
}

#[test]
fn labeled_unknown_revision() {
    let g = graph(LABELED);
    assert_eq!(
        g.resolve(&Target::id("qprstuv")).unwrap_err(),
        PlanError::UnknownTarget {
            target: "qprstuv".into(),
            suggestion: None
        }
    );
    assert_eq!(
        g.resolve(&Target::id("someothrname"))
            .unwrap_err()
            .to_string(),
        "no migration has the id or id prefix `someothrname`; did you mean `someothername`?"
    );
}

// ---------------------------------------------------------------------------------------------
// Alembic LongShortBranchTest, MultipleBranchTest
// ---------------------------------------------------------------------------------------------

#[test]
fn long_short_branch() {
    let g = graph(&[
        ("a", &[]),
        ("b1", &["a"]),
        ("b2", &["a"]),
        ("c1", &["b1"]),
        ("d11", &["c1"]),
        ("d12", &["c1"]),
    ]);
    assert_eq!(g.heads(), ["b2", "d11", "d12"]);
    let everything = all(&g);
    let reverted = down(&g, &everything, "base");
    assert_eq!(reverted, ["d12", "d11", "c1", "b2", "b1", "a"]);
    assert_eq!(
        set(reverted),
        set(["b2", "d11", "d12", "c1", "b1", "a"]) // Alembic's
    );
}

const MULTIPLE_BRANCH: Spec = &[
    ("a", &[]),
    ("b1", &["a"]),
    ("b2", &["a"]),
    ("cb1", &["b1"]),
    ("cb2", &["b2"]),
    ("d1cb1", &["cb1"]),
    ("d2cb1", &["cb1"]),
    ("d1cb2", &["cb2"]),
    ("d2cb2", &["cb2"]),
    ("d3cb2", &["cb2"]),
    ("d1d2cb2", &["d1cb2", "d2cb2"]),
];

#[test]
fn multiple_branch_from_merge_point() {
    let g = graph(MULTIPLE_BRANCH);
    assert_eq!(g.heads(), ["d1cb1", "d1d2cb2", "d2cb1", "d3cb2"]);
    assert_eq!(
        up(&g, &[], "d1d2cb2"),
        ["a", "b2", "cb2", "d1cb2", "d2cb2", "d1d2cb2"]
    );
}

#[test]
fn multiple_branch_several_targets() {
    let g = graph(MULTIPLE_BRANCH);
    assert_eq!(
        up(&g, &[], "d2cb2 d3cb2"),
        ["a", "b2", "cb2", "d2cb2", "d3cb2"]
    );
    assert_eq!(up(&g, &[], "d3cb2"), ["a", "b2", "cb2", "d3cb2"]);
    assert_eq!(
        up(&g, &[], "d3cb2 cb1"),
        ["a", "b1", "b2", "cb1", "cb2", "d3cb2"]
    );
}

#[test]
fn multiple_branch_downgrade_one_side_keeps_the_other() {
    let g = graph(MULTIPLE_BRANCH);
    let applied = up(&g, &[], "d1cb1 d2cb2 d3cb2");
    // Alembic: [d1cb1, d2cb2, d3cb2] down to b2 inclusive gives d2cb2, d3cb2, cb2, b2; d1cb1 is
    // not a descendant of b2 and stays.
    assert_eq!(
        down(&g, &applied, "a d1cb1"),
        ["d3cb2", "d2cb2", "cb2", "b2"]
    );
}

#[test]
fn multiple_branch_wrong_direction() {
    let g = graph(MULTIPLE_BRANCH);
    // Alembic: "Revision d1cb1 is not an ancestor of revision b1".
    let err = down_err(&g, &["a", "b1"], "d1cb1");
    assert_eq!(err, PlanError::TargetNotApplied { id: "d1cb1".into() });
    assert_eq!(
        err.to_string(),
        "cannot downgrade to `d1cb1`: it is not applied (downgrading to it would revert everything else); upgrade to it instead"
    );
    // Upgrading "to" something already below the applied state is simply nothing to do.
    assert!(up(&g, &["a", "b1", "cb1", "d1cb1"], "b1").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Alembic BranchTravellingTest
// ---------------------------------------------------------------------------------------------

const TRAVELLING: Spec = &[
    ("a1", &[]),
    ("a2", &["a1"]),
    ("a3", &["a2"]),
    ("b1", &["a3"]),
    ("b2", &["a3"]),
    ("cb1", &["b1"]),
    ("cb2", &["b2"]),
    ("db1", &["cb1"]),
    ("db2", &["cb2"]),
    ("e1b1", &["db1"]),
    ("fe1b1", &["e1b1"]),
    ("e2b1", &["db1"]),
    ("e2b2", &["db2"]),
    ("merge", &["e2b1", "e2b2"]),
];

#[test]
fn travelling_order_is_smallest_id_first() {
    let g = graph(TRAVELLING);
    assert_eq!(
        all(&g),
        [
            "a1", "a2", "a3", "b1", "b2", "cb1", "cb2", "db1", "db2", "e1b1", "e2b1", "e2b2",
            "fe1b1", "merge"
        ]
    );
}

#[test]
fn travelling_two_branches_to_root() {
    let g = graph(TRAVELLING);
    let plan = up(&g, &[], "merge");
    assert_eq!(
        plan,
        [
            "a1", "a2", "a3", "b1", "b2", "cb1", "cb2", "db1", "db2", "e2b1", "e2b2", "merge"
        ]
    );
    assert_eq!(
        set(plan),
        set([
            "merge", "e2b1", "db1", "cb1", "b1", "e2b2", "db2", "cb2", "b2", "a3", "a2", "a1"
        ])
    );
}

#[test]
fn travelling_three_branches_end_in_single_branch() {
    let g = graph(TRAVELLING);
    let everything = all(&g);
    let reverted = down(&g, &everything, "a2");
    assert_eq!(
        reverted,
        [
            "merge", "fe1b1", "e2b2", "e2b1", "e1b1", "db2", "db1", "cb2", "cb1", "b2", "b1", "a3"
        ]
    );
    assert_respects_dependencies(&g, &reverted, true);
}

#[test]
fn travelling_one_branch_out_of_a_merge() {
    let g = graph(TRAVELLING);
    let applied = up(&g, &[], "merge");
    // Alembic "merge" down to "b1": the b1 side of the merge goes, the b2 side stays.
    assert_eq!(
        down(&g, &applied, "e2b2"),
        ["merge", "e2b1", "db1", "cb1", "b1"]
    );
    assert_eq!(
        g.heads_of(
            applied
                .iter()
                .filter(|id| !["merge", "e2b1", "db1", "cb1", "b1"].contains(id))
        )
        .unwrap(),
        ["e2b2"]
    );
}

#[test]
fn travelling_three_branches_to_multiple_bases() {
    let g = graph(TRAVELLING);
    let everything = all(&g);
    assert_eq!(
        set(down(&g, &everything, "b1 b2")),
        set([
            "merge", "e2b1", "e2b2", "db2", "cb2", "fe1b1", "e1b1", "db1", "cb1"
        ])
    );
}

#[test]
fn travelling_overlapping_targets_are_a_union() {
    // Alembic rejects "db1 b2 fe1b1" ("overlaps with other requested revisions"); godwit takes
    // the union of what the targets need.
    let g = graph(TRAVELLING);
    assert_eq!(up(&g, &[], "db1 b2 fe1b1"), up(&g, &[], "b2 fe1b1"));
    assert_eq!(
        up(&g, &[], "fe1b1"),
        ["a1", "a2", "a3", "b1", "cb1", "db1", "e1b1", "fe1b1"]
    );
}

// ---------------------------------------------------------------------------------------------
// Alembic MultipleBaseTest
// ---------------------------------------------------------------------------------------------

const MULTIPLE_BASE: Spec = &[
    ("base1", &[]),
    ("base2", &[]),
    ("base3", &[]),
    ("a1a", &["base1"]),
    ("a1b", &["base1"]),
    ("a2", &["base2"]),
    ("a3", &["base3"]),
    ("b1a", &["a1a"]),
    ("b1b", &["a1b"]),
    ("b2", &["a2"]),
    ("b3", &["a3"]),
    ("c2", &["b2"]),
    ("d2", &["c2"]),
    ("mergeb3d2", &["b3", "d2"]),
];

#[test]
fn multiple_bases_heads_to_base() {
    let g = graph(MULTIPLE_BASE);
    assert_eq!(g.bases(), ["base1", "base2", "base3"]);
    assert_eq!(g.heads(), ["b1a", "b1b", "mergeb3d2"]);
    let everything = all(&g);
    assert_eq!(
        everything,
        [
            "base1",
            "a1a",
            "a1b",
            "b1a",
            "b1b",
            "base2",
            "a2",
            "b2",
            "base3",
            "a3",
            "b3",
            "c2",
            "d2",
            "mergeb3d2"
        ]
    );
    let reverted = down(&g, &everything, "base");
    assert_eq!(
        set(reverted.iter().copied()),
        set(everything.iter().copied())
    );
    assert_respects_dependencies(&g, &reverted, true);
}

#[test]
fn multiple_bases_revert_above_a_revision() {
    let g = graph(MULTIPLE_BASE);
    let everything = all(&g);
    // Alembic heads -> c2 exclusive: mergeb3d2, d2.
    assert_eq!(down(&g, &everything, "c2 b1a b1b b3"), ["mergeb3d2", "d2"]);
}

#[test]
fn multiple_bases_specific_paths() {
    let g = graph(MULTIPLE_BASE);
    assert_eq!(up(&g, &[], "b3"), ["base3", "a3", "b3"]);
    assert_eq!(
        up(&g, &["base3"], "b3 b2"),
        ["base2", "a2", "b2", "a3", "b3"]
    );
}

// ---------------------------------------------------------------------------------------------
// Alembic MultipleBaseCrossDependencyTest{One,Two,Three}: dependencies across branches.
// Alembic's `dependencies=` are ordinary `after` entries here.
// ---------------------------------------------------------------------------------------------

const CROSS_ONE: Spec = &[
    ("base1", &[]),
    ("a1a", &["base1"]),
    ("a1b", &["base1"]),
    ("b1a", &["a1a"]),
    ("b1b", &["a1b", "a3"]),
    ("base2", &[]),
    ("a2", &["base2"]),
    ("b2", &["a2"]),
    ("c2", &["b2", "a3"]),
    ("d2", &["c2"]),
    ("base3", &[]),
    ("a3", &["base3"]),
    ("b3", &["a3"]),
];

#[test]
fn cross_dependency_one_upgrades_pull_in_other_branches() {
    let g = graph(CROSS_ONE);
    assert_eq!(g.heads(), ["b1a", "b1b", "b3", "d2"]);
    assert_eq!(
        set(up(&g, &[], "d2")),
        set(["d2", "c2", "b2", "a2", "base2", "a3", "base3"])
    );
    assert_eq!(up(&g, &[], "b3"), ["base3", "a3", "b3"]);
    assert_eq!(up(&g, &[], "b1b"), ["base1", "a1b", "base3", "a3", "b1b"]);
}

#[test]
fn cross_dependency_one_downgrades_take_dependents_along() {
    let g = graph(CROSS_ONE);
    let everything = all(&g);
    // Downgrade the "3" branch to its base: everything that depends on a3 goes too.
    let reverted = down(&g, &everything, "b1a a1b b2");
    assert_eq!(
        set(reverted.iter().copied()),
        set(["b1b", "d2", "c2", "b3", "a3", "base3"])
    );
    assert_respects_dependencies(&g, &reverted, true);
    // Downgrade the "2" branch alone; the "1" and "3" branches stay at their heads.
    assert_eq!(
        down(&g, &everything, "b1a b1b b3"),
        ["d2", "c2", "b2", "a2", "base2"]
    );
}

#[test]
fn cross_dependency_two() {
    let g = graph(&[
        ("base1", &[]),
        ("a1", &["base1"]),
        ("b1", &["a1"]),
        ("c1", &["b1"]),
        ("base2", &["base1"]),
        ("a2", &["base2"]),
        ("b2", &["a2"]),
        ("c2", &["b2"]),
        ("d2", &["c2"]),
        ("base3", &[]),
        ("a3", &["base3"]),
        ("b3", &["a3"]),
        ("c3", &["b3", "b2"]),
        ("d3", &["c3"]),
    ]);
    assert_eq!(g.heads(), ["c1", "d2", "d3"]);
    assert_eq!(
        set(up(&g, &[], "d2")),
        set(["d2", "c2", "b2", "a2", "base2", "base1"])
    );
    assert_eq!(
        set(up(&g, &[], "d3")),
        set([
            "d3", "c3", "b3", "a3", "base3", "b2", "a2", "base2", "base1"
        ])
    );
    assert_eq!(up(&g, &[], "c1"), ["base1", "a1", "b1", "c1"]);
}

#[test]
fn cross_dependency_three_no_parent_but_a_dependency() {
    let g = graph(&[
        ("base1", &[]),
        ("a1", &["base1"]),
        ("b1", &["a1"]),
        ("c2", &["a1"]),
        ("c3", &["c2"]),
    ]);
    assert_eq!(
        down(&g, &all(&g), "base"),
        ["c3", "c2", "b1", "a1", "base1"]
    );
}

// ---------------------------------------------------------------------------------------------
// Alembic NormalizedDownRevTest, DependsOnOwnDownrevTest
// ---------------------------------------------------------------------------------------------

#[test]
fn redundant_dependencies_change_nothing() {
    let g = graph(&[
        ("a1", &[]),
        ("a2", &["a1"]),
        ("a3", &["a2"]),
        ("b1", &[]),
        ("b2", &["b1", "a3"]),
        ("b3", &["b2"]),
        ("b4", &["b3", "a3"]),
        ("b5", &["b4"]),
    ]);
    assert_eq!(g.parents("b4").unwrap(), ["a3", "b3"]);
    let everything = all(&g);
    assert_eq!(
        down(&g, &everything, "base"),
        ["b5", "b4", "b3", "b2", "b1", "a3", "a2", "a1"]
    );
    assert_eq!(
        down(&g, &everything, "a1 b1"),
        ["b5", "b4", "b3", "b2", "a3", "a2"]
    );
}

#[test]
fn depends_on_own_parent() {
    let g = graph(&[("a1", &[]), ("a2", &["a1"])]);
    assert_eq!(up(&g, &[], "a2"), ["a1", "a2"]);
    assert_eq!(down(&g, &["a1", "a2"], "a1"), ["a2"]);
}

// ---------------------------------------------------------------------------------------------
// Alembic test_version_traversal: three-way merge, twin merges, dependencies on branches
// ---------------------------------------------------------------------------------------------

const THREE_WAY: Spec = &[
    ("a1", &[]),
    ("b1", &["a1"]),
    ("c1", &["b1"]),
    ("a2", &[]),
    ("b2", &["a2"]),
    ("c2", &["b2"]),
    ("a3", &[]),
    ("b3", &["a3"]),
    ("c3", &["b3"]),
    ("d1", &["c1", "c2", "c3"]),
    ("d2", &["c2"]),
    ("d3", &["c3"]),
];

#[test]
fn three_way_merge_to_only_one_side() {
    let g = graph(THREE_WAY);
    let applied = up(&g, &[], "d3 d2 b1");
    assert_eq!(up(&g, &applied, "d1"), ["c1", "d1"]);
    let everything = all(&g);
    assert_eq!(g.heads_of(&everything).unwrap(), ["d1", "d2", "d3"]);
    let reverted = down(&g, &everything, "b1 d2 d3");
    assert_eq!(reverted, ["d1", "c1"]);
    let remaining: Vec<&str> = everything
        .iter()
        .copied()
        .filter(|id| !reverted.contains(id))
        .collect();
    assert_eq!(g.heads_of(&remaining).unwrap(), ["b1", "d2", "d3"]);
}

#[test]
fn three_way_merge_to_two_sides() {
    let g = graph(THREE_WAY);
    let mut applied = up(&g, &[], "d3 b2 b1");
    let plan = up(&g, &applied, "d1");
    assert_eq!(plan, ["c1", "c2", "d1"]);
    applied.extend(plan);
    assert_eq!(g.heads_of(&applied).unwrap(), ["d1", "d3"]);
    let plan = up(&g, &applied, "d2");
    assert_eq!(plan, ["d2"]);
    applied.extend(plan);
    assert_eq!(g.heads_of(&applied).unwrap(), ["d1", "d2", "d3"]);
}

/// Applies `plan` one migration at a time and returns the heads after each step.
fn heads_after_each_step<'g>(
    g: &'g Graph,
    start: &[&'g str],
    plan: &[&'g str],
) -> Vec<Vec<&'g str>> {
    let mut applied = start.to_vec();
    plan.iter()
        .map(|id| {
            applied.push(*id);
            g.heads_of(&applied).unwrap()
        })
        .collect()
}

#[test]
fn twin_merge() {
    // Two merge points over the same three branches (Alembic #297).
    let g = graph(&[
        ("a", &[]),
        ("b1", &["a"]),
        ("b2", &["a"]),
        ("b3", &["a"]),
        ("c1", &["b1", "b2", "b3"]),
        ("c2", &["b1", "b2", "b3"]),
        ("d1", &["c1"]),
        ("d2", &["c2"]),
    ]);
    let plan = up(&g, &["a"], "heads");
    assert_eq!(plan, ["b1", "b2", "b3", "c1", "c2", "d1", "d2"]);
    assert_eq!(
        heads_after_each_step(&g, &["a"], &plan),
        [
            vec!["b1"],
            vec!["b1", "b2"],
            vec!["b1", "b2", "b3"],
            vec!["c1"],
            vec!["c1", "c2"],
            vec!["c2", "d1"],
            vec!["d1", "d2"],
        ]
    );
    // One twin can go while the other stays.
    assert_eq!(down(&g, &all(&g), "d2"), ["d1", "c1"]);
}

#[test]
fn not_quite_twin_merge() {
    let g = graph(&[
        ("a", &[]),
        ("b1", &["a"]),
        ("b2", &["a"]),
        ("b3", &["a"]),
        ("c1", &["b1", "b2"]),
        ("c2", &["b2", "b3"]),
        ("d1", &["c1"]),
        ("d2", &["c2"]),
    ]);
    let first = up(&g, &["a"], "d2");
    assert_eq!(first, ["b2", "b3", "c2", "d2"]);
    assert_eq!(
        heads_after_each_step(&g, &["a"], &first),
        [vec!["b2"], vec!["b2", "b3"], vec!["c2"], vec!["d2"]]
    );
    let mut applied = vec!["a"];
    applied.extend(&first);
    let second = up(&g, &applied, "d1");
    assert_eq!(second, ["b1", "c1", "d1"]);
    assert_eq!(
        heads_after_each_step(&g, &applied, &second),
        [vec!["b1", "d2"], vec!["c1", "d2"], vec!["d1", "d2"]]
    );
}

#[test]
fn depends_on_several_branches() {
    // Alembic DependsOnBranchTestTwo ("kaboom").
    let g = graph(&[
        ("a1", &[]),
        ("a2", &[]),
        ("a3", &[]),
        ("amerge", &["a1", "a2", "a3"]),
        ("b1", &[]),
        ("b2", &[]),
        ("bmerge", &["b1", "b2"]),
        ("c1", &[]),
        ("c2", &[]),
        ("c3", &[]),
        ("cmerge", &["c1", "c2", "c3"]),
        ("d1", &["a3", "b2", "c1"]),
    ]);
    let everything = all(&g);
    // Revert only bmerge: b2 stays because d1 needs it.
    assert_eq!(down(&g, &everything, "amerge b1 cmerge d1"), ["bmerge"]);
    let applied: Vec<&str> = everything
        .iter()
        .copied()
        .filter(|id| *id != "bmerge")
        .collect();
    assert_eq!(
        g.heads_of(&applied).unwrap(),
        ["amerge", "b1", "cmerge", "d1"]
    );
    // Revert only d1: b2 stays (Alembic has to re-insert it as a head).
    assert_eq!(down(&g, &applied, "amerge b1 b2 cmerge"), ["d1"]);
    let applied: Vec<&str> = applied.into_iter().filter(|id| *id != "d1").collect();
    assert_eq!(
        g.heads_of(&applied).unwrap(),
        ["amerge", "b1", "b2", "cmerge"]
    );
    let reverted = down(&g, &applied, "base");
    assert_eq!(set(reverted.iter().copied()), set(applied.iter().copied()));
    assert_respects_dependencies(&g, &reverted, true);
}

#[test]
fn downgrade_over_crisscross() {
    // Alembic DependsOnBranchTestThree (#377).
    let g = graph(&[
        ("a1", &[]),
        ("a2", &["a1"]),
        ("b1", &[]),
        ("b2", &["b1", "a2"]),
        ("b3", &["b2"]),
        ("a3", &["a2", "b1"]),
    ]);
    let applied = ["a1", "a2", "a3", "b1", "b2"];
    assert_eq!(down(&g, &applied, "b1 a3"), ["b2"]);
}

// ---------------------------------------------------------------------------------------------
// Alembic GraphWithLoopTest, GraphWithCycleTest, DepResolutionFailedTest
// ---------------------------------------------------------------------------------------------

#[test]
fn self_loops_are_rejected() {
    let cases: [(Spec, &str); 5] = [
        (&[("a", &["a"])], "a"),
        (&[("a", &["a"]), ("b", &["a"]), ("c", &["b"])], "a"),
        (&[("a", &[]), ("b", &["a"]), ("c", &["b", "c"])], "c"),
        (
            &[
                ("a", &[]),
                ("b", &["a", "b"]),
                ("c1", &["b"]),
                ("c2", &["b"]),
            ],
            "b",
        ),
        (
            &[
                ("a", &[]),
                ("b1", &["a"]),
                ("b2", &["a"]),
                ("c", &["b1", "b2", "c"]),
            ],
            "c",
        ),
    ];
    for (spec, id) in cases {
        assert_eq!(
            build_error(spec),
            GraphError::SelfDependency { id: id.into() }
        );
    }
    assert_eq!(
        build_error(&[("a", &["a"])]).to_string(),
        "migration `a` depends on itself; remove `a` from its dependencies"
    );
}

#[test]
fn overlapping_substrings_are_not_loops() {
    let g = graph(&[("user_foo", &[]), ("user", &["user_foo"])]);
    assert_eq!(all(&g), ["user_foo", "user"]);
    assert_eq!(g.heads(), ["user"]);
    // An exact id wins over a prefix of a longer one.
    assert_eq!(g.resolve(&Target::id("user")).unwrap(), ["user"]);
}

#[test]
fn cycles_are_rejected_naming_the_cycle() {
    let cycle = |ids: &[&str]| GraphError::Cycle {
        cycle: ids.iter().map(|s| s.to_string()).collect(),
    };
    // simple
    assert_eq!(
        build_error(&[("a", &["c"]), ("b", &["a"]), ("c", &["b"])]),
        cycle(&["a", "c", "b"])
    );
    // extra: an unrelated branch does not matter
    assert_eq!(
        build_error(&[
            ("a", &["c"]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &[]),
            ("e", &["d"])
        ]),
        cycle(&["a", "c", "b"])
    );
    // lower: migrations after the cycle are not part of it
    assert_eq!(
        build_error(&[
            ("a", &["c"]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &["c"]),
            ("e", &["d"])
        ]),
        cycle(&["a", "c", "b"])
    );
    // upper: a cycle above a base
    assert_eq!(
        build_error(&[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &["b", "e"]),
            ("d", &["c"]),
            ("e", &["d"])
        ]),
        cycle(&["c", "e", "d"])
    );
    assert_eq!(
        build_error(&[("a", &["c"]), ("b", &["a"]), ("c", &["b"])]).to_string(),
        "dependency cycle: `a` is after `c`, `c` is after `b`, `b` is after `a`; remove one of these dependencies"
    );
}

#[test]
fn unknown_dependency_is_rejected() {
    // Alembic DepResolutionFailedTest.
    let err = build_error(&[("base1", &[]), ("a1", &["base1"]), ("b1", &["a1", "fake"])]);
    assert_eq!(
        err,
        GraphError::UnknownDependency {
            id: "b1".into(),
            dependency: "fake".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "migration `b1` depends on `fake`, which is not a known migration"
    );
}

#[test]
fn duplicate_ids_and_dependencies_and_bad_ids_are_rejected() {
    assert_eq!(
        build_error(&[("a", &[]), ("a", &[])]),
        GraphError::DuplicateId { id: "a".into() }
    );
    assert_eq!(
        build_error(&[("user_foo", &[]), ("user", &["user_foo", "user_foo"])]),
        GraphError::DuplicateDependency {
            id: "user".into(),
            dependency: "user_foo".into()
        }
    );
    for bad in ["", "head", "heads", "base", "a-b", "a+b", "a b", "a/b"] {
        assert!(
            matches!(build_error(&[(bad, &[])]), GraphError::InvalidId { .. }),
            "{bad:?}"
        );
    }
    assert_eq!(
        build_error(&[("2024-01-01", &[])]).to_string(),
        "invalid migration id: `2024-01-01` contains `-`; use letters, digits, `_` and `.`"
    );
    // Unicode letters are fine, like in function names.
    graph(&[("créer_utilisateurs", &[]), ("v1.2", &[])]);
}

// ---------------------------------------------------------------------------------------------
// Targets and plans
// ---------------------------------------------------------------------------------------------

/// ```text
/// a ── b ── c ── d ── e
///  └── x ───────┘
///       └── y
/// ```
const BRANCHY: Spec = &[
    ("a", &[]),
    ("b", &["a"]),
    ("c", &["b"]),
    ("x", &["a"]),
    ("d", &["c", "x"]),
    ("e", &["d"]),
    ("y", &["x"]),
];

#[test]
fn order_is_deterministic_whatever_the_input_order() {
    let g = graph(BRANCHY);
    assert_eq!(all(&g), ["a", "b", "c", "x", "d", "e", "y"]);
    let mut reversed: Vec<(&str, &[&str])> = BRANCHY.to_vec();
    reversed.reverse();
    assert_eq!(all(&graph(&reversed)), all(&g));
    assert_eq!(
        g.ids().collect::<Vec<_>>(),
        ["a", "b", "c", "d", "e", "x", "y"]
    );
}

#[test]
fn ancestry() {
    let g = graph(BRANCHY);
    assert!(g.is_ancestor("a", "e"));
    assert!(g.is_ancestor("x", "d"));
    assert!(!g.is_ancestor("y", "e"));
    assert!(!g.is_ancestor("e", "a"));
    assert!(!g.is_ancestor("e", "e"));
    assert!(!g.is_ancestor("nope", "e"));
    assert_eq!(g.parents("d").unwrap(), ["c", "x"]);
    assert_eq!(g.children("x").unwrap(), ["d", "y"]);
    assert_eq!(g.parents("nope"), None);
    assert!(g.contains("y") && !g.contains("z"));
    assert_eq!(g.len(), 7);
}

#[test]
fn relative_targets_follow_the_only_parent_or_child() {
    let g = graph(BRANCHY);
    let resolve = |t: &str| g.resolve(&t.parse().unwrap());
    assert_eq!(resolve("b+1").unwrap(), ["c"]);
    assert_eq!(resolve("c+2").unwrap(), ["e"]);
    assert_eq!(resolve("e-1").unwrap(), ["d"]);
    assert_eq!(resolve("c-2").unwrap(), ["a"]);
    assert!(resolve("c-3").unwrap().is_empty()); // base
    assert_eq!(resolve("base+1").unwrap(), ["a"]);
    assert_eq!(
        resolve("a+1").unwrap_err().to_string(),
        "`a+1` is ambiguous: `a` has several children, `b`, `x`; name the one you mean"
    );
    assert_eq!(
        resolve("e-2").unwrap_err().to_string(),
        "`e-2` is ambiguous: `d` has several parents, `c`, `x`; name the one you mean"
    );
    assert_eq!(
        resolve("e+1").unwrap_err().to_string(),
        "`e+1` goes past `e`, which is a head"
    );
    assert_eq!(
        resolve("c-4").unwrap_err().to_string(),
        "`c-4` goes past base"
    );
    assert_eq!(
        resolve("base-1").unwrap_err().to_string(),
        "`base-1` goes past base"
    );
    assert_eq!(
        resolve("+1").unwrap_err().to_string(),
        "`+1` is relative to what is applied; use it in an upgrade or downgrade plan"
    );
    // `head` with several heads
    assert!(matches!(
        resolve("head-1"),
        Err(PlanError::MultipleHeads { .. })
    ));
    let line = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
    assert_eq!(line.resolve(&"head-2".parse().unwrap()).unwrap(), ["a"]);
}

#[test]
fn upgrade_plans() {
    let g = graph(BRANCHY);
    assert_eq!(up(&g, &[], "heads"), all(&g));
    assert_eq!(up(&g, &[], "d"), ["a", "b", "c", "x", "d"]);
    assert_eq!(up(&g, &["a", "x"], "d"), ["b", "c", "d"]);
    assert_eq!(up(&g, &["a", "x", "y"], "heads"), ["b", "c", "d", "e"]);
    assert!(up(&g, &["a"], "base").is_empty());
    assert_eq!(up(&g, &[], "c-1"), ["a", "b"]);
    assert!(up(&g, &all(&g), "heads").is_empty());
    let plan = g.upgrade_plan(["a"], &targets("y")).unwrap();
    assert_eq!(plan.direction(), Direction::Up);
    assert_eq!(plan.len(), 2);
    assert_eq!((&plan).into_iter().collect::<Vec<_>>(), ["x", "y"]);
}

#[test]
fn forward_steps_take_the_next_pending_migrations() {
    let g = graph(BRANCHY);
    assert_eq!(up(&g, &["a"], "+1"), ["b"]);
    assert_eq!(up(&g, &["a"], "+3"), ["b", "c", "x"]);
    // The pending order skips what is applied on other branches.
    assert_eq!(up(&g, &["a", "x", "y"], "+2"), ["b", "c"]);
    assert_eq!(
        up_err(&g, &["a", "b"], "+6"),
        PlanError::NotEnoughPending {
            steps: 6,
            pending: 5
        }
    );
    assert_eq!(
        up_err(&g, &["a", "b"], "+6").to_string(),
        "`+6` asks for 6 migrations but only 5 are pending"
    );
}

#[test]
fn downgrade_plans() {
    let g = graph(BRANCHY);
    let everything = all(&g);
    assert_eq!(
        down(&g, &everything, "base"),
        ["y", "e", "d", "x", "c", "b", "a"]
    );
    assert!(down(&g, &everything, "heads").is_empty());
    assert_eq!(down(&g, &everything, "c"), ["y", "e", "d", "x"]);
    assert_eq!(down(&g, &everything, "e-1"), ["y", "e"]);
    assert_eq!(down(&g, &everything, "e-1 y"), ["e"]);
    let plan = g.downgrade_plan(&everything, &targets("d y")).unwrap();
    assert_eq!(plan.direction(), Direction::Down);
    assert_eq!(plan.ids(), ["e"]);
}

#[test]
fn downgrade_one_branch_while_the_other_head_stays() {
    let g = graph(BRANCHY);
    let everything = all(&g);
    // Revert the merge line d..e back to c, keep the x..y branch at its head y.
    assert_eq!(down(&g, &everything, "c y"), ["e", "d"]);
    // Revert the y branch only.
    assert_eq!(down(&g, &everything, "e"), ["y"]);
    // Keeping both heads reverts nothing.
    assert!(down(&g, &everything, "e y").is_empty());
}

#[test]
fn back_steps_revert_the_last_applied_migrations() {
    let g = graph(BRANCHY);
    let everything = all(&g);
    assert_eq!(down(&g, &everything, "-1"), ["y"]);
    assert_eq!(down(&g, &everything, "-3"), ["y", "e", "d"]);
    assert_eq!(down(&g, &["a", "b", "x"], "-2"), ["x", "b"]);
    assert_eq!(
        down_err(&g, &["a"], "-2").to_string(),
        "`-2` asks to revert 2 migrations but only 1 are applied"
    );
}

#[test]
fn misused_targets_are_errors() {
    let g = graph(BRANCHY);
    assert_eq!(
        up_err(&g, &[], "-1").to_string(),
        "`-1` is a downgrade target; it cannot be used to upgrade"
    );
    assert_eq!(
        down_err(&g, &["a"], "+1").to_string(),
        "`+1` is an upgrade target; it cannot be used to downgrade"
    );
    assert_eq!(
        up_err(&g, &[], "+1 c").to_string(),
        "the relative target `+1` cannot be combined with other targets"
    );
    assert_eq!(
        g.upgrade_plan(["a"], &[]).unwrap_err().to_string(),
        "no target given; use `heads` to upgrade everything or `base` to downgrade everything"
    );
    assert_eq!(
        up_err(&g, &["a", "gone", "also_gone", "gone"], "heads").to_string(),
        "the database records migrations that this program does not know: `also_gone`, `gone`; \
         is the crate that defines them linked into this binary (`use my_migrations as _;`)?"
    );
    assert_eq!(
        g.heads_of(["zzz"]).unwrap_err(),
        PlanError::UnknownApplied {
            ids: vec!["zzz".into()]
        }
    );
}

#[test]
fn target_strings() {
    assert_eq!("heads".parse::<Target>(), Ok(Target::Heads));
    assert_eq!("-2".parse::<Target>(), Ok(Target::Back(2)));
    assert_eq!("".parse::<Target>(), Err(ParseTargetError::Empty));
    assert_eq!(
        "heads+1".parse::<Target>().unwrap_err().to_string(),
        "`heads+1`: `heads` names every head and cannot take a step; use `head+1` (one head) or `<id>+1`"
    );
}

#[test]
fn long_error_lists_are_capped() {
    let ids: Vec<String> = (0..15).map(|i| format!("m{i:02}")).collect();
    let g = Graph::new(ids.iter().map(|id| (id.as_str(), Vec::<&str>::new()))).unwrap();
    assert_eq!(
        g.resolve(&Target::id("m")).unwrap_err().to_string(),
        "`m` is the prefix of several migrations: `m00`, `m01`, `m02`, `m03`, `m04`, `m05`, \
         `m06`, `m07`, `m08`, `m09` and 5 more; give more characters"
    );
}

// ---------------------------------------------------------------------------------------------
// A large generated graph (Alembic LargeMapTest), checked against naive references.
// ---------------------------------------------------------------------------------------------

/// A small deterministic generator (64-bit LCG), so the graph is the same on every machine.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `n` migrations with hex ids unrelated to creation order; each has 0..=3 parents among the
/// migrations created before it, mostly recent ones: long branches, branch points, merges,
/// several bases and heads.
fn generated(n: usize, seed: u64) -> Vec<(String, Vec<String>)> {
    let mut rng = Lcg(seed);
    let mut ids: Vec<String> = Vec::with_capacity(n);
    let mut seen = BTreeSet::new();
    while ids.len() < n {
        let id = format!("{:09x}", rng.next());
        if seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    (0..n)
        .map(|i| {
            let mut parents = BTreeSet::new();
            if i > 0 {
                let count = [0, 1, 1, 1, 1, 1, 2, 2, 3][rng.below(9)].min(i);
                for _ in 0..count {
                    let reach = if rng.below(4) == 0 { i } else { i.min(8) };
                    let back = 1 + rng.below(reach);
                    parents.insert(ids[i - back].clone());
                }
            }
            (ids[i].clone(), parents.into_iter().collect())
        })
        .collect()
}

/// Ancestors-or-self of `targets`, by a plain DFS over the spec.
fn naive_ancestors<'a>(
    spec: &'a [(String, Vec<String>)],
    targets: &[&'a str],
) -> BTreeSet<&'a str> {
    let parents: BTreeMap<&str, &[String]> = spec
        .iter()
        .map(|(id, deps)| (id.as_str(), deps.as_slice()))
        .collect();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&str> = targets.to_vec();
    while let Some(id) = stack.pop() {
        if seen.insert(id) {
            stack.extend(parents[id].iter().map(String::as_str));
        }
    }
    seen
}

#[test]
fn large_generated_graph() {
    let spec = generated(1500, 0x5eed);
    let g = Graph::new(spec.iter().map(|(id, deps)| (id, deps))).unwrap();
    assert_eq!(g.len(), 1500);
    assert!(g.bases().len() > 1 && g.heads().len() > 1);
    assert!(spec.iter().any(|(_, deps)| deps.len() > 1), "has merges");

    // The order is the smallest-id-first topological order, computed naively.
    let order = all(&g);
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut naive: Vec<&str> = Vec::new();
    while naive.len() < spec.len() {
        let next = spec
            .iter()
            .filter(|(id, deps)| {
                !done.contains(id.as_str()) && deps.iter().all(|d| done.contains(d.as_str()))
            })
            .map(|(id, _)| id.as_str())
            .min()
            .expect("a DAG always has a ready node");
        done.insert(next);
        naive.push(next);
    }
    assert_eq!(order, naive);

    // Any input order gives the same graph order.
    let mut shuffled = spec.clone();
    let mut rng = Lcg(7);
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.below(i + 1));
    }
    let again = Graph::new(shuffled.iter().map(|(id, deps)| (id, deps))).unwrap();
    assert_eq!(all(&again), order);

    // Plans against the naive ancestor sets.
    let mut rng = Lcg(11);
    let mut downgrades = 0;
    for _ in 0..40 {
        let pick = |rng: &mut Lcg| order[rng.below(order.len())];
        let applied_tips = [pick(&mut rng), pick(&mut rng)];
        let applied = naive_ancestors(&spec, &applied_tips);
        let applied_list: Vec<&str> = applied.iter().copied().collect();
        let target = pick(&mut rng);

        // Upgrade: exactly the missing ancestors-or-self of the target, in graph order.
        let plan = g
            .upgrade_plan(&applied_list, &[Target::id(target)])
            .unwrap();
        let needed = naive_ancestors(&spec, &[target]);
        let expected: Vec<&str> = order
            .iter()
            .copied()
            .filter(|id| needed.contains(id) && !applied.contains(id))
            .collect();
        assert_eq!(plan.ids(), expected);

        // Downgrade to the target and one applied tip: everything else applied is reverted,
        // dependents first, and what remains is closed under dependencies.
        if !applied_list.is_empty() {
            downgrades += 1;
            let target = applied_list[rng.below(applied_list.len())];
            let keep_tip = applied_tips[0];
            let plan = g
                .downgrade_plan(&applied_list, &[Target::id(target), Target::id(keep_tip)])
                .unwrap();
            let kept = naive_ancestors(&spec, &[target, keep_tip]);
            let reverted: BTreeSet<&str> = applied.difference(&kept).copied().collect();
            assert_eq!(set(plan.ids().iter().copied()), reverted);
            assert_respects_dependencies(&g, plan.ids(), true);
            let remaining: Vec<&str> = applied.difference(&reverted).copied().collect();
            assert_eq!(
                naive_ancestors(&spec, &remaining),
                set(remaining.iter().copied())
            );
        }

        // Ancestors and descendants never overlap (Alembic's check).
        let a = pick(&mut rng);
        let b = pick(&mut rng);
        assert!(!(g.is_ancestor(a, b) && g.is_ancestor(b, a)));
        assert_eq!(
            g.is_ancestor(a, b),
            a != b && naive_ancestors(&spec, &[b]).contains(a)
        );
    }
    assert!(
        downgrades >= 30,
        "only {downgrades} downgrade cases were exercised"
    );
}
