#pragma once
// The one error type of ece. Library code throws it; the thin mains in cmd/ print it and map it to an exit code.
// Its message is user-facing and must never hold a secret (see core/secrets.hpp).
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace ece {

// What went wrong, broadly; decides the exit code.
enum class ErrorKind {
    usage,     // bad command line or configuration
    input,     // a malformed file: CSV, manifest, event payload, plan, ece.yml
    database,  // PostgreSQL refused or failed
    network,   // HTTPS: connection, TLS, timeout, HTTP status
    auth,      // credentials rejected or missing privileges
    conflict,  // state does not allow it: stale environment, dependent objects, lock timeout
    external,  // a subprocess (dbt, initdb) failed
    internal,  // a bug in ece
};

// Where in the input the problem is; every field optional.
struct ErrorLocation {
    std::string file{};          // path or URL
    std::optional<std::uint64_t> line{};
    std::optional<std::uint64_t> byte_offset{};
    std::string field{};         // column, key, or JSON path such as $.nodes["model.x"].checksum
    std::optional<int> http_status{};
};

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string& message, ErrorLocation where = {});

    ErrorKind kind() const noexcept { return kind_; }
    const ErrorLocation& where() const noexcept { return where_; }
    // The bare message, without the location prefix that what() carries.
    const std::string& message() const noexcept { return message_; }
    int exit_code() const noexcept;

    // Adds context ("while creating role ...") in front, keeping kind and location.
    Error with_context(const std::string& doing) const;

private:
    ErrorKind kind_;
    std::string message_;
    ErrorLocation where_;
};

// "file:line: field: message" with whatever parts are known.
std::string format_error(const std::string& message, const ErrorLocation& where);

// Exit codes of every ece binary.
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int failure = 1;   // a step failed (tests, dbt)
inline constexpr int usage = 2;
inline constexpr int input = 3;
inline constexpr int database = 4;
inline constexpr int network = 5;
inline constexpr int auth = 6;
inline constexpr int conflict = 7;
inline constexpr int external = 8;
inline constexpr int internal = 70;
}  // namespace exit_code

}  // namespace ece
