//! Durable storage used by exporters.
//!
//! [`queue`] is the on-disk write-ahead queue behind `sending_queue.storage`: records are
//! appended to checksummed segment files, handed out in order, and forgotten only once the
//! exporter reports them complete, so a crash replays everything that was not exported.

pub mod queue;
