# The ece container action's image, built once per release tag by .github/workflows/release.yml and pushed to
# ghcr.io; action.yml runs it by version, so a job pulls it instead of compiling anything.
#
#   builder   Debian 12 with the developer toolchain (scripts/install-deps.sh) compiles ece; `cmake --install` puts
#             the binaries and what they read at run time (share/ece: prices.json, the demo project) under /opt/ece.
#   dbt       one virtual environment per dbt minor (/opt/dbt/1.8, 1.9, 1.10), each installed from its lock file
#             dbt-stack/<minor>.txt with --no-deps (every package pinned there, nothing resolved now) and proven
#             complete and consistent by `pip check`.
#   runtime   Debian 12 slim: runtime libraries, PostgreSQL 15 (the embedded server of a preview or demo without a
#             database URL), git, python3 for dbt, the dbt stacks and the binaries. No compiler, no pip caches.
#
# Both base images are the same debian:12-slim, pinned by digest (multi-arch: linux/amd64 and linux/arm64).
# tests/container/check.sh proves these steps without a Docker engine (debootstrap + chroot); keep to the
# instructions it understands: FROM, ARG, ENV, WORKDIR, COPY [--from=stage] (one source), RUN, ENTRYPOINT, LABEL.

FROM debian:12-slim@sha256:ccb33c3ac5b02588fc1d9e4fc09b952e433d0c54d8618d0ee1afadf1f3cf2455 AS builder
ENV DEBIAN_FRONTEND=noninteractive
# The build dependencies are exactly those of a developer machine: the same script installs them (without Node.js,
# which only the workflow lint test uses).
ENV ECE_NO_NODE=1
COPY scripts/install-deps.sh /tmp/install-deps.sh
# The builder needs no dbt (the runtime stage installs it): ECE_SKIP_DBT=1.
RUN ECE_SKIP_DBT=1 /tmp/install-deps.sh && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh
WORKDIR /src
COPY . /src
# ECE_BUILD_TESTS=ON builds the GoogleTest suites too; ECE_RUN_TESTS=1 runs the quick ones (ctest -L unit), which
# read fixtures from ../shared, i.e. /shared: add it to the build (check.sh does) or leave ECE_RUN_TESTS at 0.
ARG ECE_BUILD_TESTS=OFF
ARG ECE_RUN_TESTS=0
# Installed for /usr/local (where the binaries look for share/ece/prices.json), staged under /opt/ece.
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr/local -DECE_BUILD_BENCH=OFF \
      -DECE_BUILD_TESTS=${ECE_BUILD_TESTS} \
 && cmake --build build --parallel "$(nproc)" \
 && DESTDIR=/opt/ece cmake --install build --strip \
 && test -f /opt/ece/usr/local/share/ece/prices.json
RUN if [ "${ECE_RUN_TESTS}" = 1 ]; then ctest --test-dir build -L unit --output-on-failure --timeout 300; fi

FROM debian:12-slim@sha256:ccb33c3ac5b02588fc1d9e4fc09b952e433d0c54d8618d0ee1afadf1f3cf2455 AS dbt
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY dbt-stack /tmp/dbt-stack
# The dbt minors the image carries; the action's dbt-version input picks one at run time.
ARG DBT_MINORS=1.8,1.9,1.10
RUN for minor in $(echo "${DBT_MINORS}" | tr , ' '); do python3 -m venv "/opt/dbt/$minor"; done
RUN for minor in $(echo "${DBT_MINORS}" | tr , ' '); do \
      "/opt/dbt/$minor/bin/python" -m pip install --no-cache-dir --no-deps --disable-pip-version-check --no-compile \
        -r "/tmp/dbt-stack/$minor.txt" \
   && "/opt/dbt/$minor/bin/python" -m pip check \
   && "/opt/dbt/$minor/bin/python" -m pip uninstall -y -q pip setuptools \
   && "/opt/dbt/$minor/bin/dbt" --version || exit 1; \
    done

FROM debian:12-slim@sha256:ccb33c3ac5b02588fc1d9e4fc09b952e433d0c54d8618d0ee1afadf1f3cf2455 AS runtime
LABEL org.opencontainers.image.title="ece" \
      org.opencontainers.image.description="Ephemeral PostgreSQL environments for dbt pull requests" \
      org.opencontainers.image.licenses="MIT"
ENV DEBIAN_FRONTEND=noninteractive
# Runtime libraries only (the -dev packages stay in the builder), PostgreSQL 15 for the embedded server, git for the
# branch name and the production manifest, python3 for dbt.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      libpqxx-6.4 libboost-json1.81.0 libboost-program-options1.81.0 libyaml-cpp0.7 libarchive13 libssl3 zlib1g \
      ca-certificates postgresql-15 postgresql-client-15 git python3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=dbt /opt/dbt /opt/dbt
# dbt 1.9 unless the dbt-version input picks another stack of ECE_DBT_STACKS.
ENV ECE_DBT_STACKS=/opt/dbt
RUN ln -sf /opt/dbt/1.9/bin/dbt /usr/local/bin/dbt
COPY --from=builder /opt/ece/usr/local/ /usr/local/
# dbt runs a pull request's code: ece (root) runs it as this unprivileged account, which owns nothing but the copy of
# the project ece hands it (docs/security.md "Processes and secrets").
RUN useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ece-dbt
# No USER: GitHub runs container actions as root and the workspace it mounts is writable only by root. Where root
# matters (the embedded PostgreSQL refuses to run as root) ece runs the server as the unprivileged 'postgres'
# account the postgresql-15 package creates, dbt as 'ece-dbt'. ece's working files go to $RUNNER_TEMP/ece, inside the container.
ENTRYPOINT ["/usr/local/bin/ece"]
