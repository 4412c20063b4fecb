//! `*` and `?` matching, as AWS applies it to actions, resource ARN fields
//! and `StringLike` values.
//!
//! `*` matches any run of characters (including none), `?` exactly one
//! character. Matching works on resolved token lists so that a literal `*`
//! that came from a policy variable or a `${*}` escape is never a wildcard.
//! Rules: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html>.

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
    let mut ti = 0usize; // token index
    let mut si = 0usize; // byte index into s
    let mut star: Option<(usize, usize)> = None; // (token after star, s position)
    loop {
        if let Some(tok) = toks.get(ti) {
            match *tok {
                Tok::Star => {
                    ti += 1;
                    star = Some((ti, si));
                    continue;
                }
                Tok::Lit(l) => {
                    if s.get(si..).is_some_and(|rest| rest.starts_with(l)) {
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
        // Mismatch: let the last `*` swallow one more character.
        match star {
            Some((t, from)) => match s.get(from..).and_then(|r| r.chars().next()) {
                Some(c) => {
                    let next = from + c.len_utf8();
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

/// A compiled wildcard pattern without variables, with fast paths for the
/// shapes that dominate real policies (`*`, exact, `prefix*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Glob {
    Any,
    Exact(Box<str>),
    Prefix(Box<str>),
    General(Box<str>),
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
            Glob::General(pattern.into())
        }
    }

    pub fn matches(&self, s: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(e) => **e == *s,
            Glob::Prefix(p) => s.starts_with(&**p),
            Glob::General(g) => glob(&tokens(g), s),
        }
    }

    /// The literal text before the first wildcard.
    pub fn literal_prefix(&self) -> &str {
        match self {
            Glob::Any => "",
            Glob::Exact(e) => e,
            Glob::Prefix(p) => p,
            Glob::General(g) => g.split(['*', '?']).next().unwrap_or(""),
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
