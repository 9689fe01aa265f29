"""rxguard benchmarks (``make bench``). Not part of ``make test``."""
