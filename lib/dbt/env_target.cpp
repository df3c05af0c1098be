#include "dbt/env_target.hpp"

#include "core/error.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <set>

namespace fs = std::filesystem;

namespace ece::dbt {

namespace {

YAML::Node load_yaml(const fs::path& file) {
    try {
        return YAML::LoadFile(file.string());
    } catch (const YAML::BadFile&) {
        throw Error(ErrorKind::usage, "cannot read " + file.string(), ErrorLocation{.file = file.string()});
    } catch (const YAML::Exception& e) {
        throw Error(ErrorKind::input, "malformed YAML: " + e.msg,
                    ErrorLocation{.file = file.string(), .line = static_cast<std::uint64_t>(e.mark.line + 1)});
    }
}

std::optional<std::uint64_t> line_of(const YAML::Node& node) {
    if (node.Mark().is_null()) return std::nullopt;
    return static_cast<std::uint64_t>(node.Mark().line + 1);
}

}  // namespace

BuildTarget build_target_for(env::Environments& environments, const env::Identity& id, const std::string& sha) {
    const env::Credentials credentials = environments.issue_credentials(id);
    BuildTarget target;
    target.host = credentials.host;
    target.port = credentials.port;
    target.dbname = credentials.dbname;
    target.user = credentials.user;
    target.password = credentials.password;
    target.schema = credentials.schema;
    target.production_schema = environments.production_facts().schema;
    target.environment = id.name;
    target.sha = sha;
    target.ece_creates_schemas = environments.provider().kind() == "postgres";
    if (auto ssl = credentials.options.find("sslmode"); ssl != credentials.options.end()) target.sslmode = ssl->second;
    if (auto ca = credentials.options.find("sslrootcert"); ca != credentials.options.end()) target.sslrootcert = ca->second;
    return target;
}

bool is_connection_key(const std::string& key) {
    static const std::set<std::string> keys = {"type",   "host",    "port",      "user",        "username",
                                               "pass",   "password", "dbname",   "database",    "schema",
                                               "role",   "method",  "sslmode",   "sslrootcert", "sslcert",
                                               "sslkey", "sslcrl",  "sslpassword"};
    return keys.count(key) > 0;
}

fs::path find_profiles_file(const fs::path& project_dir, const std::optional<fs::path>& profiles_dir) {
    if (profiles_dir) return (*profiles_dir / "profiles.yml").lexically_normal();
    std::vector<fs::path> places;
    if (const char* dir = std::getenv("DBT_PROFILES_DIR"); dir && *dir) places.push_back(fs::path(dir) / "profiles.yml");
    places.push_back(project_dir / "profiles.yml");
    if (const char* home = std::getenv("HOME"); home && *home) places.push_back(fs::path(home) / ".dbt" / "profiles.yml");
    std::string looked;
    for (const auto& place : places) {
        if (fs::is_regular_file(place)) return place.lexically_normal();
        looked += (looked.empty() ? "" : ", ") + place.string();
    }
    throw Error(ErrorKind::usage, "no profiles.yml for the dbt-target input (looked at " + looked + ")",
                ErrorLocation{.file = (project_dir / "profiles.yml").string()});
}

std::string project_profile_name(const fs::path& project_dir) {
    const auto file = project_dir / "dbt_project.yml";
    const auto project = load_yaml(file);
    const auto profile = project.IsMap() ? project["profile"] : YAML::Node();
    if (!profile || !profile.IsScalar() || profile.Scalar().empty())
        throw Error(ErrorKind::input, "dbt_project.yml names no profile", ErrorLocation{.file = file.string(), .field = "profile"});
    return profile.Scalar();
}

ProfileTargetSettings read_profile_target(const fs::path& file, const std::string& profile, const std::string& target) {
    const auto profiles = load_yaml(file);
    const auto where = [&](const std::string& field, std::optional<std::uint64_t> line = std::nullopt) {
        return ErrorLocation{.file = file.string(), .line = line, .field = field};
    };
    const auto profile_node = profiles.IsMap() ? profiles[profile] : YAML::Node();
    if (!profile_node || !profile_node.IsMap())
        throw Error(ErrorKind::usage, "profiles.yml has no profile '" + profile + "' (dbt_project.yml's profile)",
                    where(profile));
    const auto outputs = profile_node["outputs"];
    const auto target_node = outputs && outputs.IsMap() ? outputs[target] : YAML::Node();
    const std::string field = profile + ".outputs." + target;
    if (!target_node || !target_node.IsMap())
        throw Error(ErrorKind::usage, "profiles.yml has no target '" + target + "' in profile '" + profile +
                                          "' (the dbt-target input)", where(field, line_of(outputs ? outputs : profile_node)));

    ProfileTargetSettings settings{file, profile, target, std::nullopt, {}, {}};
    for (const auto& item : target_node) {
        const auto key = item.first.as<std::string>();
        if (key == "threads") {
            int threads = 0;
            if (!item.second.IsScalar() || !YAML::convert<int>::decode(item.second, threads) || threads < 1)
                throw Error(ErrorKind::input, "threads must be a whole number from 1", where(field + ".threads", line_of(item.second)));
            settings.threads = threads;
        } else if (is_connection_key(key)) {
            settings.ignored_keys.push_back(key);
        } else {
            settings.extra_keys[key] = YAML::Dump(item.second);
        }
    }
    return settings;
}

ProfileTargetSettings profile_target_for(const fs::path& project_dir, const std::string& target,
                                         const std::optional<fs::path>& profiles_dir) {
    return read_profile_target(find_profiles_file(project_dir, profiles_dir), project_profile_name(project_dir), target);
}

void apply_profile_target(BuildTarget& target, const ProfileTargetSettings& settings) {
    for (const auto& [key, value] : settings.extra_keys) target.extra_profile_keys[key] = value;
}

}  // namespace ece::dbt
