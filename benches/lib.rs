//! Benchmarks of AIOS live under `benches/`; run them with `make bench`.
