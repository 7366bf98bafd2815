"""paperbot's benchmarks: each bench_*.py module prints its figures and checks its targets."""
