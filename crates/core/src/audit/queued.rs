//! Records on their way to the appender, in one byte buffer.
//!
//! A request's record is made on the worker that served it and stored by
//! the appender thread. Handed over as owned strings, every one of a
//! record's dozen allocations would be freed by a thread other than the one
//! that made it, which costs the allocator more than making them did (its
//! pages come back only when their owner collects them). Copied into a
//! buffer instead, a record's memory stays on its thread: the worker frees
//! its own, and the appender reads the buffer and frees what it decoded.
//!
//! Layout, per record: the record's JSON text, then its [`EventKeys`]; a
//! text is its length (4 bytes, little-endian) and its bytes.

use super::{Access, EventKeys, ATTRIBUTES};

/// Records queued, in order.
#[derive(Debug, Default)]
pub struct Queued {
    buf: Vec<u8>,
    count: usize,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Reads what [`Queued::push`] wrote.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.b.len() < n {
            return Err("queued records cut short".into());
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| "cut short")?;
        Ok(u32::from_le_bytes(b))
    }

    fn i64(&mut self) -> Result<i64, String> {
        let b: [u8; 8] = self.take(8)?.try_into().map_err(|_| "cut short")?;
        Ok(i64::from_le_bytes(b))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn str(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|e| e.to_string())
    }
}

impl Queued {
    /// Queue a record and its keys (copied).
    pub fn push(&mut self, event: &str, k: &EventKeys) {
        let out = &mut self.buf;
        put_str(out, event);
        put_str(out, &k.account);
        out.extend_from_slice(&k.time.to_le_bytes());
        // The count goes first; it is filled in once the attributes are.
        let at = out.len();
        out.push(0);
        let mut n = 0u8;
        for (a, v) in &k.attributes {
            let Some(i) = ATTRIBUTES.iter().position(|x| x == a) else {
                continue;
            };
            if n == u8::MAX {
                break;
            }
            out.push(u8::try_from(i).unwrap_or(u8::MAX));
            put_str(out, v);
            n += 1;
        }
        if let Some(c) = out.get_mut(at) {
            *c = n;
        }
        put_str(out, &k.region);
        match &k.key_used {
            Some((id, service)) => {
                out.push(1);
                put_str(out, id);
                put_str(out, service);
            }
            None => out.push(0),
        }
        let n = k.accesses.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_le_bytes());
        for a in k.accesses.iter().take(n) {
            put_str(out, &a.entity);
            put_str(out, &a.action);
            put_str(out, &a.resource);
            out.push(u8::from(a.allowed));
        }
        self.count += 1;
    }

    /// Records queued.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes queued.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Forget every record, keeping the buffer's room (but for room a
    /// burst left behind: more than 16 MiB and four times what was used).
    pub fn clear(&mut self) {
        let used = self.buf.len();
        self.buf.clear();
        if self.buf.capacity() > (16 << 20).max(used.saturating_mul(4)) {
            self.buf.shrink_to(used);
        }
        self.count = 0;
    }

    /// The records, in order: each record's text (borrowed) and its keys.
    pub fn records(&self) -> Result<Vec<(&[u8], EventKeys)>, String> {
        let mut r = Reader { b: &self.buf };
        let mut out = Vec::with_capacity(self.count);
        while !r.b.is_empty() {
            // As it was queued, from a `&str`: not checked again (the
            // appender only hashes and stores its bytes).
            let event = r.bytes()?;
            let account = r.str()?.to_string();
            let time = r.i64()?;
            let n = r.u8()?;
            let mut attributes = Vec::with_capacity(usize::from(n));
            for _ in 0..n {
                let i = usize::from(r.u8()?);
                let name = ATTRIBUTES
                    .get(i)
                    .copied()
                    .ok_or_else(|| format!("no lookup attribute {i}"))?;
                attributes.push((name, r.str()?.to_string()));
            }
            let region = r.str()?.to_string();
            let key_used = match r.u8()? {
                0 => None,
                _ => Some((r.str()?.to_string(), r.str()?.to_string())),
            };
            let n = u16::from_le_bytes(r.take(2)?.try_into().map_err(|_| "cut short")?);
            let mut accesses = Vec::with_capacity(usize::from(n));
            for _ in 0..n {
                accesses.push(Access {
                    entity: r.str()?.to_string(),
                    action: r.str()?.to_string(),
                    resource: r.str()?.to_string(),
                    allowed: r.u8()? != 0,
                });
            }
            out.push((
                event,
                EventKeys {
                    account,
                    time,
                    attributes,
                    region,
                    key_used,
                    accesses,
                },
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_as_queued() {
        let a = EventKeys {
            account: "111".into(),
            time: -5,
            attributes: vec![("EventName", "GetUser".into()), ("Username", "bob".into())],
            region: "eu-west-1".into(),
            key_used: Some(("AKIAX".into(), "iam".into())),
            accesses: vec![Access {
                entity: "arn:aws:iam::111:user/bob".into(),
                action: "iam:GetUser".into(),
                resource: "*".into(),
                allowed: true,
            }],
        };
        let b = EventKeys::default();
        let mut q = Queued::default();
        q.push("{\"a\":1}", &a);
        q.push("", &b);
        q.push("{\"é\":\"ü\"}", &a);
        assert_eq!((q.len(), q.is_empty()), (3, false));
        let r = q.records().unwrap();
        assert_eq!(r.len(), 3);
        for ((e, k), (want_e, want_k)) in
            r.iter()
                .zip([("{\"a\":1}", &a), ("", &b), ("{\"é\":\"ü\"}", &a)])
        {
            assert_eq!(*e, want_e.as_bytes());
            assert_eq!(k.account, want_k.account);
            assert_eq!(k.time, want_k.time);
            assert_eq!(k.attributes, want_k.attributes);
            assert_eq!(k.region, want_k.region);
            assert_eq!(k.key_used, want_k.key_used);
            assert_eq!(k.accesses, want_k.accesses);
        }
        // Cut short anywhere: an error, never a panic.
        for n in 0..q.buf.len() {
            let cut = Queued {
                buf: q.buf[..n].to_vec(),
                count: 3,
            };
            if let Ok(r) = cut.records() {
                assert!(r.len() < 3, "{n}");
            }
        }
        q.clear();
        assert!(q.is_empty() && q.records().unwrap().is_empty());
    }
}
