#pragma once
// ece's own private PostgreSQL cluster, used when no server URL is given (and by the test suite).
//
// Layout of dir (default .ece/pg in the working directory):
//   lock             flock()ed while starting or stopping, so concurrent callers are safe
//   admin-password   the superuser's generated password, mode 0600 (owner: whoever runs ece)
//   location         only when relocated: the server root actually used (see below)
//   data/            PGDATA, owned by the server user, 0700
//   run/             the only unix socket directory, 0700
//   log/server.log   the server's log
//   initialized      written once initdb and the first configuration completed
// Authentication is scram-sha-256 for everyone, admin included, over TCP 127.0.0.1 and the private socket alike:
// nothing uses trust. The admin is the superuser "postgres" with the generated password.
// As root, initdb and postgres run as the user "postgres" (else "nobody"; ECE_PG_SERVER_USER overrides), and
// data/, run/, log/ are owned by it. When that user cannot reach dir (e.g. under /root), the server root moves
// to a fresh /tmp/ece-pg-XXXXXX whose path is recorded in dir/location.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace ece::pg {

struct EmbeddedServer {
    std::filesystem::path dir;          // as asked (absolute)
    std::filesystem::path server_root;  // where data/, run/, log/ live: dir, or the relocated place
    int port = 0;                       // on 127.0.0.1
    std::string admin_user;             // "postgres"
    std::string admin_url;              // postgresql://postgres:<password>@127.0.0.1:<port>/postgres (a secret)
    bool started_now = false;           // false when an already running server was reused
};

struct EmbeddedOptions {
    // false: fsync/synchronous_commit/full_page_writes off; for throw-away test clusters only.
    bool durable = true;
    std::chrono::seconds start_timeout{120};
};

// Starts the cluster in dir (initdb on first use), or reuses it when it already runs. Safe to call from several
// processes at once. Throws ece::Error (external) with the server log's tail when initdb or the start fails.
EmbeddedServer ensure_embedded(const std::filesystem::path& dir, const EmbeddedOptions& options = {});

// Stops the cluster in dir if it runs (fast shutdown). No-op when there is none.
void stop_embedded(const std::filesystem::path& dir);

// Stops it and removes everything: dir and a relocated server root.
void destroy_embedded(const std::filesystem::path& dir);

// ece_dir()/pg: <current directory>/.ece/pg, or $RUNNER_TEMP/ece/pg in GitHub Actions (core/ece_dir.hpp)
std::filesystem::path default_embedded_dir();

// Directory holding initdb, pg_ctl and postgres: $ECE_PG_BINDIR, `pg_config --bindir`, or the newest
// /usr/lib/postgresql/*/bin. Throws ece::Error (external) when none has initdb.
std::filesystem::path find_server_bindir();

// The admin URL to use: the flag, else $ECE_DATABASE_URL, else the embedded server in default_embedded_dir()
// (started if needed). Registers it as a secret.
std::string resolve_admin_url(const std::optional<std::string>& flag);

}  // namespace ece::pg
