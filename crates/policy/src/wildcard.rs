//! `*` and `?` matching, as AWS applies it to actions, resource ARN fields
//! and `StringLike` values.
//!
//! `*` matches any run of characters (including none), `?` exactly one
//! character. Matching works on resolved token lists so that a literal `*`
//! that came from a policy variable or a `${*}` escape is never a wildcard.
//! Rules: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html>.

/// `a == b`, without a library call for the short strings of policies:
/// most comparisons fail on the length or the last byte.
#[inline]
pub fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.last() == b.last() && bytes_eq(a, b)
}

/// `s.starts_with(p)`, likewise.
#[inline]
pub fn str_starts_with(s: &str, p: &str) -> bool {
    let (s, p) = (s.as_bytes(), p.as_bytes());
    match (s.get(..p.len()), p.last()) {
        (Some(head), Some(last)) => head.last() == Some(last) && bytes_eq(head, p),
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() > 32 {
        return a == b;
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// One token of a resolved pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok<'a> {
    /// Literal text (which may itself contain `*` or `?`).
    Lit(&'a str),
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Whether `s` matches the token list. Case-sensitive; callers lowercase
/// both sides where AWS matches case-insensitively (actions).
///
/// The classic greedy algorithm with backtracking to the last `*`: linear in
/// practice, `O(len(s) * len(toks))` at worst, never exponential.
pub fn glob(toks: &[Tok<'_>], s: &str) -> bool {
    glob_with(toks.len(), s, |i| {
        toks.get(i).copied().unwrap_or(Tok::Lit(""))
    })
}

/// [`glob`] over `n` tokens produced on demand by `tok(i)`.
#[inline]
pub fn glob_with<'t>(n: usize, s: &str, tok: impl Fn(usize) -> Tok<'t>) -> bool {
    // A pattern that ends in literal text must end the string: checking that
    // first rejects most mismatches (`arn:aws:iam::*:root`) without a scan.
    if let Some(Tok::Lit(last)) = n.checked_sub(1).map(&tok) {
        if n > 1 && !s.ends_with(last) {
            return false;
        }
    }
    let mut ti = 0usize; // token index
    let mut si = 0usize; // byte index into s
    let mut star: Option<(usize, usize)> = None; // (token after star, s position)
    loop {
        if ti < n {
            match tok(ti) {
                Tok::Star => {
                    ti += 1;
                    star = Some((ti, si));
                    continue;
                }
                Tok::Lit(l) => {
                    if s.get(si..).is_some_and(|rest| str_starts_with(rest, l)) {
                        ti += 1;
                        si += l.len();
                        continue;
                    }
                }
                Tok::One => {
                    if let Some(c) = s.get(si..).and_then(|r| r.chars().next()) {
                        ti += 1;
                        si += c.len_utf8();
                        continue;
                    }
                }
            }
        } else if si == s.len() {
            return true;
        }
        // Mismatch: let the last `*` swallow more characters — up to the
        // next place where the literal after it can start.
        match star {
            Some((t, from)) => match s.get(from..).and_then(|r| r.chars().next()) {
                Some(c) => {
                    let mut next = from + c.len_utf8();
                    if let Some(Tok::Lit(l)) = (t < n).then(|| tok(t)) {
                        if let Some(&first) = l.as_bytes().first() {
                            match s
                                .as_bytes()
                                .get(next..)
                                .and_then(|r| r.iter().position(|&b| b == first))
                            {
                                Some(off) => next += off,
                                None => return false,
                            }
                        }
                    }
                    star = Some((t, next));
                    ti = t;
                    si = next;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

/// Split a plain pattern (no policy variables) into tokens.
pub fn tokens(pattern: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in pattern.char_indices() {
        if c == '*' || c == '?' {
            if i > start {
                out.push(Tok::Lit(pattern.get(start..i).unwrap_or_default()));
            }
            // Consecutive stars are one star.
            if c == '*' {
                if out.last() != Some(&Tok::Star) {
                    out.push(Tok::Star);
                }
            } else {
                out.push(Tok::One);
            }
            start = i + 1;
        }
    }
    if start < pattern.len() {
        out.push(Tok::Lit(pattern.get(start..).unwrap_or_default()));
    }
    out
}

/// Token spans of a pattern: `(start, end)` for a literal, `(MAX, 0)` for
/// `*`, `(MAX, 1)` for `?`.
fn spans(pattern: &str) -> Box<[(u32, u32)]> {
    let base = pattern.as_ptr() as usize;
    tokens(pattern)
        .into_iter()
        .map(|t| match t {
            Tok::Star => (u32::MAX, 0),
            Tok::One => (u32::MAX, 1),
            Tok::Lit(l) => {
                let a = l.as_ptr() as usize - base;
                (
                    u32::try_from(a).unwrap_or(u32::MAX - 1),
                    u32::try_from(a + l.len()).unwrap_or(u32::MAX - 1),
                )
            }
        })
        .collect()
}

/// A compiled wildcard pattern without variables, with fast paths for the
/// shapes that dominate real policies (`*`, exact, `prefix*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Glob {
    Any,
    Exact(Box<str>),
    Prefix(Box<str>),
    /// The pattern and its tokens as (start, end, kind) spans, so matching
    /// allocates nothing.
    General(Box<str>, Box<[(u32, u32)]>),
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let stars = pattern.matches('*').count();
        let has_q = pattern.contains('?');
        if pattern == "*" || (!pattern.is_empty() && pattern.bytes().all(|b| b == b'*')) {
            Glob::Any
        } else if stars == 0 && !has_q {
            Glob::Exact(pattern.into())
        } else if stars == 1 && !has_q && pattern.ends_with('*') {
            Glob::Prefix(pattern.trim_end_matches('*').into())
        } else {
            let spans = spans(pattern);
            Glob::General(pattern.into(), spans)
        }
    }

    pub fn matches(&self, s: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(e) => str_eq(e, s),
            Glob::Prefix(p) => str_starts_with(s, p),
            Glob::General(g, spans) => {
                let toks: smallvec::SmallVec<[Tok<'_>; 8]> = spans
                    .iter()
                    .map(|&(a, b)| match (a, b) {
                        (u32::MAX, 0) => Tok::Star,
                        (u32::MAX, _) => Tok::One,
                        (a, b) => Tok::Lit(g.get(a as usize..b as usize).unwrap_or_default()),
                    })
                    .collect();
                glob(&toks, s)
            }
        }
    }

    /// The literal text before the first wildcard.
    pub fn literal_prefix(&self) -> &str {
        match self {
            Glob::Any => "",
            Glob::Exact(e) => e,
            Glob::Prefix(p) => p,
            Glob::General(g, _) => g.split(['*', '?']).next().unwrap_or(""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        let g = Glob::new(p);
        let general = glob(&tokens(p), s);
        assert_eq!(g.matches(s), general, "fast path disagrees for {p} ~ {s}");
        general
    }

    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
    #[test]
    fn star_and_question_mark() {
        assert!(m("s3:*", "s3:getobject"));
        assert!(m("s3:get*", "s3:getobject"));
        assert!(!m("s3:get*", "s3:putobject"));
        assert!(m("s3:*object*", "s3:getobjectversion"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("iam:?etuser", "iam:getuser"));
        assert!(!m("iam:?etuser", "iam:etuser"));
        assert!(m("*ab", "aab"));
        assert!(m("é?", "éé"));
        assert!(!m("abc", "abcd"));
        assert!(m("a**", "a"));
    }

    #[test]
    fn literal_star_from_tokens_is_not_a_wildcard() {
        assert!(glob(&[Tok::Lit("a*")], "a*"));
        assert!(!glob(&[Tok::Lit("a*")], "ab"));
    }
}
