#!/usr/bin/env bash
# Proves the Dockerfile's build and runtime steps on a machine without a Docker engine.
#
# It reads the Dockerfile and carries out its instructions itself: each FROM debian:12[-slim] becomes a fresh Debian 12
# root made by debootstrap, RUN runs inside it with chroot (with the stage's ENV and ARGs), COPY copies from the build
# context (honouring .dockerignore) or from an earlier stage. Then, in the runtime root, it runs `--version` of every
# installed binary, checks the ENTRYPOINT exists, and runs the quick test subset (the tests CTest labels `unit`) with
# the test binaries the builder built.
#
# The one step it cannot carry out is the dbt `pip install` (no Python package index is reachable here): that RUN is
# skipped and reported as SKIPPED.
#
# Needs root, debootstrap and Debian's mirror. Usage (from anywhere):
#   tests/container/check.sh                   # everything, about 15 minutes on 2 cores
#   ECE_CONTAINER_KEEP=1 tests/container/check.sh   # keep the roots under $ECE_CONTAINER_WORKDIR for inspection
#   ECE_CONTAINER_DRY_RUN=1 tests/container/check.sh  # seconds, no root needed: reads every instruction, checks the
#                                                     # base images, COPY sources and stages, runs nothing
# Environment: ECE_DEBIAN_MIRROR (default http://deb.debian.org/debian), ECE_CONTAINER_CACHE (debootstrap's package
# cache, default /var/cache/ece-container), ECE_CONTAINER_WORKDIR (default a new directory under /tmp).
# .ci/run calls it when ECE_CHECK_CONTAINER=1.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=$(cd "$REPO/../shared" 2>/dev/null && pwd -P || true)
DOCKERFILE=$REPO/Dockerfile
MIRROR=${ECE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${ECE_CONTAINER_CACHE:-/var/cache/ece-container}
WORK=${ECE_CONTAINER_WORKDIR:-$(mktemp -d /tmp/ece-container.XXXXXX)}
KEEP=${ECE_CONTAINER_KEEP:-0}
DRY=${ECE_CONTAINER_DRY_RUN:-0}
# Build arguments as `docker build --build-arg` would pass them: build the test suites so they can run in the runtime.
declare -A BUILD_ARGS=([ECE_BUILD_TESTS]=ON [ECE_RUN_TESTS]=0)
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

START=$(date +%s)
say() { printf '[check %4ds] %s\n' "$(($(date +%s) - START))" "$*"; }
die() { say "FAILED: $*"; exit 1; }

if [ "$DRY" != 1 ]; then
    [ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount)"
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    [ -n "$SHARED" ] || die "../shared (the fixtures) is not beside the checkout"
    mkdir -p "$CACHE"
fi
mkdir -p "$WORK"

# ---- cleanup: unmount everything under $WORK before anything there is removed -------------------------------------
cleanup() {
    local status=$?
    local mounts
    mounts=$(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r)
    for m in $mounts; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    if awk -v w="$WORK/" 'index($2, w) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        say "something is still mounted under $WORK: not removing it"
    elif [ "$KEEP" = 1 ]; then
        say "kept the roots in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit $status
}
trap cleanup EXIT

# ---- the Dockerfile as a list of instructions (continuation lines joined, comments dropped) -------------------------
read_instructions() {
    local line joined=""
    while IFS= read -r line || [ -n "$line" ]; do
        [[ "$line" =~ ^[[:space:]]*# ]] && continue
        if [[ "$line" =~ \\[[:space:]]*$ ]]; then
            joined+="${line%\\*} "
            continue
        fi
        joined+="$line"
        [[ "$joined" =~ ^[[:space:]]*$ ]] || printf '%s\n' "$joined"
        joined=""
    done <"$DOCKERFILE"
}

# ---- per-stage state --------------------------------------------------------------------------------------------
declare -A STAGE_ROOT=()
declare -A ENVV=()       # the current stage's ENV and ARG values
ENV_ORDER=()
STAGE="" ROOT="" WORKDIR_IN=/ ENTRYPOINT=""

set_var() {
    [ -n "${ENVV[$1]+x}" ] || ENV_ORDER+=("$1")
    ENVV[$1]=$2
}

# $NAME and ${NAME} of the stage's variables, as Docker expands them in ENV, ARG, WORKDIR and COPY.
expand() {
    local text=$1 name
    for name in "${ENV_ORDER[@]}"; do
        text=${text//\$\{$name\}/${ENVV[$name]}}
        text=${text//\$$name/${ENVV[$name]}}
    done
    printf '%s' "$text"
}

in_root() {  # in_root <command...>: run inside the current stage's root with exactly the stage's environment
    local vars=(HOME=/root "PATH=${ENVV[PATH]:-$DEFAULT_PATH}") name
    for name in "${ENV_ORDER[@]}"; do [ "$name" = PATH ] || vars+=("$name=${ENVV[$name]}"); done
    chroot "$ROOT" /usr/bin/env -i "${vars[@]}" "$@"
}

make_root() {  # make_root <image> <dir>: a fresh Debian 12 root, prepared as Debian's Docker images are
    local image=$1 dir=$2
    image=${image%%@sha256:*}  # pinned by digest: the same Debian 12, made here by debootstrap
    case "$image" in
        debian:12 | debian:12-slim | debian:bookworm | debian:bookworm-slim) ;;
        *) die "FROM $image: only Debian 12 images can be emulated" ;;
    esac
    if [ "$DRY" = 1 ]; then say "FROM $1 (dry run: no root made)"; mkdir -p "$dir"; return; fi
    say "FROM $image: debootstrap bookworm (minbase) into $dir"
    debootstrap --variant=minbase --cache-dir="$CACHE" bookworm "$dir" "$MIRROR" >"$dir.debootstrap.log" 2>&1 ||
        die "debootstrap failed, see $dir.debootstrap.log"
    # Debian's Docker images forbid starting services from package scripts; so must we (postgresql-15 would).
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
    chmod 755 "$dir/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    # As in Debian's images: apt deletes downloaded packages after installing them, and -slim installs no
    # documentation (which has broken packages that expect /usr/share/man to exist; better to find out here).
    cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
    if [[ "$image" == *-slim ]]; then
        mkdir -p "$dir/etc/dpkg/dpkg.cfg.d"
        printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
            'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/linda/*' \
            'path-exclude /usr/share/lintian/overrides/*' 'path-exclude /usr/share/locale/*' \
            'path-exclude /usr/share/man/*' >"$dir/etc/dpkg/dpkg.cfg.d/docker"
        # The slim image ships without these (its build removed them after debootstrap).
        find "$dir/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
        rm -rf "$dir/usr/share/man/"* "$dir/usr/share/info/"* "$dir/usr/share/locale/"*
    fi
    # The image's package sources: bookworm, its updates and its security fixes (debootstrap writes only the first).
    rm -f "$dir/etc/apt/sources.list"
    cat >"$dir/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    mount -t proc proc "$dir/proc"
    mkdir -p "$dir/dev/shm"
    mount -t tmpfs -o size=256m tmpfs "$dir/dev/shm"   # PostgreSQL's shared memory
    [ -c "$dir/dev/null" ] || die "debootstrap left no /dev/null in $dir"
}

# Context files as Docker sends them: everything but what .dockerignore names (patterns anchored at the root,
# **/x anywhere).
copy_from_context() {
    local src=$1 dest=$2 pattern
    local excludes=()
    if [ -f "$REPO/.dockerignore" ]; then
        while IFS= read -r pattern; do
            [[ -z "$pattern" || "$pattern" =~ ^# ]] && continue
            if [[ "$pattern" == '**/'* ]]; then excludes+=(--no-anchored "--exclude=${pattern#'**/'}")
            else excludes+=(--anchored "--exclude=./$pattern"); fi
        done <"$REPO/.dockerignore"
    fi
    if [ -d "$REPO/$src" ]; then
        mkdir -p "$ROOT$dest"
        tar -C "$REPO/$src" "${excludes[@]}" -cf - . | tar -C "$ROOT$dest" -xf -
    else
        mkdir -p "$(dirname "$ROOT$dest")"
        cp "$REPO/$src" "$ROOT$dest"
    fi
}

copy_from_stage() {
    local stage=$1 src=$2 dest=$3
    local from=${STAGE_ROOT[$stage]:-}
    [ -n "$from" ] || die "COPY --from=$stage: no such stage"
    [ "$DRY" = 1 ] && return
    mkdir -p "$ROOT$dest"
    if [ -d "$from$src" ]; then cp -a "$from$src/." "$ROOT$dest"; else cp -a "$from$src" "$ROOT$dest"; fi
}

do_copy() {
    local args=($1) from=""
    if [[ "${args[0]}" == --from=* ]]; then from=${args[0]#--from=}; args=("${args[@]:1}"); fi
    [ "${#args[@]}" -eq 2 ] || die "COPY $1: only one source is supported"
    local src dest
    src=$(expand "${args[0]}")
    dest=$(expand "${args[1]}")
    [[ "$dest" == /* ]] || dest="$WORKDIR_IN/$dest"
    say "COPY ${from:+--from=$from }$src $dest"
    if [ "$DRY" = 1 ] && [ -z "$from" ]; then [ -e "$REPO/$src" ] || die "COPY $src: not in the build context"; return; fi
    if [ -n "$from" ]; then copy_from_stage "$from" "$src" "$dest"; else copy_from_context "$src" "$dest"; fi
}

do_run() {
    local command=$1
    if [ "$DRY" = 1 ]; then say "RUN (dry run) ${command:0:100}..."; return; fi
    if [[ "$command" == *"pip install"* ]]; then
        say "SKIPPED (no Python package index is reachable here): RUN ${command:0:90}..."
        PIP_SKIPPED=1
        return
    fi
    say "RUN ${command:0:110}$([ ${#command} -gt 110 ] && echo ...)"
    local log="$WORK/run-$(date +%s%N).log"
    if ! in_root /bin/sh -c "mkdir -p '$WORKDIR_IN' && cd '$WORKDIR_IN' && $command" >"$log" 2>&1; then
        tail -n 40 "$log"
        die "RUN failed in stage $STAGE (full log: $log)"
    fi
}

run_dockerfile() {
    local instruction keyword rest
    while IFS= read -r instruction; do
        keyword=${instruction%%[[:space:]]*}
        rest=${instruction#"$keyword"}
        rest=${rest#"${rest%%[![:space:]]*}"}
        case "${keyword^^}" in
            FROM)
                local parts=($rest)
                STAGE=${parts[2]:-stage${#STAGE_ROOT[@]}}
                ROOT=$WORK/$STAGE
                STAGE_ROOT[$STAGE]=$ROOT
                ENVV=() ENV_ORDER=() WORKDIR_IN=/
                make_root "${parts[0]}" "$ROOT"
                ;;
            ARG)
                local name=${rest%%=*} default=""
                [[ "$rest" == *=* ]] && default=${rest#*=}
                set_var "$name" "${BUILD_ARGS[$name]:-$(expand "$default")}"
                say "ARG $name=${ENVV[$name]}"
                ;;
            ENV)
                local name=${rest%%=*} value=${rest#*=}
                set_var "$name" "$(expand "$value")"
                ;;
            WORKDIR) WORKDIR_IN=$(expand "$rest"); mkdir -p "$ROOT$WORKDIR_IN" ;;
            COPY) do_copy "$rest" ;;
            RUN) do_run "$rest" ;;
            ENTRYPOINT) ENTRYPOINT=$rest ;;
            LABEL | USER | EXPOSE | CMD) ;;
            *) die "Dockerfile instruction $keyword is not emulated by this script" ;;
        esac
    done < <(read_instructions)
}

# ---- after the build: the runtime root carries working binaries and passes the quick tests --------------------------
check_binaries() {
    local failures=0 bin
    local bins=("$ROOT"/usr/local/bin/*) ran=0
    for bin in "${bins[@]}"; do
        local name=${bin#"$ROOT"}
        if [ ! -e "$bin" ]; then
            # /usr/local/bin/dbt links into the dbt stacks, which the skipped pip install would have filled.
            if [ -L "$bin" ] && [ "${PIP_SKIPPED:-0}" = 1 ]; then
                say "SKIPPED $name -> $(readlink "$bin"): made by the pip install skipped above"
            elif [ -L "$bin" ]; then
                say "FAIL $name is a link to nothing ($(readlink "$bin"))"; failures=1
            fi
            continue
        fi
        ran=1
        if out=$(in_root "$name" --version 2>&1); then say "ok   $name --version: $out"
        else say "FAIL $name --version: $out"; failures=1; fi
    done
    if [ "$ran" = 0 ]; then
        say "no ece binaries were installed (cmd/ has none yet)"
        failures=1
    fi
    local entry
    entry=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0])' "$ENTRYPOINT")
    if [ -x "$ROOT$entry" ]; then say "ok   ENTRYPOINT $entry exists"
    else say "FAIL ENTRYPOINT $entry is missing in the runtime image (the ece entry point is not built yet?)"; failures=1; fi
    return $failures
}

# The `unit` tests CTest knows in the builder, grouped per test binary as gtest filters: "binary<TAB>filter".
unit_test_filters() {
    local builder=${STAGE_ROOT[builder]}
    chroot "$builder" /usr/bin/env -i PATH=$DEFAULT_PATH ctest --test-dir /src/build -L unit --show-only=json-v1 |
        /usr/bin/python3 -c '
import json, sys, collections
tests = json.load(sys.stdin)["tests"]
filters = collections.OrderedDict()
for t in tests:
    cmd = t["command"]
    name = next((a.split("=", 1)[1] for a in cmd if a.startswith("--gtest_filter=")), None)
    if name:
        filters.setdefault(cmd[0], []).append(name)
for binary, names in filters.items():
    print(binary + "\t" + ":".join(names))'
}

run_quick_tests() {
    local builder=${STAGE_ROOT[builder]}
    say "quick tests: copying the source tree, the test binaries and ../shared into the runtime root"
    (cd "$builder/src" && tar --exclude=./build -cf - .) | (mkdir -p "$ROOT/src" && tar -C "$ROOT/src" -xf -)
    cp -rL "$SHARED" "$ROOT/shared"
    # CTest lists the test cases by running the test binaries (discovery at test time), and some suites name their
    # cases after ../shared/fixtures: the builder gets them too, for the listing only.
    [ -e "$builder/shared" ] || cp -rL "$SHARED" "$builder/shared"
    # What the quick tests need beyond the image, for the test run only: the command binaries they run by their build
    # path (tests of ece-dbt, ece-env ...), and xz, which unpacks the .xz fixtures (the image itself has no use for it).
    mkdir -p "$ROOT/src/build" && cp -a "$builder/src/build/cmd" "$ROOT/src/build/"
    chroot "$ROOT" /usr/bin/env -i PATH=$DEFAULT_PATH DEBIAN_FRONTEND=noninteractive /bin/sh -c \
        'apt-get update -qq && apt-get install -y -qq --no-install-recommends xz-utils >/dev/null' ||
        { say "FAIL could not install xz-utils into the runtime root for the tests"; return 1; }
    local filters binary filter count=0 failed=0
    filters=$(unit_test_filters)
    [ -n "$filters" ] || { say "FAIL no unit tests found in the builder's build tree"; return 1; }
    while IFS=$'\t' read -r binary filter; do
        mkdir -p "$ROOT$(dirname "$binary")"
        cp "$builder$binary" "$ROOT$binary"
        local n
        n=$(tr ':' '\n' <<<"$filter" | wc -l)
        count=$((count + n))
        if out=$(chroot "$ROOT" /usr/bin/env -i PATH=$DEFAULT_PATH HOME=/root /bin/sh -c "cd /src && '$binary' --gtest_filter='$filter'" 2>&1); then
            say "ok   $(basename "$binary"): $(grep -E '^\[  PASSED  \]' <<<"$out")"
        else
            say "FAIL $(basename "$binary")"
            grep -E '^\[  FAILED  \]|Failure' <<<"$out" | head -20
            failed=1
        fi
    done <<<"$filters"
    say "quick tests: $count unit tests run inside the runtime root"
    return $failed
}

say "Dockerfile: $DOCKERFILE; work directory: $WORK"
run_dockerfile
[ "$STAGE" = runtime ] || die "the last stage is '$STAGE', expected 'runtime'"
if [ "$DRY" = 1 ]; then
    [ -n "${ENTRYPOINT:-}" ] || die "no ENTRYPOINT"
    say "PASSED (dry run: instructions, base images, stages and COPY sources only; nothing was built)"
    exit 0
fi
status=0
check_binaries || status=1
run_quick_tests || status=1
say "runtime root: $(du -shx --exclude=./shared --exclude=./src "$ROOT" 2>/dev/null | cut -f1)"
if [ $status -eq 0 ]; then say "PASSED"; else say "FAILED (see above)"; fi
exit $status
