# Shared by the scripts behind "make test", "make demo" and "make bench":
# installing what a fresh Debian 12 machine lacks, building and installing the
# extension, and running commands as an unprivileged user (initdb refuses root).

PACKAGES="postgresql-15 postgresql-server-dev-15 libipc-run-perl libpq-dev gcc make"

# Install the Debian packages that are missing (as root), or say which are.
ensure_packages() {
    local missing="" p
    for p in $PACKAGES "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages:$missing (install them as root, or run this as root)" >&2
        exit 1
    fi
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PG_BIN=$("$PG_CONFIG" --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)

# Build with warnings as errors and install into the server's directories.
build_and_install() {
    make -s PG_CONFIG="$PG_CONFIG" WERROR=1
    if [ -w "$("$PG_CONFIG" --pkglibdir)" ]; then
        make -s PG_CONFIG="$PG_CONFIG" install
    else
        echo "cannot write $("$PG_CONFIG" --pkglibdir): run as root to install" >&2
        exit 1
    fi
}

# The user that runs clusters and suites: ourselves unless we are root.
if [ "$(id -u)" -eq 0 ]; then RUN_USER=postgres; else RUN_USER=$(id -un); fi

as_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$RUN_USER" -- env PATH="$PG_BIN:$PATH" "$@"
    else
        env PATH="$PG_BIN:$PATH" "$@"
    fi
}

# A directory below ./tmp that the unprivileged user owns.
user_dir() {
    mkdir -p "$1"
    [ "$(id -u)" -eq 0 ] && chown "$RUN_USER" tmp "$1"
    return 0
}
