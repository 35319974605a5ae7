//! Packet identifier allocation ([MQTT-2.3.1-2] / MQTT 5.0 [MQTT-2.2.1-3], [MQTT-2.2.1-4]).

use alloc::boxed::Box;

use super::id_map::IdSet;
use crate::codec::PacketId;

/// Hands out packet identifiers that are not in use, cycling through 1..=65535.
///
/// SUBSCRIBE, UNSUBSCRIBE and QoS 1/2 PUBLISH share one identifier space: an identifier becomes
/// free again only when its exchange completes ([MQTT-2.3.1-3]).
#[derive(Clone, Debug)]
pub struct PacketIdPool {
    /// `None` while no identifier is in use: an idle session allocates nothing.
    in_use: Option<Box<IdSet>>,
    next: PacketId,
}

impl Default for PacketIdPool {
    fn default() -> Self {
        PacketIdPool {
            in_use: None,
            next: PacketId::MIN,
        }
    }
}

impl PacketIdPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next free identifier after the last one handed out, or `None` if all 65,535 are in
    /// use.
    pub fn allocate(&mut self) -> Option<PacketId> {
        if self.len() >= usize::from(u16::MAX) {
            return None;
        }
        let mut candidate = self.next;
        let in_use = self.set();
        while in_use.contains(&candidate.get()) {
            candidate = candidate.next();
        }
        in_use.insert(candidate.get());
        self.next = candidate.next();
        Some(candidate)
    }

    /// Marks `id` as used (when restoring a session); returns false if it already was.
    pub fn reserve(&mut self, id: PacketId) -> bool {
        self.set().insert(id.get())
    }

    /// Frees `id` once its exchange is complete; returns false if it was not in use.
    pub fn release(&mut self, id: PacketId) -> bool {
        let Some(in_use) = &mut self.in_use else {
            return false;
        };
        let released = in_use.remove(&id.get());
        if in_use.is_empty() {
            self.in_use = None;
        }
        released
    }

    /// Whether `id` is in use.
    pub fn is_in_use(&self, id: PacketId) -> bool {
        self.in_use
            .as_ref()
            .is_some_and(|in_use| in_use.contains(&id.get()))
    }

    /// Number of identifiers in use.
    pub fn len(&self) -> usize {
        self.in_use.as_ref().map_or(0, |in_use| in_use.len())
    }

    /// Whether no identifier is in use.
    pub fn is_empty(&self) -> bool {
        self.in_use.is_none()
    }

    /// Frees every identifier.
    pub fn clear(&mut self) {
        self.in_use = None;
    }

    fn set(&mut self) -> &mut IdSet {
        self.in_use.get_or_insert_with(Box::default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [MQTT-2.3.1-2] [MQTT-2.2.1-3]
    #[test]
    fn never_hands_out_an_identifier_in_use() {
        let mut pool = PacketIdPool::new();
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        assert_ne!(a, b);
        assert!(pool.release(a));
        assert!(!pool.release(a));
        // Cycles forward instead of reusing the just-freed id at once.
        let c = pool.allocate().unwrap();
        assert_eq!(c.get(), 3);
        assert!(pool.is_in_use(b) && pool.is_in_use(c));
    }

    #[test]
    fn wraps_and_skips_busy_identifiers_and_reports_exhaustion() {
        let mut pool = PacketIdPool::new();
        for _ in 0..u16::MAX {
            assert!(pool.allocate().is_some());
        }
        assert_eq!(pool.allocate(), None);
        pool.release(PacketId::new(500).unwrap());
        assert_eq!(pool.allocate().map(PacketId::get), Some(500));
        assert_eq!(pool.len(), usize::from(u16::MAX));
    }
}
