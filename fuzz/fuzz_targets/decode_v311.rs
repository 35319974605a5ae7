//! Decodes arbitrary bytes as an MQTT 3.1.1 stream: no panic, and every decoded packet
//! survives an encode/decode round trip (see `myqtt_fuzz::check_decode`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use myqtt_proto::codec::ProtocolVersion;

fuzz_target!(|data: &[u8]| myqtt_fuzz::check_decode(data, ProtocolVersion::V3_1_1));
