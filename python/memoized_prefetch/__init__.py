"""Client adapters for the memoized_prefetch PostgreSQL extension.

The Django adapter lives in :mod:`memoized_prefetch.django`.
"""

__version__ = "0.1.0"
