"""Charter's benchmark suite: `make bench` (see docs/PERFORMANCE.md)."""
