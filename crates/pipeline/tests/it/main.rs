//! Integration tests of the write pipeline: the dev org over real sockets with its fault
//! injection, the queue on real SQLite and PostgreSQL, time moved by hand.

mod crash;
mod faults;
mod keyed;
mod lookup;
mod lookup_many;
mod routed;
mod spoken;
mod storm;
mod support;
