//! Policy variables: `${aws:username}`, `${aws:PrincipalTag/team}`, any
//! request key, defaults `${key, 'default'}`, and the escapes `${*}`, `${?}`
//! and `${$}`.
//!
//! Rules (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html>):
//! - variables work only under `"Version": "2012-10-17"`; under 2008-10-17 the
//!   text `${...}` is literal;
//! - they may stand in `Resource`/`NotResource` and in condition values;
//! - the key name is case-insensitive, the default value case-sensitive,
//!   spaces around the key and the quoted default are ignored, and `''`
//!   inside a default is one quote;
//! - a variable whose key is absent (or multivalued) and has no default
//!   cannot be resolved: the element that holds it does not match;
//! - a value that comes from a variable is literal text, never a wildcard.

use crate::context::{Context, ContextValue, Key};
use crate::wildcard::{glob, glob_with, str_eq, str_starts_with, Tok};
use smallvec::SmallVec;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(Box<str>),
    Star,
    One,
    Var { key: Key, default: Option<Box<str>> },
}

/// A string that may hold wildcards and variables, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
    fast: Fast,
    /// The template holds `*` or `?` wildcards.
    wild: bool,
}

/// Shapes that need no token list at match time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fast {
    No,
    Any,
    Exact(Box<str>),
    Prefix(Box<str>),
}

/// Resolved tokens; eight cover nearly every real pattern without a heap allocation.
pub type Toks<'a> = SmallVec<[Tok<'a>; 8]>;

