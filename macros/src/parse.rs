//! Reads the attribute arguments and the annotated function.
//!
//! Parsing never stops at the first mistake: every error is recorded in [`Errors`] and parsing
//! resumes at the next top-level `,`, so one wrong key does not hide the next one.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Ident, Lit, LitBool, LitStr, Path, Signature, Token, Visibility};

/// The keys `#[migration(...)]` accepts, in the order error messages list them.
pub(crate) const KEYS: &[&str] = &[
    "after",
    "id",
    "transactional",
    "down",
    "contract",
    "safe",
    "allow",
    "backup",
];

/// The keys that are flags, written alone.
const FLAGS: &[&str] = &["contract", "safe"];

/// Errors collected across parse and validate, combined into one `syn::Error`.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// One `compile_error!` per recorded error, each at its own span.
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.0
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }
}

/// The arguments of `#[migration(...)]`. A key that was missing or malformed is `None`.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) after: Option<After>,
    pub(crate) id: Option<LitStr>,
    pub(crate) transactional: Option<LitBool>,
    pub(crate) down: Option<Path>,
    /// The bare `contract` flag.
    pub(crate) contract: Option<Ident>,
    /// The bare `safe` flag.
    pub(crate) safe: Option<Ident>,
    /// `allow(GW003 = "reason", ...)`: the codes and reasons that parsed.
    pub(crate) allow: Option<Vec<(Ident, LitStr)>>,
    /// `backup` (the key), or `backup(tables)` (the key and `tables`).
    pub(crate) backup: Option<(Ident, Option<Ident>)>,
}

/// `after = [a, b::c]`: the paths that parsed.
pub(crate) struct After {
    pub(crate) paths: Vec<Path>,
}

/// The annotated function. The body is kept as an opaque group: a syntax error inside it is
/// rustc's to report, and it must not turn into "this is not a function".
pub(crate) struct MigrationFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) body: Group,
}

impl ToTokens for MigrationFn {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        for attr in &self.attrs {
            attr.to_tokens(tokens);
        }
        self.vis.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        self.body.to_tokens(tokens);
    }
}

/// Parses the annotated item as a function; `Err` carries an error spanned at the first token
/// that is not part of a function.
pub(crate) fn function(input: TokenStream) -> syn::Result<MigrationFn> {
    let parser = |input: ParseStream| {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "`#[migration]` applies to a function: `fn name(m: &mut Migration) { ... }`",
            )
        })?;
        let body = match input.parse::<TokenTree>() {
            Ok(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
            Ok(other) => {
                return Err(syn::Error::new(
                    other.span(),
                    "expected the function body `{ ... }`",
                ));
            }
            Err(e) => {
                return Err(syn::Error::new(
                    e.span(),
                    "expected the function body `{ ... }`",
                ));
            }
        };
        Ok(MigrationFn {
            attrs,
            vis,
            sig,
            body,
        })
    };
    parser.parse2(input)
}

/// Parses `key = value, ...`, recording every problem in `errors`.
pub(crate) fn args(tokens: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let parser = |input: ParseStream| -> syn::Result<()> {
        while !input.is_empty() {
            parse_one(input, &mut args, errors)?;
            if !input.is_empty() {
                // `parse_one` stops at a top-level comma or at the end.
                input.parse::<Token![,]>()?;
            }
        }
        Ok(())
    };
    if let Err(e) = parser.parse2(tokens) {
        errors.push(e);
    }
    args
}

fn expected_keys() -> String {
    let keys: Vec<String> = KEYS.iter().map(|k| format!("`{k}`")).collect();
    keys.join(", ")
}

fn example(key: &str) -> &'static str {
    match key {
        "after" => "after = [create_users]",
        "id" => "id = \"create_users\"",
        "transactional" => "transactional = false",
        "down" => "down = drop_users",
        "contract" => "contract",
        "safe" => "safe",
        "allow" => "allow(GW003 = \"the table has 40 rows\")",
        "backup" => "backup",
        _ => "",
    }
}

/// Consumes every token up to (not including) the next top-level `,`.
fn take_until_comma(input: ParseStream) -> syn::Result<TokenStream> {
    let mut value = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        value.extend([input.parse::<TokenTree>()?]);
    }
    Ok(value)
}

