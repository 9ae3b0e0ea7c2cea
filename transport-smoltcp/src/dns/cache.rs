//! A fixed cache of resolved names: `ENTRIES` slots of one address each, with names of up
//! to `NAME` bytes kept in full (lowercased), so a lookup never confuses two names.

use otlp_embedded::time::Instant;
use smoltcp::wire::IpAddress;

#[derive(Copy, Clone, Debug)]
struct Entry<const NAME: usize> {
    /// The name, lowercased, without a trailing dot (`len` bytes of it).
    name: [u8; NAME],
    len: u8,
    /// `None` marks a free slot.
    address: Option<IpAddress>,
    expires: Instant,
}

/// Resolved names with their expiry, in fixed memory.
#[derive(Clone, Debug)]
pub(crate) struct Cache<const ENTRIES: usize, const NAME: usize> {
    entries: [Entry<NAME>; ENTRIES],
}

/// `host` without a trailing dot, if it fits a slot.
fn key<const NAME: usize>(host: &str) -> Option<&[u8]> {
    let bare = super::wire::bare_host(host);
    (!bare.is_empty() && bare.len() <= NAME && bare.len() <= usize::from(u8::MAX)).then_some(bare)
}

impl<const ENTRIES: usize, const NAME: usize> Cache<ENTRIES, NAME> {
    pub(crate) const fn new() -> Self {
        Cache {
            entries: [Entry {
                name: [0; NAME],
                len: 0,
                address: None,
                expires: Instant(0),
            }; ENTRIES],
        }
    }

    fn find(&self, name: &[u8]) -> Option<usize> {
        self.entries.iter().position(|e| {
            e.address.is_some()
                && e.name
                    .get(..usize::from(e.len))
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    /// The address of `host` if cached and not expired at `now`.
    pub(crate) fn get(&self, host: &str, now: Instant) -> Option<IpAddress> {
        let slot = self.entries.get(self.find(key::<NAME>(host)?)?)?;
        slot.address.filter(|_| now < slot.expires)
    }

    /// Keep `address` for `host` for `ttl_ms` from `now`: in its own slot if cached, else a
    /// free or expired slot, else the slot expiring first. Names longer than `NAME` bytes
    /// and a TTL of 0 are not kept.
    pub(crate) fn insert(&mut self, host: &str, address: IpAddress, now: Instant, ttl_ms: u64) {
        let Some(name) = key::<NAME>(host) else {
            return;
        };
        if ttl_ms == 0 {
            self.remove(host);
            return;
        }
        let slot = self.find(name).or_else(|| {
            let mut best: Option<(usize, Instant)> = None;
            for (i, e) in self.entries.iter().enumerate() {
                let free_at = if e.address.is_none() || e.expires <= now {
                    Instant(0)
                } else {
                    e.expires
                };
                if best.is_none_or(|(_, at)| free_at < at) {
                    best = Some((i, free_at));
                }
            }
            best.map(|(i, _)| i)
        });
        let Some(entry) = slot.and_then(|i| self.entries.get_mut(i)) else {
            return;
        };
        let Some(dest) = entry.name.get_mut(..name.len()) else {
            return;
        };
        dest.copy_from_slice(name);
        dest.make_ascii_lowercase();
        entry.len = name.len() as u8;
        entry.address = Some(address);
        entry.expires = now.add_millis(ttl_ms);
    }

    /// Forget `host`.
    pub(crate) fn remove(&mut self, host: &str) {
        if let Some(i) = key::<NAME>(host).and_then(|name| self.find(name)) {
            if let Some(e) = self.entries.get_mut(i) {
                e.address = None;
            }
        }
    }

    /// Forget everything.
    pub(crate) fn clear(&mut self) {
        for e in &mut self.entries {
            e.address = None;
        }
    }
}
