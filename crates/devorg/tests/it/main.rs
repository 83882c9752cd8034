//! Integration tests of the dev org over real sockets on `127.0.0.1:0`, and the third-party
//! client harness (simple-salesforce, jsforce) in [`clients`].

mod clients;
mod faults;
mod harness;
mod limits;
mod oauth;
mod query;
