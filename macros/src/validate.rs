//! Checks what parsed: the signature `fn(&mut Migration)`, the migration id, and the keys whose
//! mistakes can be seen without type information (self-dependency, repeated dependency, a
//! migration that is its own `down`). Everything needing name resolution (a missing dependency,
//! a cycle, an `after` entry that is not a migration) is left to rustc, through the code that
//! [`crate::expand`] generates, so that the error lands on the user's path.

use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{FnArg, Path, ReturnType, Type};

use crate::parse::{Args, Errors, MigrationFn, path_string};

// The id rule is the runtime's own (`godwit::graph::check_id`), from the crate both share.
use godwit_id::check_id;

/// What validation lets through to the expansion.
pub(crate) struct Checked<'a> {
    /// The `id` key, else the function's name.
    pub(crate) id: String,
    /// The dependencies, without the ones reported here (self-dependency, repeated entry), so
    /// they do not cause a second error from rustc.
    pub(crate) deps: Vec<&'a Path>,
}

/// Checks everything that needs no name resolution.
pub(crate) fn migration<'a>(
    args: &'a Args,
    func: &MigrationFn,
    errors: &mut Errors,
) -> Checked<'a> {
    signature(func, errors);
    let name = func.sig.ident.unraw().to_string();
    let id = match &args.id {
        Some(lit) => {
            let value = lit.value();
            if let Err(problem) = check_id(&value) {
                errors.at(lit.span(), format!("invalid migration id: {problem}"));
            }
            value
        }
        None => {
            if let Err(problem) = check_id(&name) {
                errors.at(
                    func.sig.ident.span(),
                    format!(
                        "the function name cannot be the migration id: {problem}; \
                         set one with `#[migration(id = \"...\")]`"
                    ),
                );
            }
            name.clone()
        }
    };
    let mut deps = Vec::new();
    if let Some(after) = &args.after {
        let mut seen: Vec<String> = Vec::new();
        for path in &after.paths {
            let text = path_string(path);
            if is_own_name(path, &name) {
                errors.spanned(path, "a migration cannot depend on itself");
            } else if seen.contains(&text) {
                errors.spanned(path, format!("`{text}` is listed twice in `after`"));
            } else {
                deps.push(path);
            }
            seen.push(text);
        }
    }
    if let Some(down) = args.down.as_ref().filter(|down| is_own_name(down, &name)) {
        errors.spanned(
            down,
            "a migration cannot be its own `down`: name the function that undoes it",
        );
    }
    Checked { id, deps }
}

/// `name` or `self::name`: certainly this very function.
fn is_own_name(path: &Path, name: &str) -> bool {
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|s| s.ident.unraw().to_string())
        .collect();
    path.leading_colon.is_none()
        && match segments.as_slice() {
            [only] => only == name,
            [first, only] => first == "self" && only == name,
            _ => false,
        }
}

const SIGNATURE: &str = "`fn name(m: &mut Migration)`";

fn signature(func: &MigrationFn, errors: &mut Errors) {
    let sig = &func.sig;
    if let Some(token) = &sig.asyncness {
        errors.spanned(
            token,
            format!(
                "a `#[migration]` function cannot be `async`: it records operations, \
                 which the runner executes later; expected {SIGNATURE}"
            ),
        );
    }
    if let Some(token) = &sig.unsafety {
        errors.spanned(
            token,
            format!("a `#[migration]` function cannot be `unsafe`; expected {SIGNATURE}"),
        );
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(
            abi,
            format!("a `#[migration]` function cannot have an ABI; expected {SIGNATURE}"),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.spanned(
            &sig.generics,
            format!("a `#[migration]` function cannot be generic; expected {SIGNATURE}"),
        );
    }
    if let Some(clause) = &sig.generics.where_clause {
        errors.spanned(
            clause,
            format!("a `#[migration]` function cannot have a `where` clause; expected {SIGNATURE}"),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(
            variadic,
            format!("a `#[migration]` function cannot be variadic; expected {SIGNATURE}"),
        );
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        None => errors.at(
            sig.paren_token.span.join(),
            format!("a `#[migration]` function takes one parameter, `m: &mut Migration`; expected {SIGNATURE}"),
        ),
        Some(FnArg::Receiver(receiver)) => errors.spanned(
            receiver,
            format!("a `#[migration]` function cannot take `self`; expected {SIGNATURE}"),
        ),
        Some(FnArg::Typed(arg)) => match &*arg.ty {
            // A lifetime is reported with the generics, or by the type check if `'static`.
            Type::Reference(r) if r.mutability.is_some() => {}
            other => errors.spanned(
                other,
                format!("the parameter of a `#[migration]` function must be `&mut Migration`; expected {SIGNATURE}"),
            ),
        },
    }
    for extra in inputs {
        errors.spanned(
            extra,
            format!("a `#[migration]` function takes only one parameter; expected {SIGNATURE}"),
        );
    }
    if let ReturnType::Type(arrow, ty) = &sig.output {
        let unit = matches!(&**ty, Type::Tuple(t) if t.elems.is_empty());
        if !unit {
            let mut tokens = arrow.to_token_stream();
            ty.to_tokens(&mut tokens);
            errors.spanned(
                tokens,
                format!(
                    "a `#[migration]` function cannot return a value: it records operations on `m`; \
                     expected {SIGNATURE}"
                ),
            );
        }
    }
}
