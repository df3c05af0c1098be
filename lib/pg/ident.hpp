#pragma once
// The ONE place where user-controlled names (branch names, table names, file names) become SQL identifiers.
// Everything else passes values as query parameters.
#include <cstddef>
#include <string>
#include <string_view>

namespace ece::pg {

// Longest identifier PostgreSQL keeps (NAMEDATALEN - 1).
inline constexpr std::size_t max_identifier_bytes = 63;

// A safe identifier for a user-given name: lowercase [a-z0-9_], never starting with a digit or "pg_", at most
// max_bytes long. Collision-free: when the name had to change in any way (case, characters, non-ASCII,
// truncation) or when the clean name already ends like a hash suffix, "_" + the first 10 hex digits of the
// SHA-256 of the original name are appended, so "Main" and "main" differ. Throws ece::Error (usage) on an
// empty name, and (internal) when max_bytes < 16.
std::string slug(std::string_view name, std::size_t max_bytes = max_identifier_bytes);

// Double-quotes an already safe name, doubling inner quotes. Throws ece::Error (internal) on a NUL byte or a
// name over 63 bytes (PostgreSQL would silently truncate it).
std::string quote_ident(std::string_view safe_name);

// quote_ident(slug(user_name)): what goes into SQL text for a user-given name.
std::string ident(std::string_view user_name);

// Hex SHA-256 of data (64 lowercase hex digits).
std::string sha256_hex(std::string_view data);

}  // namespace ece::pg