fn parse_one(input: ParseStream, args: &mut Args, errors: &mut Errors) -> syn::Result<()> {
    let key = if input.peek(Ident::peek_any) {
        input.call(Ident::parse_any)?
    } else {
        let bad = take_until_comma(input)?;
        errors.spanned(bad, format!("expected a key, one of {}", expected_keys()));
        return Ok(());
    };
    let name = key.to_string();
    if !KEYS.contains(&name.as_str()) {
        errors.at(
            key.span(),
            format!("unknown key `{name}`, expected one of {}", expected_keys()),
        );
        take_until_comma(input)?;
        return Ok(());
    }
    let duplicate = match name.as_str() {
        "after" => args.after.is_some(),
        "id" => args.id.is_some(),
        "transactional" => args.transactional.is_some(),
        "contract" => args.contract.is_some(),
        "safe" => args.safe.is_some(),
        "allow" => args.allow.is_some(),
        "backup" => args.backup.is_some(),
        _ => args.down.is_some(),
    };
    if FLAGS.contains(&name.as_str()) {
        if input.peek(Token![=]) || input.peek(syn::token::Paren) {
            let value = take_until_comma(input)?;
            errors.spanned(
                value,
                format!("`{name}` is a flag and takes no value: write `{name}` alone"),
            );
        } else if duplicate {
            errors.at(key.span(), format!("duplicate key `{name}`"));
        } else if name == "contract" {
            args.contract = Some(key);
        } else {
            args.safe = Some(key);
        }
        return Ok(());
    }
    if name == "backup" {
        let value = take_until_comma(input)?;
        let scope = backup(&value, errors);
        if duplicate {
            errors.at(key.span(), format!("duplicate key `{name}`"));
        } else if let Some(scope) = scope {
            args.backup = Some((key, scope));
        }
        return Ok(());
    }
    if name == "allow" {
        let value = take_until_comma(input)?;
        let list = allow(&key, value, errors);
        if duplicate {
            errors.at(key.span(), format!("duplicate key `{name}`"));
        } else {
            args.allow = list;
        }
        return Ok(());
    }
    if !input.peek(Token![=]) {
        errors.at(
            key.span(),
            format!("expected `=` after `{name}`, e.g. `{}`", example(&name)),
        );
        take_until_comma(input)?;
        return Ok(());
    }
    let eq: Token![=] = input.parse()?;
    let value = take_until_comma(input)?;
    if duplicate {
        errors.at(key.span(), format!("duplicate key `{name}`"));
        return Ok(());
    }
    if value.is_empty() {
        errors.at(
            eq.span,
            format!("expected a value after `=`, e.g. `{}`", example(&name)),
        );
        return Ok(());
    }
    match name.as_str() {
        "after" => args.after = after(value, errors),
        "id" => {
            args.id = single_literal(&value, errors, "id").and_then(|lit| match lit {
                Lit::Str(s) => Some(s),
                other => {
                    errors.spanned(
                        other,
                        "`id` takes a string literal, e.g. `id = \"create_users\"`",
                    );
                    None
                }
            })
        }
        "transactional" => {
            args.transactional =
                single_literal(&value, errors, "transactional").and_then(|lit| match lit {
                    Lit::Bool(b) => Some(b),
                    other => {
                        errors.spanned(
                            other,
                            "`transactional` takes `true` or `false`, e.g. `transactional = false`",
                        );
                        None
                    }
                })
        }
        _ => args.down = down(value, errors),
    }
    Ok(())
}

/// The value as one literal (`true`/`false` count as literals), or an error naming the key.
fn single_literal(value: &TokenStream, errors: &mut Errors, key: &str) -> Option<Lit> {
    match syn::parse2::<Lit>(value.clone()) {
        Ok(lit) => Some(lit),
        Err(_) => {
            let message = match key {
                "id" => "`id` takes a string literal, e.g. `id = \"create_users\"`",
                _ => "`transactional` takes `true` or `false`, e.g. `transactional = false`",
            };
            errors.spanned(value, message);
            None
        }
    }
}

