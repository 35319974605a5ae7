//! Runtime-neutral `std` pieces shared by `myqtt-tokio` and `myqtt-smol`.
//!
//! This crate will hold what both runtime crates need that is neither protocol (that lives in
//! [`myqtt_proto`]) nor runtime glue: the durable session store, TLS configuration helpers over
//! `rustls` (PEM loading, SNI certificate resolution, client-certificate verification) and the
//! configuration and password file formats. It has no async runtime dependency.
//!
//! It is empty until the runtime issues land.