impl Template {
    /// Parse `s`. `wildcards`: `*`/`?` are wildcards (Resource, `StringLike`,
    /// `ArnLike`). `variables`: `${...}` is a variable (version 2012-10-17).
    pub fn parse(s: &str, wildcards: bool, variables: bool) -> Template {
        let mut pieces: Vec<Piece> = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while !rest.is_empty() {
            if variables && rest.starts_with("${") {
                if let Some((piece, used)) = parse_var(rest) {
                    match piece {
                        Piece::Lit(l) => lit.push_str(&l),
                        other => {
                            if !lit.is_empty() {
                                pieces.push(Piece::Lit(std::mem::take(&mut lit).into()));
                            }
                            pieces.push(other);
                        }
                    }
                    rest = rest.get(used..).unwrap_or_default();
                    continue;
                }
            }
            let mut chars = rest.chars();
            let Some(c) = chars.next() else { break };
            if wildcards && (c == '*' || c == '?') {
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit).into()));
                }
                if c == '*' {
                    if pieces.last() != Some(&Piece::Star) {
                        pieces.push(Piece::Star);
                    }
                } else {
                    pieces.push(Piece::One);
                }
            } else {
                lit.push(c);
            }
            rest = chars.as_str();
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit.into()));
        }
        let fast = match pieces.as_slice() {
            [] => Fast::Exact("".into()),
            [Piece::Star] => Fast::Any,
            [Piece::Lit(l)] => Fast::Exact(l.clone()),
            [Piece::Lit(l), Piece::Star] => Fast::Prefix(l.clone()),
            _ => Fast::No,
        };
        let wild = pieces.iter().any(|p| matches!(p, Piece::Star | Piece::One));
        Template { pieces, fast, wild }
    }

    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The variable keys (lowercased) this template refers to.
    pub fn variable_keys(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var { key, .. } => Some(key.as_str()),
            _ => None,
        })
    }

    /// Resolve variables against the context. `None`: a variable cannot be
    /// resolved and the element does not match.
    pub fn resolve<'a>(&'a self, ctx: &'a Context) -> Option<Toks<'a>> {
        let mut out = Toks::new();
        for p in &self.pieces {
            out.push(match p {
                Piece::Lit(l) => Tok::Lit(l),
                Piece::Star => Tok::Star,
                Piece::One => Tok::One,
                Piece::Var { key, default } => match ctx.lookup(key) {
                    Some(ContextValue::Single(v)) => Tok::Lit(v),
                    _ => Tok::Lit(default.as_deref()?),
                },
            });
        }
        Some(out)
    }

    /// Whether `s` matches (with wildcards if the template was parsed with
    /// them). `None` when a variable cannot be resolved.
    #[inline]
    pub fn matches(&self, s: &str, ctx: &Context) -> Option<bool> {
        match &self.fast {
            Fast::Any => Some(true),
            Fast::Exact(e) => Some(str_eq(e, s)),
            Fast::Prefix(p) => Some(str_starts_with(s, p)),
            Fast::No if !self.wild => self.equals_pieces(s, ctx),
            Fast::No => {
                // Resolve the variables (usually one) first, then glob over
                // the pieces in place.
                let mut vals: SmallVec<[&str; 2]> = SmallVec::new();
                for p in &self.pieces {
                    if let Piece::Var { key, default } = p {
                        vals.push(match ctx.lookup(key) {
                            Some(ContextValue::Single(v)) => v,
                            _ => default.as_deref()?,
                        });
                    }
                }
                let mut var_at: SmallVec<[usize; 8]> = SmallVec::new();
                let mut k = 0;
                for p in &self.pieces {
                    var_at.push(k);
                    if matches!(p, Piece::Var { .. }) {
                        k += 1;
                    }
                }
                Some(glob_with(self.pieces.len(), s, |i| {
                    match self.pieces.get(i) {
                        Some(Piece::Lit(l)) => Tok::Lit(l),
                        Some(Piece::Star) => Tok::Star,
                        Some(Piece::One) => Tok::One,
                        Some(Piece::Var { .. }) => Tok::Lit(
                            var_at
                                .get(i)
                                .and_then(|&k| vals.get(k))
                                .copied()
                                .unwrap_or(""),
                        ),
                        None => Tok::Lit(""),
                    }
                }))
            }
        }
    }

    /// Exact comparison piece by piece, resolving variables on the way.
    #[inline]
    fn equals_pieces(&self, s: &str, ctx: &Context) -> Option<bool> {
        let mut rest = s;
        let mut mismatch = false;
        for p in &self.pieces {
            let lit: &str = match p {
                Piece::Lit(l) => l,
                Piece::Var { key, default } => match ctx.lookup(key) {
                    Some(ContextValue::Single(v)) => v,
                    _ => default.as_deref()?,
                },
                Piece::Star | Piece::One => return Some(glob(&self.resolve(ctx)?, s)),
            };
            if !mismatch && str_starts_with(rest, lit) {
                rest = rest.get(lit.len()..).unwrap_or_default();
            } else {
                // Keep resolving: an unresolvable variable later on still
                // makes the whole value unresolvable.
                mismatch = true;
            }
        }
        Some(!mismatch && rest.is_empty())
    }

    /// The resolved text (wildcards rendered as `*`/`?`); `None` when a
    /// variable cannot be resolved.
    pub fn render(&self, ctx: &Context) -> Option<String> {
        let toks = self.resolve(ctx)?;
        let mut s = String::new();
        for t in toks {
            match t {
                Tok::Lit(l) => s.push_str(l),
                Tok::Star => s.push('*'),
                Tok::One => s.push('?'),
            }
        }
        Some(s)
    }

    /// Equality ignoring case (`StringEqualsIgnoreCase`): no wildcards.
    pub fn equals_ignore_case(&self, s: &str, ctx: &Context) -> Option<bool> {
        if let Fast::Exact(e) = &self.fast {
            return Some(eq_ignore_case(e, s));
        }
        let r = self.render(ctx)?;
        Some(eq_ignore_case(&r, s))
    }
}