fn after(value: TokenStream, errors: &mut Errors) -> Option<After> {
    let mut tokens = value.clone().into_iter();
    let group = match (tokens.next(), tokens.next()) {
        (Some(TokenTree::Group(g)), None) if g.delimiter() == Delimiter::Bracket => g,
        _ => {
            let hint = match syn::parse2::<Path>(value.clone()) {
                Ok(path) => format!(
                    "`after` takes a list in brackets: `after = [{}]`",
                    path_string(&path)
                ),
                Err(_) => "`after` takes a list in brackets, e.g. `after = [create_users]`".into(),
            };
            errors.spanned(value, hint);
            return None;
        }
    };
    let mut paths = Vec::new();
    let parser = |input: ParseStream| -> syn::Result<()> {
        while !input.is_empty() {
            if input.peek(LitStr) {
                let lit: LitStr = input.parse()?;
                errors.spanned(
                    &lit,
                    format!(
                        "dependencies are paths to `#[migration]` functions, not strings: write `{}` without quotes",
                        lit.value()
                    ),
                );
            } else {
                match input.call(Path::parse_mod_style) {
                    Ok(path) => paths.push(path),
                    Err(e) => {
                        errors.at(
                            e.span(),
                            "expected a path to a `#[migration]` function, e.g. `create_users` or `crate::billing::create_invoices`",
                        );
                    }
                }
            }
            let rest = take_until_comma(input)?;
            if !rest.is_empty() {
                errors.spanned(rest, "expected `,` between dependencies");
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(())
    };
    if let Err(e) = parser.parse2(group.stream()) {
        errors.push(e);
    }
    Some(After { paths })
}

/// `allow(GW003 = "reason", ...)`: each code an identifier (the compiler checks it names a
/// rule), each reason a non-empty string.
fn allow(key: &Ident, value: TokenStream, errors: &mut Errors) -> Option<Vec<(Ident, LitStr)>> {
    const EXAMPLE: &str = "allow(GW003 = \"the table has 40 rows\")";
    let mut tokens = value.clone().into_iter();
    let group = match (tokens.next(), tokens.next()) {
        (Some(TokenTree::Group(g)), None) if g.delimiter() == Delimiter::Parenthesis => g,
        (None, _) => {
            errors.at(
                key.span(),
                format!("`allow` takes rule codes with reasons in parentheses: `{EXAMPLE}`"),
            );
            return None;
        }
        _ => {
            errors.spanned(
                value,
                format!("`allow` takes rule codes with reasons in parentheses: `{EXAMPLE}`"),
            );
            return None;
        }
    };
    let mut allows = Vec::new();
    let parser = |input: ParseStream| -> syn::Result<()> {
        while !input.is_empty() {
            let entry = take_until_comma(input)?;
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
            let parsed = (|input: ParseStream| -> syn::Result<(Ident, Option<LitStr>)> {
                let code: Ident = input.parse()?;
                if input.is_empty() {
                    return Ok((code, None));
                }
                input.parse::<Token![=]>()?;
                let reason: LitStr = input.parse()?;
                Ok((code, Some(reason)))
            })
            .parse2(entry.clone());
            match parsed {
                Ok((code, Some(reason))) if !reason.value().trim().is_empty() => {
                    allows.push((code, reason));
                }
                Ok((code, Some(reason))) => errors.spanned(
                    reason,
                    format!(
                        "the reason for allowing {code} is empty: say why the rule does not apply, e.g. `{code} = \"the table has 40 rows\"`"
                    ),
                ),
                Ok((code, None)) => errors.spanned(
                    &code,
                    format!(
                        "allowing a rule needs a reason: `{code} = \"why it does not apply\"`"
                    ),
                ),
                Err(_) => errors.spanned(
                    entry,
                    format!("expected `CODE = \"reason\"`, e.g. `{EXAMPLE}`"),
                ),
            }
        }
        Ok(())
    };
    if let Err(e) = parser.parse2(group.stream()) {
        errors.push(e);
    }
    Some(allows)
}

/// `backup` alone (the whole database) or `backup(tables)` (the tables the migration changes).
fn backup(value: &TokenStream, errors: &mut Errors) -> Option<Option<Ident>> {
    const HINT: &str =
        "`backup` takes nothing (the whole database) or `(tables)` (the tables it changes)";
    let mut tokens = value.clone().into_iter();
    match (tokens.next(), tokens.next()) {
        (None, _) => Some(None),
        (Some(TokenTree::Group(g)), None) if g.delimiter() == Delimiter::Parenthesis => {
            match syn::parse2::<Ident>(g.stream()) {
                Ok(scope) if scope == "tables" => Some(Some(scope)),
                _ => {
                    errors.spanned(g.stream(), HINT);
                    None
                }
            }
        }
        _ => {
            errors.spanned(value, HINT);
            None
        }
    }
}

fn down(value: TokenStream, errors: &mut Errors) -> Option<Path> {
    if let Ok(lit) = syn::parse2::<LitStr>(value.clone()) {
        errors.spanned(
            &lit,
            format!(
                "`down` takes a path to a function, not a string: write `down = {}`",
                lit.value()
            ),
        );
        return None;
    }
    match Path::parse_mod_style.parse2(value.clone()) {
        Ok(path) => Some(path),
        Err(_) => {
            errors.spanned(
                value,
                "`down` takes a path to a function with the signature `fn(&mut Migration)`, e.g. `down = drop_users`",
            );
            None
        }
    }
}

/// `a::b::c` without the spaces `to_token_stream().to_string()` puts around `::`.
pub(crate) fn path_string(path: &Path) -> String {
    let mut s = String::new();
    if path.leading_colon.is_some() {
        s.push_str("::");
    }
    for (i, seg) in path.segments.iter().enumerate() {
        if i > 0 {
            s.push_str("::");
        }
        s.push_str(&seg.ident.to_string());
    }
    s
}
