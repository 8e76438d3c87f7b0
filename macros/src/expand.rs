//! Writes the output of `#[migration]`.
//!
//! For `#[migration(after = [a, m::b])] fn c(m: &mut Migration) { .. }` it emits:
//!
//! - the user's function, untouched;
//! - a hidden braced struct `c {}`: it lives in the type namespace only, so it sits beside
//!   `fn c` and makes `c` nameable as a type from any `after = [...]`;
//! - `impl MigrationMarker for c` with the id, the dependencies' ids (read from *their* marker,
//!   so their `id = "..."` overrides are honoured) and `DEPTH = max(deps' DEPTH) + 1`;
//! - a constant equal to `<c as MigrationMarker>::DEPTH`, which forces evaluation: a dependency
//!   cycle is then a compile error (E0391), and a missing dependency is an unresolved type at the
//!   user's path;
//! - the registry entry, submitted with `inventory`, after checking `fn c` and `down` against
//!   `fn(&mut Migration)` at the user's tokens.
//!
//! On any error from parse/validate, the function, the struct and the marker are still emitted
//! (so migrations that depend on this one see no extra errors), the registration is not, and one
//! `compile_error!` per problem is appended.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Path, Type};

use crate::parse::{self, Args, Errors, MigrationFn};
use crate::validate;

