//! `myqttd`: the ready-to-run myqtt broker (see [`myqtt_tokio::myqttd`]).

fn main() -> std::process::ExitCode {
    myqtt_tokio::myqttd::main()
}
