//! Arbitrary bytes, commands, time steps and closes applied to a `Client`: nothing panics and
//! the client's state stays within its configured bounds (issue 3).
#![no_main]

use libfuzzer_sys::fuzz_target;
use myqtt_fuzz::ops::run_client_ops;

fuzz_target!(|data: &[u8]| run_client_ops(data));
