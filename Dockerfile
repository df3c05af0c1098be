# The ece container action: a Debian 12 builder compiles ece, a slim Debian 12 runtime carries only what ece needs
# at run time (its shared libraries, PostgreSQL 15 client and server for the embedded default, git, and a pinned dbt).
# tests/container/check.sh proves these steps without a Docker engine (debootstrap + chroot); keep to the
# instructions it understands: FROM, ARG, ENV, WORKDIR, COPY [--from=stage], RUN, ENTRYPOINT, LABEL.

FROM debian:12 AS builder
ENV DEBIAN_FRONTEND=noninteractive
# The build dependencies are exactly those of a developer machine: the same script installs them.
COPY scripts/install-deps.sh /tmp/install-deps.sh
# The builder needs no dbt (the runtime stage installs it): ECE_SKIP_DBT=1.
RUN ECE_SKIP_DBT=1 /tmp/install-deps.sh && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh
WORKDIR /src
COPY . /src
# ECE_BUILD_TESTS=ON builds the GoogleTest suites too; ECE_RUN_TESTS=1 runs the quick ones (ctest -L unit), which
# read fixtures from ../shared, i.e. /shared: add it to the build (check.sh does) or leave ECE_RUN_TESTS at 0.
ARG ECE_BUILD_TESTS=OFF
ARG ECE_RUN_TESTS=0
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DECE_BUILD_BENCH=OFF -DECE_BUILD_TESTS=${ECE_BUILD_TESTS} \
 && cmake --build build --parallel "$(nproc)" \
 && cmake --install build --prefix /opt/ece --strip \
 && mkdir -p /opt/ece/bin
RUN if [ "${ECE_RUN_TESTS}" = 1 ]; then ctest --test-dir build -L unit --output-on-failure --timeout 300; fi

FROM debian:12-slim AS runtime
LABEL org.opencontainers.image.title="ece" \
      org.opencontainers.image.description="Ephemeral PostgreSQL environments for dbt pull requests"
ENV DEBIAN_FRONTEND=noninteractive
# Runtime libraries only (the -dev packages stay in the builder), PostgreSQL 15 for the embedded default server,
# git for the branch name and the production manifest, python3-venv for dbt.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      libpqxx-6.4 libboost-json1.81.0 libboost-program-options1.81.0 libyaml-cpp0.7 libarchive13 libssl3 zlib1g \
      ca-certificates postgresql-15 postgresql-client-15 git python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
# dbt pinned to the versions the fixtures were produced with; a virtual environment keeps it off Debian's Python.
ARG DBT_CORE_VERSION=1.9.1
ARG DBT_POSTGRES_VERSION=1.9.0
RUN python3 -m venv /opt/dbt \
 && /opt/dbt/bin/pip install --no-cache-dir --disable-pip-version-check \
      "dbt-core==${DBT_CORE_VERSION}" "dbt-postgres==${DBT_POSTGRES_VERSION}" \
 && /opt/dbt/bin/dbt --version
ENV PATH=/opt/dbt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY --from=builder /opt/ece/bin/ /usr/local/bin/
# No USER: GitHub runs container actions as root and the workspace it mounts is writable only by root. Where root
# matters (the embedded PostgreSQL refuses to run as root) ece runs the server as the unprivileged 'postgres'
# account the postgresql-15 package creates.
ENTRYPOINT ["/usr/local/bin/ece"]
