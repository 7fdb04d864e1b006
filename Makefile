# memoized_prefetch: PGXS build, test and benchmark entry points.
#
#   make && make install      build and install into the PostgreSQL of $(PG_CONFIG)
#   make installcheck         regress, isolation and TAP suites on a temporary,
#                             preloaded instance (run as a non-root user)
#   make test [PG=17|18]      the whole thing from a fresh Debian 12 machine, as root,
#                             against PostgreSQL 15 (default), 17 or 18
#   make demo / make bench    a throwaway cluster under ./tmp with the bookstore data

EXTENSION = memoized_prefetch
MODULE_big = memoized_prefetch
OBJS = \
	src/main.o \
	src/fk.o \
	src/m2m.o \
	src/call.o \
	src/result.o \
	src/scan.o \
	src/access.o \
	src/cache.o \
	src/cache_store.o \
	src/cache_admit.o \
	src/cache_pins.o \
	src/cache_settings.o \
	src/lookup.o \
	src/parts.o \
	src/btpage.o \
	src/keys.o \
	src/plans.o \
	src/resolve.o \
	src/track.o \
	src/witness.o \
	src/snapid.o \
	src/shmem.o \
	src/stats.o

DATA = $(wildcard sql/memoized_prefetch--*.sql)
PGFILEDESC = "memoized_prefetch - chunked foreign-key prefetch"

# One regression file per feature: every sql/*.sql that is not an install script.
REGRESS = $(sort $(patsubst sql/%.sql,%,$(filter-out sql/memoized_prefetch--%,$(wildcard sql/*.sql))))
ISOLATION = $(sort $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec)))
TAP_TESTS = 1

# All test output goes below ./tmp, so that an unprivileged user can run the
# suites in a checkout owned by someone else.
TESTTMP = $(CURDIR)/tmp/test
REGRESS_OPTS = --temp-instance=$(TESTTMP)/regress-instance \
	--temp-config=$(CURDIR)/test/test.conf --outputdir=$(TESTTMP)/regress
ISOLATION_OPTS = --inputdir=test --temp-instance=$(TESTTMP)/isolation-instance \
	--temp-config=$(CURDIR)/test/test.conf --outputdir=$(TESTTMP)/isolation

REGRESS_PREP = testtmp

PG_CONFIG ?= pg_config
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	-Wno-sign-compare $(if $(WERROR),-Werror)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on the headers
$(OBJS): $(wildcard src/*.h) src/pg_compat.h

# TAP tests live in test/t; their nodes and logs go below ./tmp too
# (TESTDIR on 15, TESTLOGDIR and TESTDATADIR from 16 on).
define prove_installcheck
rm -rf '$(TESTTMP)/tap' && $(MKDIR_P) '$(TESTTMP)/tap' && \
TESTDIR='$(TESTTMP)/tap' TESTLOGDIR='$(TESTTMP)/tap/tmp_check/log' \
TESTDATADIR='$(TESTTMP)/tap/tmp_check' \
PATH="$(bindir):$$PATH" PGPORT='6$(DEF_PGPORT)' \
PG_REGRESS='$(top_builddir)/src/test/regress/pg_regress' \
$(PROVE) $(PG_PROVE_FLAGS) -I test/t $(PROVE_FLAGS) $(if $(PROVE_TESTS),$(PROVE_TESTS),test/t/*.pl)
endef

.PHONY: testtmp test demo bench
testtmp:
	rm -rf '$(TESTTMP)' && $(MKDIR_P) '$(TESTTMP)/regress' '$(TESTTMP)/isolation'

# PG=15 (default), 17 or 18 chooses the server (scripts/servers.sh); a
# PG_CONFIG given on the command line or in the environment, one's own.
PG ?= 15
SCRIPT_ENV = PG='$(PG)' $(if $(filter command line environment,$(origin PG_CONFIG)),PG_CONFIG='$(PG_CONFIG)')

test:
	$(SCRIPT_ENV) bash scripts/test.sh
demo:
	$(SCRIPT_ENV) bash scripts/bookstore.sh demo
bench:
	$(SCRIPT_ENV) bash scripts/bookstore.sh bench
