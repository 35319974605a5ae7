//! Hash tables keyed by packet identifier, for the per-session QoS 1/2 state.
//!
//! Every QoS 1/2 delivery inserts its identifier in two tables and removes it again on the
//! acknowledgment; with a `BTreeMap` those lookups were a tenth of a QoS 1 fan-out. The hasher
//! has a fixed seed: `myqtt-proto` touches no random source, and the keys are identifiers the
//! owner allocated itself (a peer can only look them up), so there is nothing to flood.

use foldhash::fast::FixedState;

/// Packet identifier -> `V`.
pub(crate) type IdMap<V> = hashbrown::HashMap<u16, V, FixedState>;

/// A set of packet identifiers.
pub(crate) type IdSet = hashbrown::HashSet<u16, FixedState>;
