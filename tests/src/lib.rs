//! End-to-end, interoperability and robustness tests for myqtt.
//!
//! The tests that need outside peers (mosquitto, paho-mqtt, MQTT.js) are behind the `interop`
//! feature; `.ci/run` installs those peers. The suites arrive with the runtime issues.
