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

/// Slots of the lookup table (a power of two).
const SLOTS: usize = 64;

/// Keys beyond which lookups use binary search instead of the table (the
/// table stays at most three-quarters full).
const TABLE_MAX: usize = SLOTS * 3 / 4;

/// Condition keys → values for one request.
///
/// Entries are kept sorted by key hash; a small open-addressing table from
/// the hash's top bits to the entry (`slots`, entry index + 1, 0 empty)
/// finds a key in one or two probes instead of a binary search (a request
/// asks for a key once per condition, dozens of times per decision).
#[derive(Debug, Clone, Default)]
pub struct Context {
    entries: Vec<Entry>,
    slots: Option<Box<[u8; SLOTS]>>,
}

impl PartialEq for Context {
    fn eq(&self, o: &Self) -> bool {
        self.entries == o.entries
    }
}

impl Eq for Context {}

#[inline]
fn slot_of(hash: u64) -> usize {
    // FxHash mixes the high bits best.
    (hash >> 58) as usize & (SLOTS - 1)
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
            Err(i) => {
                self.entries.insert(
                    i,
                    Entry {
                        key,
                        name: name.into(),
                        value,
                        typed: Typed::default(),
                    },
                );
                self.rebuild_slots();
            }
        }
    }

    /// Rebuild the lookup table (entry indices move on insertion).
    fn rebuild_slots(&mut self) {
        if self.entries.len() > TABLE_MAX {
            self.slots = None;
            return;
        }
        let mut t = Box::new([0u8; SLOTS]);
        for (n, e) in self.entries.iter().enumerate() {
            let mut i = slot_of(e.key.hash);
            while t.get(i).is_some_and(|&x| x != 0) {
                i = (i + 1) & (SLOTS - 1);
            }
            if let Some(x) = t.get_mut(i) {
                *x = u8::try_from(n + 1).unwrap_or(0);
            }
        }
        self.slots = Some(t);
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
        if let Some(t) = &self.slots {
            let mut i = slot_of(key.hash);
            // The table is never full, so an empty slot ends every probe.
            loop {
                let n = usize::from(*t.get(i)?);
                let e = self.entries.get(n.checked_sub(1)?)?;
                if e.key.hash == key.hash && crate::wildcard::str_eq(&e.key.lower, &key.lower) {
                    return Some(e);
                }
                i = (i + 1) & (SLOTS - 1);
            }
        }
        let i = self.entries.partition_point(|e| e.key.hash < key.hash);
        self.entries
            .get(i..)?
            .iter()
            .take_while(|e| e.key.hash == key.hash)
            .find(|e| crate::wildcard::str_eq(&e.key.lower, &key.lower))
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
    fn every_key_is_found_with_the_table_and_without_it() {
        // Past TABLE_MAX keys lookups fall back to binary search.
        let mut c = Context::new();
        for n in 0..100 {
            c.set(&format!("k:{n}"), &n.to_string());
            for m in 0..=n {
                assert_eq!(
                    c.get(&format!("K:{m}")).map(|v| v.values()[0].to_string()),
                    Some(m.to_string()),
                    "{n} keys, key {m}"
                );
            }
            assert_eq!(c.get("k:absent"), None);
            assert_eq!(c.slots.is_some(), n < TABLE_MAX);
        }
    }

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
        assert_eq!(c.get("aws:PrincipalTag/Other"), None);
        assert_eq!(
            c.get("aws:PrincipalTag/Team").unwrap().values()[0].as_ref(),
            "ops"
        );
    }
}
