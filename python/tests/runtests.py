#!/usr/bin/python3
"""Run the adapter's tests against the PostgreSQL server given by PGHOST,
PGPORT and PGUSER, which must have the memoized_prefetch extension available
in the databases it creates (run-tests.sh makes such a server).

    runtests.py [-v N] [test labels, e.g. tests.test_readme]

The last line printed is the unittest summary.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    DATABASES={"default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("MP_TEST_DATABASE", "memoized_prefetch_django"),
        "USER": os.environ.get("PGUSER", ""),
        "HOST": os.environ.get("PGHOST", ""),
        "PORT": os.environ.get("PGPORT", ""),
    }},
    # tests.composite: models with a CompositePrimaryKey (Django 5.2)
    INSTALLED_APPS=["tests.bookshop", "tests.edge", "tests.parted"] + (
        ["tests.composite"] if django.VERSION >= (5, 2) else []),
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    USE_TZ=True,
    SECRET_KEY="memoized-prefetch-tests",
)
django.setup()

from django.test.runner import DiscoverRunner  # noqa: E402


class Runner(DiscoverRunner):
    """Keeps database creation quiet so that the summary ends the output."""

    def setup_databases(self, **kwargs):
        verbosity, self.verbosity = self.verbosity, min(self.verbosity, 0)
        try:
            return super().setup_databases(**kwargs)
        finally:
            self.verbosity = verbosity

    def teardown_databases(self, old_config, **kwargs):
        verbosity, self.verbosity = self.verbosity, min(self.verbosity, 0)
        try:
            return super().teardown_databases(old_config, **kwargs)
        finally:
            self.verbosity = verbosity


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-v", "--verbosity", type=int, default=1)
    parser.add_argument("labels", nargs="*", default=["tests"])
    args = parser.parse_args()
    runner = Runner(verbosity=args.verbosity, top_level=os.path.dirname(HERE))
    failures = runner.run_tests(args.labels)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
