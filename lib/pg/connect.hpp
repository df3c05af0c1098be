#pragma once
// Connections to PostgreSQL: timeouts, application_name, secret registration and errors that say what failed.
#include <pqxx/pqxx>

#include "core/error.hpp"

#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace ece::pg {

inline constexpr std::chrono::seconds default_connect_timeout{10};

// The parts of a libpq connection string (URL "postgresql://..." or "key=value ..."), parsed by libpq itself.
struct ConnectionFacts {
    std::string host;      // empty: libpq's default (local socket)
    std::string port;      // empty: 5432
    std::string user;
    std::string password;
    std::string dbname;
    std::map<std::string, std::string> options;  // every other keyword that was set (sslmode, ...)
};

// Throws ece::Error (usage) naming the problem (never the password) when libpq cannot parse it.
ConnectionFacts parse_url(const std::string& url);
// A "postgresql://user:password@host:port/dbname?key=value" URL, percent-encoded. Registers it as a secret.
std::string make_url(const ConnectionFacts& facts);
// The same server and credentials, another database.
std::string with_database(const std::string& url, std::string_view dbname);
// "host:port" for messages (defaults filled in).
std::string describe_server(const ConnectionFacts& facts);

// Opens a connection. Registers the URL (and its password) as secrets, sets connect_timeout (unless the URL sets
// one), application_name "ece <purpose>" and search_path "pg_catalog, pg_temp" (never "$user" or public: a
// schema named like the connecting role, or public, must not shadow built-ins). Failure -> ece::Error (database,
// or auth for rejected credentials)
// "cannot connect to PostgreSQL at host:port for <purpose>: <libpq's reason>", never with the password.
pqxx::connection connect(const std::string& url, std::string_view purpose,
                         std::chrono::seconds timeout = default_connect_timeout);
// The same, on the heap, for holding a connection in a member.
std::unique_ptr<pqxx::connection> connect_owned(const std::string& url, std::string_view purpose,
                                                std::chrono::seconds timeout = default_connect_timeout);

// Turns an exception thrown while <doing> into an ece::Error with the context in front:
//   ece::Error                      -> itself, with context
//   SQLSTATE 42501 (insufficient_privilege) -> auth, "missing privilege: <server message>" (+ what to grant)
//   28xxx (invalid authorization)   -> auth
//   55P03 lock_not_available, 40xxx (serialization, deadlock) -> conflict
//   57014 query_canceled            -> database, "timed out (statement_timeout)"
//   broken_connection               -> database, "lost the connection"
//   other pqxx / std exceptions     -> database, with SQLSTATE when known
// Use as: catch (const std::exception& e) { throw pg::translate(e, "creating role for main"); }
Error translate(const std::exception& error, std::string_view doing);

}  // namespace ece::pg
