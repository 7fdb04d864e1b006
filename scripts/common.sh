# Shared by the scripts behind "make test", "make demo" and "make bench":
# choosing the server (PG=15, 17 or 18, or PG_CONFIG=), installing what a
# fresh Debian 12 machine lacks, building and installing the extension, and
# running commands as an unprivileged user (initdb refuses root).

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

. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

# The major to test: PG=15 (the default, Debian 12's), 17 or 18; or a server
# of one's own with PG_CONFIG=/path/to/pg_config.  In the Debian 13 root that
# runs 17, PG=17 is that system's own server.
PG=${PG:-15}
export PG
BUILD_PACKAGES="libipc-run-perl libpq-dev gcc make"
if [ -n "${MEMOIZED_PREFETCH_IN_TRIXIE:-}" ]; then
    PACKAGES="postgresql-$PG postgresql-server-dev-$PG $BUILD_PACKAGES"
    PG_CONFIG=/usr/lib/postgresql/$PG/bin/pg_config
    PG_SOURCE=debian
elif [ -n "${PG_CONFIG:-}" ]; then
    PACKAGES=$BUILD_PACKAGES
    PG_SOURCE=own
else
    case $PG in
        15)
            PACKAGES="postgresql-15 postgresql-server-dev-15 $BUILD_PACKAGES"
            PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
            PG_SOURCE=debian ;;
        17)
            PACKAGES=""
            PG_CONFIG=""
            PG_SOURCE=trixie ;;
        18)
            PACKAGES=$BUILD_PACKAGES
            PG_CONFIG=$SERVERS_TOP/tmp/pg-18/bin/pg_config
            PG_SOURCE=built ;;
        *)
            echo "PG=$PG: supported are 15, 17 and 18 (or PG_CONFIG=/path/to/pg_config)" >&2
            exit 1 ;;
    esac
fi
# tmp/ names of the default server's runs have no suffix, the others' one
if [ "$PG" = 15 ] && [ "$PG_SOURCE" != own ]; then PG_SUFFIX=""; else PG_SUFFIX=-$PG; fi
[ "$PG_SOURCE" = own ] && PG_SUFFIX=-own
PG_BIN=""

# The user that runs clusters and suites: ourselves unless we are root.
if [ "$(id -u)" -eq 0 ]; then RUN_USER=postgres; else RUN_USER=$(id -un); fi

# Whether the unprivileged user can work in the directory $1: tested with
# absolute paths, since a relative one succeeds from inside a directory even
# when a parent of it is closed to that user.
user_can_use() {
    local d
    d=$(cd "$1" && pwd)
    [ "$(id -u)" -ne 0 ] && return 0
    runuser -u "$RUN_USER" -- test -x "$d" -a -r "$d/Makefile"
}

# ensure_server: the server of $PG ready (installed, built or its Debian 13
# root made), PG_CONFIG and PG_BIN set.  A server built under this tree's
# tmp/ that the unprivileged user cannot reach is used from a copy under /tmp.
ensure_server() {
    case $PG_SOURCE in
        debian|own) ensure_packages ;;
        built) ensure_packages; server_18 ;;
        trixie) server_17; return 0 ;;
    esac
    if [ "$PG_SOURCE" = built ] && ! user_can_use "$SERVERS_TOP"; then
        local copy
        copy=/tmp/memoized_prefetch-pg$PG-$(printf %s "$SERVERS_TOP" | md5sum | cut -c1-8)
        rm -rf "$copy" && cp -a "$SERVERS_TOP/tmp/pg-$PG" "$copy" && chmod 755 "$copy"
        PG_CONFIG=$copy/bin/pg_config
    fi
    PG_BIN=$("$PG_CONFIG" --bindir)
    # A built server's programs find its libpq by the path it was built at,
    # which a cached or copied build no longer has: name its lib directory.
    if [ "$PG_SOURCE" = built ]; then
        LD_LIBRARY_PATH=$("$PG_CONFIG" --libdir)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
        export LD_LIBRARY_PATH
    fi
    export PG_CONFIG
}

# The server's version, as its pg_config says it: "PostgreSQL 18.6".
server_version() {
    "$PG_CONFIG" --version
}

# Build with warnings as errors and install into the server's directories.
# Objects built against another server are removed first (tmp/built-for
# names the server of the last build).
build_and_install() {
    local stamp=tmp/built-for this
    this="$PG_CONFIG $("$PG_CONFIG" --version)"
    mkdir -p tmp
    if [ "$(cat "$stamp" 2>/dev/null)" != "$this" ]; then
        make -s PG_CONFIG="$PG_CONFIG" clean >/dev/null
        echo "$this" >"$stamp"
    fi
    make -s PG_CONFIG="$PG_CONFIG" WERROR=1
    if [ -w "$("$PG_CONFIG" --pkglibdir)" ]; then
        make -s PG_CONFIG="$PG_CONFIG" install
    else
        echo "cannot write $("$PG_CONFIG" --pkglibdir): run as root to install" >&2
        exit 1
    fi
}

# Run a command as that user; from / when it cannot enter the current
# directory (the commands are given absolute paths then).
as_user() {
    if [ "$(id -u)" -eq 0 ]; then
        if runuser -u "$RUN_USER" -- test -x "$PWD"; then
            runuser -u "$RUN_USER" -- env PATH="$PG_BIN:$PATH" "$@"
        else
            (cd / && runuser -u "$RUN_USER" -- env PATH="$PG_BIN:$PATH" "$@")
        fi
    else
        env PATH="$PG_BIN:$PATH" "$@"
    fi
}

# A directory that the unprivileged user owns.
user_dir() {
    mkdir -p "$1"
    [ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$1"
    return 0
}
