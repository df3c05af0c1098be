#include "env/hints.hpp"

#include "core/error.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>

namespace ece::env {
namespace {

bool shell_safe(std::string_view text) {
    if (text.empty()) return false;
    for (char c : text) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-' || c == '.' || c == '/' || c == ':' || c == '=' || c == '@' || c == ',';
        if (!ok) return false;
    }
    return true;
}

// --branch B [--pr N]: how to name the environment again on a command line.
std::string selector(const Identity& id) {
    std::string out;
    if (!id.branch.empty()) out += " --branch " + shell_quote(id.branch);
    if (id.pr) out += " --pr " + std::to_string(*id.pr);
    return out;
}

void emit_target(YAML::Emitter& out, const std::string& name, const Credentials& c, const char* password_variable,
                 int threads) {
    out << YAML::Key << name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "type" << YAML::Value << "postgres";
    out << YAML::Key << "host" << YAML::Value << (c.host.empty() ? "localhost" : c.host);
    out << YAML::Key << "port" << YAML::Value << std::stoi(c.port);
    out << YAML::Key << "user" << YAML::Value << c.user;
    out << YAML::Key << "password" << YAML::Value << YAML::DoubleQuoted
        << "{{ env_var('" + std::string(password_variable) + "') }}";
    out << YAML::Key << "dbname" << YAML::Value << c.dbname;
    out << YAML::Key << "schema" << YAML::Value << c.schema;
    out << YAML::Key << "threads" << YAML::Value << threads;
    if (auto ssl = c.options.find("sslmode"); ssl != c.options.end()) {
        out << YAML::Key << "sslmode" << YAML::Value << ssl->second;
    }
    if (auto ca = c.options.find("sslrootcert"); ca != c.options.end()) {
        out << YAML::Key << "sslrootcert" << YAML::Value << ca->second;
    }
    out << YAML::EndMap;
}

}  // namespace

std::string shell_quote(std::string_view text) {
    if (shell_safe(text)) return std::string(text);
    std::string out = "'";
    for (char c : text) {
        if (c == '\'') out += "'\\''";
        else out.push_back(c);
    }
    return out + "'";
}

std::string hints(const Identity& id, const Credentials& env, const config::Config& config) {
    const std::string host = shell_quote(env.host.empty() ? "localhost" : env.host);
    const std::string port = shell_quote(env.port), db = shell_quote(env.dbname), user = shell_quote(env.user);
    std::string out;
    out += "# Environment " + id.name + ": schema " + env.schema + ", role " + env.user + ", database " + env.dbname +
           " on " + (env.host.empty() ? "localhost" : env.host) + ":" + env.port + "\n";
    if (env.password.empty()) {
        out += "# The password is not shown. ece-env hints" + selector(id) +
               " --show-password issues a new one\n# (the previous one stops working); or use the one of ece-env up --format json:\n";
        out += "export " + std::string(env_password_variable) + "='<password>'\n";
    } else {
        out += "export " + std::string(env_password_variable) + "=" + shell_quote(env.password) + "\n";
    }
    std::string password = "PGPASSWORD=\"$" + std::string(env_password_variable) + "\" ";
    // A managed cluster is reached over TLS against its own CA (libpq reads these variables).
    if (auto ssl = env.options.find("sslmode"); ssl != env.options.end()) {
        password += "PGSSLMODE=" + shell_quote(ssl->second) + " ";
    }
    if (auto ca = env.options.find("sslrootcert"); ca != env.options.end()) {
        password += "PGSSLROOTCERT=" + shell_quote(ca->second) + " ";
    }
    out += "\n# psql, in the environment's schema\n";
    out += password + "PGOPTIONS=" + shell_quote("-c search_path=" + env.schema) + " psql -h " + host + " -p " + port +
           " -U " + user + " -d " + db + "\n";
    out += "\n# pg_activity: what is running on the server\n";
    out += password + "pg_activity -h " + host + " -p " + port + " -U " + user + " -d " + db + "\n";
    out += "\n# dbt against the environment (target " + config.dbt.target + ")\n";
    out += "ece-env profiles" + selector(id) + " --out .ece/profiles\n";
    out += "dbt build --profiles-dir .ece/profiles --target " + shell_quote(config.dbt.target) + "\n";
    out += "# (target " + std::string(production_target) + " is production; it reads " + prod_password_variable +
           ")\n";
    return out;
}

std::string dbt_profile_name(const config::Config& config) {
    if (!config.dbt.profile.empty()) return config.dbt.profile;
    auto project_file = config.root / config.dbt.project_dir / "dbt_project.yml";
    std::error_code ec;
    if (std::filesystem::exists(project_file, ec)) {
        try {
            auto node = YAML::LoadFile(project_file.string());
            if (node["profile"] && node["profile"].IsScalar()) return node["profile"].as<std::string>();
        } catch (const YAML::Exception& e) {
            throw Error(ErrorKind::input, "cannot read the profile name: " + std::string(e.what()),
                        ErrorLocation{.file = project_file.string(), .line = static_cast<std::uint64_t>(e.mark.line + 1)});
        }
    }
    return config.project;
}

std::string profiles_yaml(const Credentials& env, const Credentials& production, const config::Config& config) {
    YAML::Emitter out;
    out << YAML::Comment("Written by ece-env profiles. No password here: dbt reads them from " +
                         std::string(env_password_variable) + " and " + prod_password_variable + ".");
    out << YAML::BeginMap << YAML::Key << dbt_profile_name(config) << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "target" << YAML::Value << config.dbt.target;
    out << YAML::Key << "outputs" << YAML::Value << YAML::BeginMap;
    emit_target(out, config.dbt.target, env, env_password_variable, config.dbt.threads);
    emit_target(out, production_target, production, prod_password_variable, config.dbt.threads);
    out << YAML::EndMap << YAML::EndMap << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

std::filesystem::path write_profiles(const std::filesystem::path& dir, const std::string& yaml) {
    auto path = dir / "profiles.yml";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw Error(ErrorKind::input, "cannot create the directory: " + ec.message(), ErrorLocation{.file = dir.string()});
    auto temporary = path;
    temporary += ".tmp";
    {
        std::ofstream file(temporary, std::ios::trunc);
        file << yaml;
        if (!file.flush()) throw Error(ErrorKind::input, "cannot write the file", ErrorLocation{.file = temporary.string()});
    }
    std::filesystem::rename(temporary, path, ec);
    if (ec) throw Error(ErrorKind::input, "cannot write the file: " + ec.message(), ErrorLocation{.file = path.string()});
    return path;
}

}  // namespace ece::env
