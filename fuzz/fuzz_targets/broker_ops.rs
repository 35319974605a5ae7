//! Arbitrary connections, bytes, closes, time steps and restarts applied to a `Broker`:
//! nothing panics and memory stays within the configured limits (issue 4).
#![no_main]

use libfuzzer_sys::fuzz_target;
use myqtt_fuzz::ops::run_broker_ops;

fuzz_target!(|data: &[u8]| run_broker_ops(data));
