"""`otobot bench`: the benchmarks, their floors, their report, and the crash-safety invariants they check."""
