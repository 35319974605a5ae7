//! `myqttd`: the ready-to-run myqtt broker.
//!
//! Not available yet: the broker core and the tokio runtime crate are later issues.

fn main() {
    eprintln!(
        "myqttd is not yet available: this build has the myqtt-proto codec only (see README.md)."
    );
    std::process::exit(2);
}
