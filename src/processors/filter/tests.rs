//! Filter processor tests.
