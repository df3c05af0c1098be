#pragma once
// What a person or a dbt run needs to use an environment: copy-paste commands (ece-env hints) and a dbt
// profiles.yml (ece-env profiles). Neither ever holds a password unless the caller passes one in on purpose
// (hints with --show-password); profiles.yml reads passwords through env_var() only.
#include "config/config.hpp"
#include "env/credentials.hpp"
#include "env/naming.hpp"

#include <filesystem>
#include <string>

namespace ece::env {

inline constexpr const char* env_password_variable = "ECE_ENV_PASSWORD";
inline constexpr const char* prod_password_variable = "ECE_PROD_PASSWORD";
inline constexpr const char* production_target = "prod";

// psql, pg_activity and dbt commands for the environment. env.password is shown when not empty (the caller decides
// with password_may_be_shown()); otherwise the commands read it from $ECE_ENV_PASSWORD.
std::string hints(const Identity& id, const Credentials& env, const config::Config& config);

// The dbt profile name: dbt.profile from ece.yml, else the `profile:` of <root>/<dbt.project_dir>/dbt_project.yml,
// else the project name.
std::string dbt_profile_name(const config::Config& config);

// profiles.yml text: the profile with target dbt.target (the environment, the default) and "prod" (production),
// passwords as "{{ env_var('ECE_ENV_PASSWORD') }}" / "{{ env_var('ECE_PROD_PASSWORD') }}".
std::string profiles_yaml(const Credentials& env, const Credentials& production, const config::Config& config);

// Writes <dir>/profiles.yml (creating dir); returns its path. Throws ece::Error (input) naming the path on failure.
std::filesystem::path write_profiles(const std::filesystem::path& dir, const std::string& yaml);

// 'text' for a POSIX shell (single quotes, inner ones as '\'').
std::string shell_quote(std::string_view text);

}  // namespace ece::env
