"""Measurements of the app, run with ``make bench`` (``python -m benchmarks``).

Why: the issue behind the parallel reset sets targets in numbers (round trips, ledger writes,
speed against a step-by-step admin script, cold-start import time), and numbers need a
repeatable way to be taken. These modules print them as tables; they measure, they do not judge:
no timing is asserted anywhere (``tests/integration/test_benchmarks.py`` only checks that the
measured resets are real).
"""
