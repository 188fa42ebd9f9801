"""Benchmarks of strawberry-activity against their floors: ``python -m benchmarks [--quick]``.

See ``docs/benchmarks.md`` for what each one measures and the latest results.
"""