pub(crate) fn migration(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let func = match parse::function(input.clone()) {
        Ok(func) => func,
        Err(e) => {
            errors.push(e);
            // Still report mistakes in the arguments.
            let _ = parse::args(args, &mut errors);
            let compile_errors = errors.to_compile_errors();
            return quote! { #input #compile_errors };
        }
    };
    let args = parse::args(args, &mut errors);
    let checked = validate::migration(&args, &func, &mut errors);
    let register = errors.is_empty().then_some(&args);
    let marker = marker(&func, &checked.deps, &checked.id, register);
    let compile_errors = errors.to_compile_errors();
    quote! {
        #func
        #marker
        #compile_errors
    }
}

/// The marker struct, its `MigrationMarker` impl, the forced `DEPTH`, and (if `register`) the
/// registry entry.
fn marker(func: &MigrationFn, deps: &[&Path], id: &str, register: Option<&Args>) -> TokenStream {
    let name = &func.sig.ident;
    let vis = &func.vis;
    // One alias per dependency: each user path is resolved exactly once, so a missing or wrong
    // dependency gives exactly one error, at the user's path.
    let aliases: Vec<Ident> = (0..deps.len())
        .map(|i| format_ident!("__GodwitDependency{}", i))
        .collect();
    // `<dep as MigrationMarker>` carries the span of the dependency's name, so "`x` is not a
    // `#[migration]` function" points at `x` in `after = [...]`.
    let spans: Vec<Span> = deps.iter().map(|path| last_ident_span(path)).collect();
    // The alias itself too: rustc reports an unimplemented trait at the `Self` type.
    let respanned = |alias: &Ident, span: Span| {
        let mut alias = alias.clone();
        alias.set_span(span);
        alias
    };
    let ids = spans.iter().zip(&aliases).map(|(&span, alias)| {
        let alias = respanned(alias, span);
        quote_spanned!(span=> <#alias as ::godwit::__private::MigrationMarker>::ID)
    });
    // `deeper(deeper(0, A::DEPTH), B::DEPTH)`: no array, so no promoted constant that would
    // double the notes of a cycle error.
    let depth = spans
        .iter()
        .zip(&aliases)
        .fold(quote!(0usize), |acc, (&span, alias)| {
            let alias = respanned(alias, span);
            let dep =
                quote_spanned!(span=> <#alias as ::godwit::__private::MigrationMarker>::DEPTH);
            quote!(::godwit::__private::deeper(#acc, #dep))
        });
    let registration = register.map(|args| registration(func, args));
    quote! {
        #[allow(non_camel_case_types, dead_code)]
        #[doc(hidden)]
        #vis struct #name {}

        const _: () = {
            #( type #aliases = #deps; )*

            impl ::godwit::__private::MigrationMarker for #name {
                const ID: &'static str = #id;
                const DEPS: &'static [&'static str] = &[#( #ids, )*];
                const DEPTH: usize = #depth;
            }

            // The same migration reached through two paths (`a` and `self::a`), or two
            // dependencies sharing an id.
            const _: () = ::core::assert!(
                ::godwit::__private::distinct(
                    <#name as ::godwit::__private::MigrationMarker>::DEPS
                ),
                "`after` names the same migration twice (through two paths, or two migrations with the same id)",
            );

            // Forces evaluation of DEPTH: a dependency cycle fails here (E0391), and the name
            // shows in the last note of that error.
            #[allow(dead_code, non_upper_case_globals)]
            const godwit_dependency_cycle_check: usize =
                <#name as ::godwit::__private::MigrationMarker>::DEPTH;

            #registration
        };
    }
}

fn last_ident_span(path: &Path) -> Span {
    path.segments
        .last()
        .map(|segment| segment.ident.span())
        .unwrap_or_else(Span::call_site)
}

/// The span of the name in a type (`String` in `&mut String`): on stable, a span cannot cover
/// several tokens, and `&` alone says little.
fn type_name_span(ty: &Type) -> Span {
    match ty {
        Type::Reference(r) => type_name_span(&r.elem),
        Type::Paren(p) => type_name_span(&p.elem),
        Type::Group(g) => type_name_span(&g.elem),
        Type::Path(p) => last_ident_span(&p.path),
        other => other.span(),
    }
}

fn registration(func: &MigrationFn, args: &Args) -> TokenStream {
    let name = &func.sig.ident;
    // The coercion to `fn(&mut Migration)` is checked at the parameter's type, so a wrong
    // parameter type is reported there and not inside generated code.
    let at_param = func
        .sig
        .inputs
        .first()
        .map(|arg| match arg {
            FnArg::Typed(typed) => type_name_span(&typed.ty),
            FnArg::Receiver(receiver) => receiver.span(),
        })
        .unwrap_or_else(|| name.span());
    let mut up_name = name.clone();
    up_name.set_span(at_param);
    let up = quote_spanned!(at_param=>
        const __GODWIT_UP: fn(&mut ::godwit::__private::Migration) = #up_name;
    );
    let (down_const, with_down) = match &args.down {
        Some(path) => {
            let span = last_ident_span(path);
            (
                quote_spanned!(span=>
                    const __GODWIT_DOWN: fn(&mut ::godwit::__private::Migration) = #path;
                ),
                quote!(.with_down(__GODWIT_DOWN)),
            )
        }
        None => (TokenStream::new(), TokenStream::new()),
    };
    let transactional = args
        .transactional
        .as_ref()
        .map(|lit| quote!(.with_transactional(#lit)));
    let contract = args.contract.as_ref().map(|_| quote!(.with_contract()));
    let safe = args.safe.as_ref().map(|_| quote!(.with_safe()));
    let backup = args.backup.as_ref().map(|(_, scope)| match scope {
        Some(_) => quote!(.with_backup(::godwit::__private::BackupScope::Tables)),
        None => quote!(.with_backup(::godwit::__private::BackupScope::Database)),
    });
    // Each code is a path into `Lint`, spanned at the user's token: a code that names no rule
    // is the compiler's error there.
    let allows = args.allow.as_ref().map(|allows| {
        let entries = allows.iter().map(|(code, reason)| {
            quote_spanned!(code.span()=> (::godwit::__private::Lint::#code, #reason))
        });
        quote!(.with_allows(&[#(#entries),*]))
    });
    quote! {
        #up
        #down_const
        ::godwit::__private::inventory::submit! {
            ::godwit::__private::MigrationEntry::new(
                <#name as ::godwit::__private::MigrationMarker>::ID,
                <#name as ::godwit::__private::MigrationMarker>::DEPS,
                __GODWIT_UP,
                ::godwit::__private::Location::new(
                    ::core::module_path!(),
                    ::core::file!(),
                    ::core::line!(),
                ),
            )
            #with_down
            #transactional
            #contract
            #safe
            #allows
            #backup
        }
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    use super::migration;

    /// The messages of the `compile_error!`s in an expansion, in order.
    fn errors(args: TokenStream, input: TokenStream) -> Vec<String> {
        let out = migration(args, input).to_string();
        let mut messages = Vec::new();
        let mut rest = out.as_str();
        while let Some(at) = rest.find("compile_error !") {
            rest = &rest[at..];
            let start = rest.find('"').expect("compile_error! has a message") + 1;
            let len = rest[start..]
                .find("\" }")
                .expect("compile_error! message ends");
            messages.push(rest[start..start + len].replace("\\\"", "\""));
            rest = &rest[start + len..];
        }
        messages
    }

    fn base_fn() -> TokenStream {
        quote!(
            fn create_posts(m: &mut Migration) {}
        )
    }

    #[test]
    fn base_migration_expands_to_fn_marker_and_registration() {
        let out = migration(
            TokenStream::new(),
            quote!(
                pub fn create_users(m: &mut Migration) {
                    m.sql("select 1");
                }
            ),
        )
        .to_string();
        assert!(
            out.starts_with(
                "pub fn create_users (m : & mut Migration) { m . sql (\"select 1\") ; }"
            ),
            "{out}"
        );
        assert!(out.contains("pub struct create_users { }"), "{out}");
        assert!(
            out.contains("const ID : & 'static str = \"create_users\""),
            "{out}"
        );
        assert!(out.contains("const DEPTH : usize = 0usize ;"), "{out}");
        assert!(out.contains("inventory :: submit !"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
        assert!(!out.contains(". with_down"), "{out}");
        assert!(!out.contains(". with_transactional"), "{out}");
    }

    #[test]
    fn full_expansion_snapshot() {
        let out = migration(
            quote!(
                after = [create_users, crate::billing::create_invoices],
                id = "posts_v1",
                transactional = false,
                down = drop_posts
            ),
            base_fn(),
        );
        let pretty = out
            .to_string()
            .replace("; ", ";\n")
            .replace("{ ", "{\n")
            .replace("} ", "}\n");
        insta::assert_snapshot!(pretty);
    }

    #[test]
    fn dependencies_use_their_markers_id_and_depth() {
        let out = migration(quote!(after = [a, m::b]), base_fn()).to_string();
        assert!(out.contains("type __GodwitDependency0 = a ;"), "{out}");
        assert!(out.contains("type __GodwitDependency1 = m :: b ;"), "{out}");
        assert!(out.contains(
            "< __GodwitDependency1 as :: godwit :: __private :: MigrationMarker > :: ID"
        ));
        assert!(out.contains(
            "const DEPTH : usize = :: godwit :: __private :: deeper (:: godwit :: __private :: deeper (0usize , \
             < __GodwitDependency0 as :: godwit :: __private :: MigrationMarker > :: DEPTH) , \
             < __GodwitDependency1 as :: godwit :: __private :: MigrationMarker > :: DEPTH) ;"
        ), "{out}");
        assert!(out.contains(
            "const godwit_dependency_cycle_check : usize = < create_posts as :: godwit :: __private :: MigrationMarker > :: DEPTH ;"
        ), "{out}");
    }

    #[test]
    fn reported_dependencies_are_not_emitted_again() {
        // The self-dependency and the repeated entry are reported by the macro; emitting them
        // would add a cycle error and nothing else.
        let out = migration(quote!(after = [create_posts, a, a]), base_fn()).to_string();
        assert!(out.contains("type __GodwitDependency0 = a ;"), "{out}");
        assert!(!out.contains("__GodwitDependency1"), "{out}");
        assert!(!out.contains("= create_posts ;"), "{out}");
    }

    #[test]
    fn up_and_down_are_checked_as_fn_pointers() {
        let out = migration(quote!(down = m::drop_posts), base_fn()).to_string();
        assert!(out.contains(
            "const __GODWIT_UP : fn (& mut :: godwit :: __private :: Migration) = create_posts ;"
        ), "{out}");
        assert!(out.contains(
            "const __GODWIT_DOWN : fn (& mut :: godwit :: __private :: Migration) = m :: drop_posts ;"
        ), "{out}");
        assert!(out.contains(". with_down (__GODWIT_DOWN)"), "{out}");
    }

    #[test]
    fn raw_identifier_gives_unraw_id() {
        let out = migration(
            TokenStream::new(),
            quote!(
                fn r#match(m: &mut Migration) {}
            ),
        )
        .to_string();
        assert!(
            out.contains("const ID : & 'static str = \"match\""),
            "{out}"
        );
    }

    #[test]
    fn unknown_key_lists_expected_keys() {
        assert_eq!(
            errors(quote!(depends_on = [a]), base_fn()),
            [
                "unknown key `depends_on`, expected one of `after`, `id`, `transactional`, `down`, `contract`, `safe`, `allow`, `backup`"
            ]
        );
    }

    #[test]
    fn duplicate_key() {
        assert_eq!(
            errors(quote!(id = "a", id = "b"), base_fn()),
            ["duplicate key `id`"]
        );
    }

    #[test]
    fn wrong_value_types() {
        assert_eq!(
            errors(
                quote!(after = a, id = 5, transactional = "no", down = "drop_posts"),
                base_fn()
            ),
            [
                "`after` takes a list in brackets: `after = [a]`",
                "`id` takes a string literal, e.g. `id = \"create_users\"`",
                "`transactional` takes `true` or `false`, e.g. `transactional = false`",
                "`down` takes a path to a function, not a string: write `down = drop_posts`",
            ]
        );
    }

    #[test]
    fn missing_equals_and_missing_value() {
        assert_eq!(
            errors(quote!(transactional, id =), base_fn()),
            [
                "expected `=` after `transactional`, e.g. `transactional = false`",
                "expected a value after `=`, e.g. `id = \"create_users\"`",
            ]
        );
    }

    #[test]
    fn string_dependency_suggests_path() {
        assert_eq!(
            errors(quote!(after = ["create_users", b c]), base_fn()),
            [
                "dependencies are paths to `#[migration]` functions, not strings: write `create_users` without quotes",
                "expected `,` between dependencies",
            ]
        );
    }

    #[test]
    fn self_and_repeated_dependencies() {
        assert_eq!(
            errors(
                quote!(
                    after = [create_posts, a, self::a, a, self::create_posts],
                    down = create_posts
                ),
                base_fn()
            ),
            [
                "a migration cannot depend on itself",
                "`a` is listed twice in `after`",
                "a migration cannot depend on itself",
                "a migration cannot be its own `down`: name the function that undoes it",
            ]
        );
    }

    #[test]
    fn invalid_ids() {
        assert_eq!(
            errors(quote!(id = ""), base_fn()),
            ["invalid migration id: an id cannot be empty"]
        );
        assert_eq!(
            errors(quote!(id = "2024-01-01"), base_fn()),
            ["invalid migration id: `2024-01-01` contains `-`; use letters, digits, `_` and `.`"]
        );
        assert_eq!(
            errors(quote!(id = "heads"), base_fn()),
            ["invalid migration id: `heads` is reserved for the target `heads`"]
        );
        assert_eq!(
            errors(
                TokenStream::new(),
                quote!(
                    fn base(m: &mut Migration) {}
                )
            ),
            [
                "the function name cannot be the migration id: `base` is reserved for the target `base`; set one with `#[migration(id = \"...\")]`"
            ]
        );
        // An explicit id makes a reserved function name fine.
        assert!(
            errors(
                quote!(id = "base_schema"),
                quote!(
                    fn base(m: &mut Migration) {}
                )
            )
            .is_empty()
        );
        let long = "x".repeat(129);
        assert_eq!(
            errors(quote!(id = #long), base_fn()),
            [format!(
                "invalid migration id: `{long}` is 129 bytes long; the limit is 128"
            )]
        );
    }

    #[test]
    fn signature_errors_are_all_reported() {
        let sig = "expected `fn name(m: &mut Migration)`";
        assert_eq!(
            errors(
                TokenStream::new(),
                quote!(
                    async unsafe extern "C" fn f<T>(m: &mut Migration, x: T) -> u32
                    where
                        T: Copy,
                    {
                        0
                    }
                )
            ),
            [
                format!(
                    "a `#[migration]` function cannot be `async`: it records operations, which the runner executes later; {sig}"
                ),
                format!("a `#[migration]` function cannot be `unsafe`; {sig}"),
                format!("a `#[migration]` function cannot have an ABI; {sig}"),
                format!("a `#[migration]` function cannot be generic; {sig}"),
                format!("a `#[migration]` function cannot have a `where` clause; {sig}"),
                format!("a `#[migration]` function takes only one parameter; {sig}"),
                format!(
                    "a `#[migration]` function cannot return a value: it records operations on `m`; {sig}"
                ),
            ]
        );
        assert_eq!(
            errors(
                TokenStream::new(),
                quote!(
                    fn f() {}
                )
            ),
            [format!(
                "a `#[migration]` function takes one parameter, `m: &mut Migration`; {sig}"
            )]
        );
        assert_eq!(
            errors(
                TokenStream::new(),
                quote!(
                    fn f(m: Migration) {}
                )
            ),
            [format!(
                "the parameter of a `#[migration]` function must be `&mut Migration`; {sig}"
            )]
        );
        assert_eq!(
            errors(
                TokenStream::new(),
                quote!(
                    fn f(&mut self) {}
                )
            ),
            [format!(
                "a `#[migration]` function cannot take `self`; {sig}"
            )]
        );
        // `-> ()` and `const fn` are fine.
        assert!(
            errors(
                TokenStream::new(),
                quote!(
                    const fn f(m: &mut Migration) -> () {}
                )
            )
            .is_empty()
        );
    }

    #[test]
    fn errors_in_args_and_signature_are_combined() {
        assert_eq!(
            errors(
                quote!(colour = "red", id = 1),
                quote!(
                    async fn f(m: &mut Migration) {}
                )
            )
            .len(),
            3
        );
    }

    #[test]
    fn on_error_the_fn_and_marker_are_kept_but_not_registered() {
        let out = migration(quote!(bogus = 1, after = [a]), base_fn()).to_string();
        assert!(
            out.starts_with("fn create_posts (m : & mut Migration) { }"),
            "{out}"
        );
        assert!(out.contains("struct create_posts { }"), "{out}");
        assert!(out.contains("impl :: godwit :: __private :: MigrationMarker for create_posts"));
        assert!(out.contains("type __GodwitDependency0 = a ;"), "{out}");
        assert!(!out.contains("submit"), "{out}");
        assert!(out.contains("compile_error"), "{out}");
    }

    #[test]
    fn not_a_function_keeps_the_item_and_reports_args_too() {
        let input = quote!(
            struct Users;
        );
        let out = migration(quote!(bogus = 1), input).to_string();
        assert!(out.starts_with("struct Users ;"), "{out}");
        assert_eq!(
            errors(
                quote!(bogus = 1),
                quote!(
                    struct Users;
                )
            ),
            [
                "`#[migration]` applies to a function: `fn name(m: &mut Migration) { ... }`",
                "unknown key `bogus`, expected one of `after`, `id`, `transactional`, `down`, `contract`, `safe`, `allow`, `backup`",
            ]
        );
    }

    #[test]
    fn body_syntax_is_not_inspected() {
        // A body that is not valid Rust is rustc's to report, not ours.
        let out = migration(
            TokenStream::new(),
            quote!(
                fn f(m: &mut Migration) { let = ; }
            ),
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("{ let = ; }"), "{out}");
    }
}
