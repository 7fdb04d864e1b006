# The PostgreSQL servers that "make test PG=..." tests against, provided once
# and reused by later runs.  Sourced by scripts/common.sh.
#
#   15  Debian 12's postgresql-15 and postgresql-server-dev-15 (apt-get install).
#   18  built from the upstream tarball of Debian's source package postgresql-18
#       (unstable), configured with --enable-tap-tests and installed, with
#       pg_isolation_regress, with assertions, under tmp/pg-18.  A copy is
#       kept in /var/cache/memoized_prefetch/pg-<version>-cassert (when root)
#       for the next clone.
#   17  Debian 13's postgresql-17 binary packages, which need Debian 13's
#       libraries: installed in a Debian 13 root made by debootstrap
#       (/var/cache/memoized_prefetch/trixie when root, else tmp/trixie).  The
#       scripts copy the source tree into it and run there, inside a chroot.
#
# Every apt call for 18 and for the Django packages uses a sources file and
# state and cache directories of our own under tmp/apt, so the machine's apt
# set-up is left alone.

CACHE_DIR=${MEMOIZED_PREFETCH_CACHE:-/var/cache/memoized_prefetch}
# the top of the source tree
SERVERS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# apt_own SUITE TYPE COMMAND ARGS...: apt-get or apt-cache (COMMAND) with a
# sources file of our own naming only Debian's SUITE (TYPE deb or deb-src),
# and state and cache lists under tmp/apt.
apt_own() {
    local suite=$1 type=$2; shift 2
    local dir=$SERVERS_TOP/tmp/apt/$suite-$type
    mkdir -p "$dir/lists/partial" "$dir/archives/partial"
    if [ ! -f "$dir/$suite.sources" ]; then
        cat >"$dir/$suite.sources" <<SOURCES
Types: $type
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    fi
    local opts=(-o Dir::Etc::SourceList="$dir/$suite.sources" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache"
        -o Dir::Cache::Archives="$dir/archives" -o APT::Sandbox::User=root)
    mkdir -p "$dir/cache"
    # refresh the lists at most once a day
    if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*_InRelease' -mmin -1440 2>/dev/null)" ]; then
        apt-get -qq "${opts[@]}" update >/dev/null
    fi
    local cmd=$1; shift
    "$cmd" -qq "${opts[@]}" "$@"
}

# Whether $1 is a usable build of ours: assertions enabled, the isolation
# tester installed.
built_18_ok() {
    [ -x "$1/bin/pg_config" ] && [ -x "$1/lib/postgresql/pgxs/src/test/isolation/pg_isolation_regress" ] &&
        "$1/bin/pg_config" --configure | grep -q -- --enable-cassert
}

