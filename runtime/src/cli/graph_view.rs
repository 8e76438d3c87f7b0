//! `history`: the migration graph drawn in the terminal, newest first, like `git log --graph`.
//!
//! Each lane is a column waiting for one migration. A migration takes the leftmost lane waiting
//! for it; other lanes waiting for it join it (`/`); its first dependency continues its lane and
//! each further one opens a lane to the right (`\`).

use crate::graph::Graph;
use crate::registry::{Phase, Registry};

/// One printed line: the lanes, and the migration drawn on it (none on a connector line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    pub graph: String,
    pub node: Option<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Node {
    pub id: String,
    pub parents: Vec<String>,
    pub children: Vec<String>,
    pub location: String,
    pub phase: Phase,
}

pub(super) fn draw(graph: &Graph, registry: &Registry) -> Vec<Line> {
    let order: Vec<&str> = graph.order().collect();
    let phases = registry.phases(graph);
    let mut lanes: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    let row = |symbols: &[&str]| symbols.join(" ");
    for &id in order.iter().rev() {
        let waiting: Vec<usize> = (0..lanes.len()).filter(|&i| lanes[i] == id).collect();
        let col = match waiting.first() {
            Some(&col) => col,
            None => {
                lanes.push(id.to_owned());
                lanes.len() - 1
            }
        };
        if waiting.len() > 1 {
            let symbols: Vec<&str> = (0..lanes.len())
                .map(|i| if waiting[1..].contains(&i) { "/" } else { "|" })
                .collect();
            lines.push(Line {
                graph: row(&symbols),
                node: None,
            });
            for &i in waiting[1..].iter().rev() {
                lanes.remove(i);
            }
        }
        let symbols: Vec<&str> = (0..lanes.len())
            .map(|i| if i == col { "*" } else { "|" })
            .collect();
        let parents: Vec<String> = graph
            .parents(id)
            .unwrap_or_default()
            .iter()
            .map(|p| p.to_string())
            .collect();
        lines.push(Line {
            graph: row(&symbols),
            node: Some(Node {
                id: id.to_owned(),
                children: graph
                    .children(id)
                    .unwrap_or_default()
                    .iter()
                    .map(|c| c.to_string())
                    .collect(),
                location: registry
                    .get(id)
                    .map(|e| e.location().to_string())
                    .unwrap_or_default(),
                parents: parents.clone(),
                phase: phases[id],
            }),
        });
        match parents.split_first() {
            None => {
                lanes.remove(col);
            }
            Some((first, rest)) => {
                lanes[col] = first.clone();
                let opened: Vec<String> = rest
                    .iter()
                    .filter(|p| !lanes.contains(p))
                    .cloned()
                    .collect();
                for (k, parent) in opened.iter().enumerate() {
                    lanes.insert(col + 1 + k, parent.clone());
                }
                if !opened.is_empty() {
                    let symbols: Vec<&str> = (0..lanes.len())
                        .map(|i| {
                            if i > col && i <= col + opened.len() {
                                "\\"
                            } else {
                                "|"
                            }
                        })
                        .collect();
                    lines.push(Line {
                        graph: row(&symbols),
                        node: None,
                    });
                }
            }
        }
    }
    lines
}
