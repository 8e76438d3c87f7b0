//! `new` and `merge`: write a migration file after the current heads and register its module.

use std::path::{Path, PathBuf};

use crate::registry::Registry;

/// Writes `<dir>/<name>.rs` with `after = [<heads>]` and adds `pub mod <name>;` to the
/// directory's module file (`<dir>/mod.rs`, or `<dir>.rs` beside it). Returns the files
/// written.
pub(super) fn write(
    dir: &Path,
    name: &str,
    heads: &[String],
    registry: &Registry,
) -> Result<Vec<PathBuf>, String> {
    check_name(name)?;
    if registry.get(name).is_some() {
        return Err(format!(
            "a migration with the id `{name}` exists already; choose another name"
        ));
    }
    if !dir.is_dir() {
        return Err(format!(
            "{} is not a directory; give the migrations module directory with --dir",
            dir.display()
        ));
    }
    let module_file = [dir.join("mod.rs"), dir.with_extension("rs")]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "neither {}/mod.rs nor {} exists: create the module that declares the migrations",
                dir.display(),
                dir.with_extension("rs").display()
            )
        })?;
    let file = dir.join(format!("{name}.rs"));
    if file.exists() {
        return Err(format!("{} exists already", file.display()));
    }
    let own_crate = crate_name(dir);
    let paths: Vec<String> = heads
        .iter()
        .map(|id| {
            let module = registry
                .get(id)
                .map(|e| e.location().module_path().to_owned())
                .unwrap_or_default();
            let module = match (module.split_once("::"), &own_crate) {
                (Some((krate, rest)), Some(own)) if krate == own => format!("crate::{rest}"),
                (None, Some(own)) if module == *own => "crate".to_owned(),
                _ => module,
            };
            format!("{module}::{id}")
        })
        .collect();
    let attribute = if paths.is_empty() {
        "#[migration]".to_owned()
    } else {
        format!("#[migration(after = [{}])]", paths.join(", "))
    };
    let text = format!(
        "use godwit::prelude::*;\n\n{attribute}\npub fn {name}(m: &mut Migration) {{\n    \
         // Record the ops, for example:\n    \
         // m.create_table(\"things\", |t| {{\n    \
         //     t.id(\"id\");\n    \
         // }});\n    \
         let _ = m;\n}}\n"
    );
    std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let mut module = std::fs::read_to_string(&module_file)
        .map_err(|e| format!("cannot read {}: {e}", module_file.display()))?;
    if !module.is_empty() && !module.ends_with('\n') {
        module.push('\n');
    }
    module.push_str(&format!("pub mod {name};\n"));
    std::fs::write(&module_file, module)
        .map_err(|e| format!("cannot write {}: {e}", module_file.display()))?;
    Ok(vec![file, module_file])
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if !valid {
        return Err(format!(
            "`{name}` is not a migration name: use lowercase letters, digits and `_`, not \
             starting with a digit, e.g. `add_user_email`"
        ));
    }
    crate::graph::check_id(name).map_err(|reason| format!("`{name}`: {reason}"))
}

/// The crate name (`-` as `_`) of the nearest `Cargo.toml` above `dir`.
fn crate_name(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let manifest = dir
        .ancestors()
        .map(|d| d.join("Cargo.toml"))
        .find(|p| p.is_file())?;
    let text = std::fs::read_to_string(manifest).ok()?;
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name") {
            let value = value
                .trim_start()
                .strip_prefix('=')?
                .trim()
                .trim_matches('"');
            return Some(value.replace('-', "_"));
        }
    }
    None
}