/// Case-insensitive equality; ASCII fast path, Unicode lowercase otherwise.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// Parse one `${...}` at the start of `s`: the piece and the bytes used.
/// `None` when it is not a well-formed variable (then the text is literal).
fn parse_var(s: &str) -> Option<(Piece, usize)> {
    let body_start = 2;
    let close = find_close(s)?;
    let body = s.get(body_start..close)?;
    let used = close + 1;
    match body {
        "*" => return Some((Piece::Lit("*".into()), used)),
        "?" => return Some((Piece::Lit("?".into()), used)),
        "$" => return Some((Piece::Lit("$".into()), used)),
        _ => {}
    }
    let (key, default) = match body.find(',') {
        Some(i) => {
            let key = body.get(..i)?.trim();
            let d = body.get(i + 1..)?.trim();
            let inner = d.strip_prefix('\'')?.strip_suffix('\'')?;
            // `''` is an escaped quote; a lone quote is malformed.
            if inner.replace("''", "").contains('\'') {
                return None;
            }
            (key, Some(inner.replace("''", "'").into_boxed_str()))
        }
        None => (body.trim(), None),
    };
    if key.is_empty() || key.contains(char::is_whitespace) || key.contains(['$', '{', '}']) {
        return None;
    }
    Some((
        Piece::Var {
            key: Key::new(key),
            default,
        },
        used,
    ))
}

/// The index of the `}` that closes the `${` at the start of `s`, skipping
/// braces inside a quoted default.
fn find_close(s: &str) -> Option<usize> {
    let mut in_quote = false;
    for (i, c) in s.char_indices().skip(2) {
        match c {
            '\'' => in_quote = !in_quote,
            '}' if !in_quote => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        let mut c = Context::new();
        c.set("aws:username", "alice");
        c.set("aws:PrincipalTag/team", "da*ta");
        c.set_multi("aws:TagKeys", ["a", "b"]);
        c
    }

    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
    #[test]
    fn resolves_variables_case_insensitively() {
        let t = Template::parse("arn:aws:s3:::home/${AWS:UserName}/*", true, true);
        assert_eq!(t.matches("arn:aws:s3:::home/alice/x", &ctx()), Some(true));
        assert_eq!(t.matches("arn:aws:s3:::home/bob/x", &ctx()), Some(false));
    }

    #[test]
    fn unresolved_variable_does_not_match_unless_defaulted() {
        let t = Template::parse("home/${aws:userid}/*", true, true);
        assert_eq!(t.matches("home/x/y", &ctx()), None);
        let t = Template::parse("home/${aws:userid, 'nobody'}/*", true, true);
        assert_eq!(t.matches("home/nobody/y", &ctx()), Some(true));
        let t = Template::parse("${ aws:userid ,  'it''s' }", false, true);
        assert_eq!(t.matches("it's", &ctx()), Some(true));
        // Multivalued keys cannot be variables.
        let t = Template::parse("${aws:TagKeys}", false, true);
        assert_eq!(t.matches("a", &ctx()), None);
    }

    #[test]
    fn variable_values_are_literal() {
        let t = Template::parse("team/${aws:PrincipalTag/team}", true, true);
        assert_eq!(t.matches("team/da*ta", &ctx()), Some(true));
        assert_eq!(t.matches("team/daXXta", &ctx()), Some(false));
    }

    #[test]
    fn escapes() {
        let t = Template::parse("a${*}b${?}c${$}", true, true);
        assert_eq!(t.matches("a*b?c$", &ctx()), Some(true));
        assert_eq!(t.matches("aXbYc$", &ctx()), Some(false));
    }

    #[test]
    fn version_2008_keeps_text_literal() {
        let t = Template::parse("home/${aws:username}", false, false);
        assert_eq!(t.matches("home/${aws:username}", &ctx()), Some(true));
        assert_eq!(t.matches("home/alice", &ctx()), Some(false));
    }

    #[test]
    fn malformed_variable_is_literal() {
        let t = Template::parse("x${aws:username", false, true);
        assert_eq!(t.matches("x${aws:username", &ctx()), Some(true));
    }
}
