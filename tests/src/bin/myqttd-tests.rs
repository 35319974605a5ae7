//! `myqttd` built as a binary of this package, so that cargo builds it (fresh, with the same
//! features) before the integration tests that start it run (see `myqtt_tests::myqttd`).

fn main() -> std::process::ExitCode {
    myqtt_tokio::myqttd::main()
}
