//! Integration tests of callforce-soql: grammar coverage, error positions, the round-trip and
//! no-panic properties, and the builder injection corpus.

mod grammar;
mod injection;
mod properties;
