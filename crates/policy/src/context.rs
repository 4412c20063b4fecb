//! The request context: condition keys and their values.
//!
//! Condition key names are case-insensitive
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html>),
//! so keys are stored lowercased once, when the context is built, and the
//! compiled policies carry lowercased keys too: a lookup is a binary search
//! on precomputed hashes, no allocation.

use rustc_hash::FxBuildHasher;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::OnceLock;

/// A context value: one string, or a set of strings for multivalued keys
/// such as `aws:TagKeys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextValue {
    Single(Box<str>),
    Multi(Vec<Box<str>>),
}

impl ContextValue {
    /// The values as a slice-like iterator.
    pub fn values(&self) -> &[Box<str>] {
        match self {
            ContextValue::Single(s) => std::slice::from_ref(s),
            ContextValue::Multi(v) => v,
        }
    }

    pub fn is_multi(&self) -> bool {
        matches!(self, ContextValue::Multi(_))
    }
}

/// A condition key prepared for lookup: lowercased and hashed once (when a
/// policy is compiled), so a lookup compares integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    hash: u64,
    lower: Box<str>,
}

impl Key {
    pub fn new(name: &str) -> Key {
        let lower: Box<str> = name.to_lowercase().into();
        Key {
            hash: FxBuildHasher.hash_one(&*lower),
            lower,
        }
    }

    /// The lowercased name.
    pub fn as_str(&self) -> &str {
        &self.lower
    }
}

/// A single value read as a number, a date and an IP address, each at most
/// once per request and only when a condition asks for it.
#[derive(Debug, Clone, Default)]
pub struct Typed {
    num: OnceLock<Option<f64>>,
    date: OnceLock<Option<i128>>,
    ip: OnceLock<Option<IpAddr>>,
}

impl Typed {
    pub fn num(&self, raw: &str, parse: impl FnOnce(&str) -> Option<f64>) -> Option<f64> {
        *self.num.get_or_init(|| parse(raw))
    }

    pub fn date(&self, raw: &str, parse: impl FnOnce(&str) -> Option<i128>) -> Option<i128> {
        *self.date.get_or_init(|| parse(raw))
    }

    pub fn ip(&self, raw: &str, parse: impl FnOnce(&str) -> Option<IpAddr>) -> Option<IpAddr> {
        *self.ip.get_or_init(|| parse(raw))
    }
}

/// One key of the context.
#[derive(Debug, Clone)]
pub struct Entry {
    key: Key,
    name: Box<str>,
    value: ContextValue,
    typed: Typed,
}

impl Entry {
    pub fn value(&self) -> &ContextValue {
        &self.value
    }

    /// Typed readings of a single value (`None` for a multivalued key).
    pub fn typed(&self) -> Option<&Typed> {
        match self.value {
            ContextValue::Single(_) => Some(&self.typed),
            ContextValue::Multi(_) => None,
        }
    }
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key && self.name == o.name && self.value == o.value
    }
}

impl Eq for Entry {}

/// Condition keys → values for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    entries: Vec<Entry>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set a key (replacing a value under the same key in any case).
    pub fn insert(&mut self, name: &str, value: ContextValue) {
        let key = Key::new(name);
        match self
            .entries
            .binary_search_by(|e| (e.key.hash, &*e.key.lower).cmp(&(key.hash, &*key.lower)))
        {
            Ok(i) => {
                if let Some(e) = self.entries.get_mut(i) {
                    e.value = value;
                    e.name = name.into();
                    e.typed = Typed::default();
                }
            }
            Err(i) => self.entries.insert(
                i,
                Entry {
                    key,
                    name: name.into(),
                    value,
                    typed: Typed::default(),
                },
            ),
        }
    }

    /// Set a single-valued key.
    pub fn set(&mut self, key: &str, value: &str) {
        self.insert(key, ContextValue::Single(value.into()));
    }

    /// Set a multivalued key.
    pub fn set_multi<I, S>(&mut self, key: &str, values: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.insert(
            key,
            ContextValue::Multi(values.into_iter().map(|s| s.as_ref().into()).collect()),
        );
    }

    /// Look a prepared key up.
    #[inline]
    pub fn lookup(&self, key: &Key) -> Option<&ContextValue> {
        self.entry(key).map(|e| &e.value)
    }

    /// Look a prepared key up, with its typed readings.
    #[inline]
    pub fn entry(&self, key: &Key) -> Option<&Entry> {
        let i = self.entries.partition_point(|e| e.key.hash < key.hash);
        self.entries
            .get(i..)?
            .iter()
            .take_while(|e| e.key.hash == key.hash)
            .find(|e| e.key.lower == key.lower)
    }

    /// Look a key up in any case.
    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        self.lookup(&Key::new(key))
    }

    /// Keys as they were given, with their values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        self.entries.iter().map(|e| (e.name.as_ref(), &e.value))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive() {
        let mut c = Context::new();
        c.set("aws:PrincipalTag/Team", "data");
        assert_eq!(
            c.get("AWS:principaltag/team"),
            Some(&ContextValue::Single("data".into()))
        );
        c.set("aws:principaltag/team", "ops");
        assert_eq!(c.len(), 1);
        assert_eq!(
            c.get("aws:PrincipalTag/Team").unwrap().values()[0].as_ref(),
            "ops"
        );
    }
}
