//! PLACEHOLDER (issue 3 fills this in): instruments, aggregation, snapshots.
