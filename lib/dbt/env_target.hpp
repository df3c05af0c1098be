#pragma once
// The bridge from an environment (lib/env) to what `dbt build` needs: the one place that turns an environment's
// freshly issued credentials into a BuildTarget, for ece-dbt and the ece entry point alike, and that takes a
// user's own dbt target (the action's dbt-target input) into it without its connection.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dbt/build.hpp"
#include "env/environments.hpp"

namespace ece::dbt {

// Issues new credentials for the environment (rotating its password; nothing is written to disk) and fills a
// BuildTarget: the environment's base schema as dbt's target schema, production's first schema for deferral.
// Throws ece::Error (conflict) when the environment is not up.
BuildTarget build_target_for(env::Environments& environments, const env::Identity& id, const std::string& sha);

// The settings of one target of the user's profiles.yml that ece keeps: threads and every key that is not about the
// connection. ece always supplies the connection (type, host, port, user, password, dbname, schema, role, ssl*):
// those keys are dropped and listed in ignored_keys.
struct ProfileTargetSettings {
    std::filesystem::path file;  // the profiles.yml read
    std::string profile;         // dbt_project.yml's profile
    std::string target;
    std::optional<int> threads;
    std::map<std::string, std::string> extra_keys;  // key -> its value as YAML text (copied as written)
    std::vector<std::string> ignored_keys;
};

// Keys of a dbt-postgres target that say where and as whom to connect.
bool is_connection_key(const std::string& key);

// The profiles.yml dbt would read for the project: profiles_dir/profiles.yml when given, else $DBT_PROFILES_DIR,
// <project>/profiles.yml, ~/.dbt/profiles.yml, the first that exists. Throws ece::Error(usage) naming the places.
std::filesystem::path find_profiles_file(const std::filesystem::path& project_dir,
                                         const std::optional<std::filesystem::path>& profiles_dir = std::nullopt);

// dbt_project.yml's `profile:`. Throws ece::Error(input) naming the file when it has none.
std::string project_profile_name(const std::filesystem::path& project_dir);

// Reads target `target` of profile `profile` in file. Throws ece::Error(usage) naming profiles.yml, the profile and
// the target when either is missing, ece::Error(input) with the line for malformed YAML or threads that are not a
// whole number from 1.
ProfileTargetSettings read_profile_target(const std::filesystem::path& file, const std::string& profile,
                                          const std::string& target);

// find_profiles_file + project_profile_name + read_profile_target.
ProfileTargetSettings profile_target_for(const std::filesystem::path& project_dir, const std::string& target,
                                         const std::optional<std::filesystem::path>& profiles_dir = std::nullopt);

// Puts the settings' extra keys into target (profiles_yml writes them beside ece's connection).
void apply_profile_target(BuildTarget& target, const ProfileTargetSettings& settings);

}  // namespace ece::dbt
