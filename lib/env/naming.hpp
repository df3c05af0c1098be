#pragma once
// How an environment is named: one rule shared by every provider.
//
//   name         "pr-<N>" when a pull request number is given, else the branch as given
//   base schema  <prefix><key>, key = "pr_<N>" or pg::slug(branch); at most max_base_bytes
//   role         the same text as the base schema (the role owns the schema and everything in it)
//
// dbt's custom schemas become "<base>_<custom>" (dbt's default generate_schema_name), and PostgreSQL keeps at most
// 63 bytes of a name, so the base is capped at 40 bytes: a custom schema name of up to 22 bytes always fits.
// A branch literally named "pr-<N>" is refused without --pr (it would share pull request N's environment), and a
// branch whose slug is "pr_<N>" gets a hash suffix, so branch and pull-request environments never collide.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ece::env {

inline constexpr std::size_t max_base_bytes = 40;
inline constexpr std::size_t max_custom_schema_bytes = 63 - max_base_bytes - 1;  // 22
inline constexpr std::size_t max_prefix_bytes = 24;  // leaves the 16 bytes pg::slug needs for the key

struct Identity {
    std::string name;         // "pr-12" or the branch
    std::string branch;       // may be empty when only the pull request is known (down --pr N)
    std::optional<int> pr;
    std::string base_schema;  // "<prefix><key>"
    std::string role;         // == base_schema
};

// Throws ece::Error (usage) for an invalid prefix (see check_prefix), an empty branch without a pull request, a
// branch holding a NUL byte, a pull request number < 1, or a branch named "pr-<N>" given without --pr.
Identity identify(std::string_view prefix, std::string_view branch, std::optional<int> pr);

// A prefix must be lowercase [a-z0-9_], start with a letter or "_", not start with "pg_", and be at most
// max_prefix_bytes long. Throws ece::Error (usage) naming the rule it breaks.
void check_prefix(std::string_view prefix);

// The NOLOGIN group every environment role belongs to: it holds CONNECT on the database and reads production. "<prefix>_environments": a key never starts with "_", so no environment can be named like it.
std::string group_role(std::string_view prefix);

}  // namespace ece::env