# server_18: build PostgreSQL 18 into tmp/pg-18 unless it is there (or cached).
# It is built with assertions (--enable-cassert): the extension's own
# Assert()s are checked, freed memory is overwritten, and debug_discard_caches
# can be set, so the suite on 18 also catches what a production build hides.
server_18() {
    local top=$SERVERS_TOP prefix
    prefix=$top/tmp/pg-18
    built_18_ok "$prefix" && return 0
    local cached
    cached=$(ls -d "$CACHE_DIR"/pg-18.*-cassert 2>/dev/null | sort -V | tail -1 || true)
    if [ -n "$cached" ] && built_18_ok "$cached"; then
        echo "PostgreSQL 18: copying $cached"
        rm -rf "$prefix" && mkdir -p "$top/tmp" && cp -a "$cached" "$prefix"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "PostgreSQL 18 is not built in $prefix: run this once as root" >&2
        exit 1
    fi
    ensure_packages bison flex libreadline-dev zlib1g-dev libicu-dev pkg-config dpkg-dev
    local src=$top/tmp/pg18-src
    rm -rf "$src" && mkdir -p "$src"
    echo "PostgreSQL 18: downloading Debian's source package postgresql-18 (unstable)"
    (cd "$src" && apt_own sid deb-src apt-get source --download-only postgresql-18 >/dev/null)
    local tarball
    tarball=$(ls "$src"/postgresql-18_*.orig.tar.* | head -1)
    tar -C "$src" -xf "$tarball"
    local tree
    tree=$(ls -d "$src"/postgresql-18.*/ | head -1)
    echo "PostgreSQL 18: building $(basename "$tree") into $prefix (a few minutes)"
    local t0=$SECONDS
    (
        # a build of its own, not a sub-make of "make test": PostgreSQL's
        # top-level make generates its headers only at MAKELEVEL 0
        unset MAKELEVEL MAKEFLAGS MFLAGS MAKEOVERRIDES
        cd "$tree"
        ./configure --prefix="$prefix" --enable-tap-tests --enable-cassert --with-readline --with-icu \
            --without-llvm --without-zstd --without-lz4 >"$src/configure.log" 2>&1
        make -s -j"$(nproc)" >"$src/build.log" 2>&1
        make -s install >>"$src/build.log" 2>&1
        make -s -C src/test/isolation install >>"$src/build.log" 2>&1
        make -s -C contrib/pg_prewarm install >>"$src/build.log" 2>&1
    ) || { echo "PostgreSQL 18 build failed; see $src/*.log" >&2; tail -n 20 "$src"/*.log >&2; exit 1; }
    echo "PostgreSQL 18: built in $((SECONDS - t0))s"
    local version
    version=$("$prefix/bin/pg_config" --version | awk '{print $2}')
    if mkdir -p "$CACHE_DIR" 2>/dev/null; then
        local c=$CACHE_DIR/pg-$version-cassert
        rm -rf "$c.tmp" && cp -a "$prefix" "$c.tmp" && rm -rf "$c" && mv "$c.tmp" "$c"
    fi
    rm -rf "$src"
}

# The Debian 13 root for 17, and the packages it needs.
TRIXIE_PACKAGES="postgresql-17 postgresql-server-dev-17 libipc-run-perl libpq-dev gcc make
    python3-django python3-psycopg2 python3-psycopg"

trixie_root() {
    if [ "$(id -u)" -eq 0 ]; then
        echo "$CACHE_DIR/trixie"
    else
        echo "$SERVERS_TOP/tmp/trixie"
    fi
}

# server_17: make the Debian 13 root unless it is there.
server_17() {
    local root
    root=$(trixie_root)
    [ -f "$root/.memoized_prefetch-ready" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "PostgreSQL 17 needs a Debian 13 root made as root: run this once as root" >&2
        exit 1
    fi
    ensure_packages debootstrap
    mkdir -p "$(dirname "$root")"
    exec 9>"$root.lock"
    flock 9
    [ -f "$root/.memoized_prefetch-ready" ] && { exec 9>&-; return 0; }
    local t0=$SECONDS
    echo "PostgreSQL 17: making a Debian 13 root in $root (a few minutes)"
    trixie_umount "$root"
    rm -rf "$root" && mkdir -p "$(dirname "$root")"
    debootstrap --variant=minbase trixie "$root" http://deb.debian.org/debian \
        >"$(dirname "$root")/debootstrap.log" 2>&1 ||
        { tail -n 20 "$(dirname "$root")/debootstrap.log" >&2; exit 1; }
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    cp /etc/apt/apt.conf.d/99artifact-registry "$root/etc/apt/apt.conf.d/" 2>/dev/null || true
    trixie_mount "$root"
    chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
        apt-get install -y -qq --no-install-recommends $TRIXIE_PACKAGES >/dev/null ||
        { trixie_umount "$root"; echo "PostgreSQL 17: installing packages failed" >&2; exit 1; }
    trixie_umount "$root"
    touch "$root/.memoized_prefetch-ready"
    exec 9>&-
    echo "PostgreSQL 17: Debian 13 root ready in $((SECONDS - t0))s"
}

trixie_mount() {
    local root=$1
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
    mountpoint -q "$root/dev/shm" || mount --bind /dev/shm "$root/dev/shm"
    mountpoint -q "$root/dev/pts" || mount --bind /dev/pts "$root/dev/pts" 2>/dev/null || true
}

trixie_umount() {
    local root=$1 m
    for m in dev/pts dev/shm dev proc; do
        mountpoint -q "$root/$m" 2>/dev/null && umount "$root/$m"
    done
    return 0
}

# in_trixie SCRIPT ARGS...: run scripts/SCRIPT in a copy of the source tree
# inside the Debian 13 root, as root there (the script drops to postgres);
# the copy's test output and logs (tmp/test-17*, tmp/python-17.log) are
# then copied into this tree's tmp/.
in_trixie() {
    local script=$1; shift
    local top=$SERVERS_TOP root status=0
    root=$(trixie_root)
    # one run at a time in the root (they share its mounts)
    exec 9>"$root.lock"
    flock 9
    local copy=/build/memoized_prefetch
    rm -rf "$root$copy" && mkdir -p "$root$copy"
    (cd "$top" && tar --exclude=./tmp --exclude=./.git -cf - .) | tar -C "$root$copy" -xf -
    trixie_mount "$root"
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8 \
        PG=17 MEMOIZED_PREFETCH_IN_TRIXIE=1 bash "$copy/scripts/$script" "$@" || status=$?
    trixie_umount "$root"
    mkdir -p "$top/tmp"
    local f
    for f in "$root$copy"/tmp/test-17 "$root$copy"/tmp/test-17.log "$root$copy"/tmp/python-17.log; do
        [ -e "$f" ] && rm -rf "$top/tmp/$(basename "$f")" && cp -a "$f" "$top/tmp/"
    done
    exec 9>&-
    return "$status"
}

# django_env DJANGO DRIVER: the PYTHONPATH (printed, possibly empty) under
# which /usr/bin/python3 imports Django DJANGO (3.2, 4.2 or 5.2) and the
# driver DRIVER (psycopg2 or psycopg, for psycopg 3).  The system's own
# python3-django serves when it is that version (Debian 12: 3.2, Debian 13:
# 4.2); the others are Debian's pure-Python packages, from bookworm-backports
# (4.2) and unstable (5.2, with the asgiref it needs; psycopg 3.3 for psycopg,
# since Django 4.2 and later need 3.1.8 and Debian 12 has 3.1.7), unpacked with
# dpkg -x under tmp/python.  A psycopg2 run hides an installed psycopg, which
# Django would otherwise prefer.
django_env() {
    local want=$1 driver=$2 dir=$SERVERS_TOP/tmp/python path=""
    local have
    have=$(/usr/bin/python3 -c 'import django; print("%d.%d" % django.VERSION[:2])' 2>/dev/null || true)
    if [ "$have" != "$want" ]; then
        case $want in
            4.2) unpack_debs "$dir/django-4.2" bookworm-backports python3-django ;;
            5.2) unpack_debs "$dir/django-5.2" sid python3-django python3-asgiref ;;
            *) echo "Django $want: not available here" >&2; return 1 ;;
        esac
        path=$dir/django-$want/usr/lib/python3/dist-packages
    fi
    if [ "$driver" = psycopg ]; then
        if ! /usr/bin/python3 -c 'import psycopg, sys
sys.exit(tuple(map(int, psycopg.__version__.split(".")[:3])) < (3, 1, 8))' 2>/dev/null; then
            unpack_debs "$dir/psycopg" sid python3-psycopg python3-typing-extensions
            path=$dir/psycopg/usr/lib/python3/dist-packages${path:+:$path}
        fi
    else
        mkdir -p "$dir/hide-psycopg/psycopg"
        echo 'raise ImportError("hidden: this run uses psycopg2")' >"$dir/hide-psycopg/psycopg/__init__.py"
        path=$dir/hide-psycopg${path:+:$path}
    fi
    echo "$path"
}

# unpack_debs DIR SUITE PACKAGE...: the packages of Debian's SUITE, unpacked
# into DIR unless they are.
unpack_debs() {
    local dir=$1 suite=$2; shift 2
    [ -f "$dir/.unpacked" ] && return 0
    rm -rf "$dir" && mkdir -p "$dir/debs"
    (cd "$dir/debs" && apt_own "$suite" deb apt-get download "$@" >/dev/null)
    local deb
    for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir"; done
    rm -rf "$dir/debs"
    touch "$dir/.unpacked"
}
