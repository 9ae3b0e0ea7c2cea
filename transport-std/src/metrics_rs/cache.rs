//! Handles by `metrics::Key`, found again without allocating.
//!
//! The facade's macros call `register_*` on every use, so the handle for a key must be
//! found with no allocation: a `Key` carries the hash of its name and labels, computed
//! once (at compile time for literal keys), and `Key`'s `Hash` writes only that `u64`, so
//! the map's hasher passes it through instead of hashing again. The map holds at most
//! `capacity` handles. When it is full, handles nobody else holds and that keep no value
//! are let go (a counter only ever incremented, a histogram: a new handle for the same key
//! records into the same series); if it is still full, the handle is made outside it and
//! counted.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

use metrics::Key;

use super::series::Series;

/// Passes `Key`'s precomputed hash through.
#[derive(Default)]
pub(super) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `Key` (it writes one u64); FNV-1a keeps any other use correct.
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = self.0.rotate_left(5) ^ v;
    }
}

type Map = HashMap<Key, Arc<Series>, BuildHasherDefault<KeyHasher>>;

/// One kind's handles.
pub(super) struct Cache {
    map: RwLock<Map>,
    capacity: usize,
}

impl Cache {
    pub(super) fn new(capacity: usize) -> Cache {
        Cache {
            // Sized once, so that no insert below capacity reallocates.
            map: RwLock::new(Map::with_capacity_and_hasher(
                capacity,
                BuildHasherDefault::default(),
            )),
            capacity,
        }
    }

    /// The handle of `key`, if cached.
    #[inline]
    pub(super) fn get(&self, key: &Key) -> Option<Arc<Series>> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.get(key).cloned()
    }

    /// The handle of `key`: the cached one, or `make`'s, cached if there is room. The bool
    /// says whether the handle was left out of the cache.
    pub(super) fn get_or_insert(
        &self,
        key: &Key,
        make: impl FnOnce() -> Series,
    ) -> (Arc<Series>, bool) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = map.get(key) {
            return (Arc::clone(found), false);
        }
        if map.len() >= self.capacity {
            map.retain(|_, h| Arc::strong_count(h) > 1 || h.keeps_state());
        }
        let handle = Arc::new(make());
        if map.len() >= self.capacity {
            return (handle, true);
        }
        map.insert(key.clone(), Arc::clone(&handle));
        (handle, false)
    }

    /// Handles cached.
    pub(super) fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
