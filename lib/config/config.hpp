#pragma once
// ece.yml: the project's configuration, at the repository root. Every key is known here; an unknown key is an
// error naming its line, so a typo never silently falls back to a default.
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ece::config {

struct CsvOptions {
    bool header = true;
    char delimiter = ',';
    char quote = '"';
    char escape = '"';
    std::string null_string{};  // empty string means NULL, as COPY's CSV default
    std::optional<bool> gzip{};  // unset: decided by the ".gz" extension of the source
};

// A static table the project declares for ece-stage.
struct StagedTable {
    std::string name{};
    std::string source{};  // local path (relative to ece.yml) or https URL
    std::map<std::string, std::string> column_types{};  // declared types override inference
    std::vector<std::string> primary_key{};
    CsvOptions csv{};
    std::optional<int> line{};  // where it was declared (in Config::file), for messages
};

struct Server {
    std::string database_url_env = "ECE_DATABASE_URL";  // the variable that holds the admin URL
};

struct Production {
    std::vector<std::string> schemas = {"analytics"};  // dbt's production schemas
    std::string role = "ece_production";                 // owner of production relations
    std::string raw_schema = "raw";                       // where production's staged tables are seen
};

struct Environments {
    std::string provider = "postgres";  // postgres | digitalocean
    std::string prefix = "ece_";        // base schema and role prefix
    std::chrono::seconds ttl = std::chrono::hours(72);
    int connection_limit = 10;
    std::chrono::milliseconds statement_timeout = std::chrono::minutes(15);
    std::chrono::milliseconds idle_in_transaction_timeout = std::chrono::minutes(5);
    int temp_file_limit_mb = 10240;  // per session of an environment role; -1: none
    // Server-wide caps (postgres provider): live environments, and their connection limits summed.
    int max_environments = 50;
    int max_connections = 500;  // max_environments x the default connection_limit
};

struct Dbt {
    std::filesystem::path project_dir = ".";
    std::string profile;                 // default: the project's dbt_project.yml profile
    std::string executable;              // empty: ece's virtual environment, else dbt on PATH
    std::string target = "ece";
    int threads = 4;
    std::string state_artifact = "dbt-manifest";  // GitHub artifact holding production's manifest
    // dbt.vars as JSON text (a mapping), given to every dbt command ece runs as one `--vars` argument; empty: none.
    std::string vars;
    // dbt selectors (lib/dbt/select.hpp) no build of ece includes: out of its plan, and `--exclude` for dbt build.
    std::vector<std::string> exclude;
};

struct Stage {
    std::string content_schema = "ece_content";
    std::vector<StagedTable> tables;
    int parallel_streams = 2;
};

struct Comment {
    std::string behavior = "update";  // update | new | delete-and-new
    std::filesystem::path prices;     // empty: the catalogue shipped with ece
};

// The data diff of every changed model against production (lib/diff, docs/data-diff.md).
struct Diff {
    bool enabled = true;
    std::chrono::milliseconds model_budget = std::chrono::seconds(60);     // one model's diff
    std::chrono::milliseconds budget = std::chrono::minutes(5);           // all models of a pull request
    int examples = 3;              // example rows per kind of difference
    int value_width = 40;          // characters of a value shown in an example
    std::string work_mem = "256MB";  // for the diff's hash aggregate (SET LOCAL work_mem)
    // Columns shown as counts only, never values: "column" (every model) or "model.column" (a model's name).
    std::vector<std::string> sensitive_columns{};
};

struct Publish {
    int keep_archives = 3;
    std::chrono::milliseconds lock_timeout = std::chrono::seconds(2);
    int lock_retries = 10;
    std::string on_stale = "rebuild";  // rebuild | strict
};

struct DigitalOcean {
    std::string token_env = "DIGITALOCEAN_TOKEN";
    std::string region = "nyc1";
    std::string version = "15";
    std::string size = "db-s-2vcpu-4gb";             // a branch's cluster: fast for ETL
    std::string production_size = "db-s-1vcpu-2gb";  // what publish resizes it to
    int node_count = 1;
    std::vector<std::string> trusted_sources;         // CIDRs or resource ids
    std::chrono::seconds online_deadline = std::chrono::minutes(30);
};

struct Cost {
    double shared_server_usd_per_gb_month = 0.10;  // an environment on a shared server, by size on disk
};

struct Config {
    std::string project = "ece";
    Server server;
    Production production;
    Environments environments;
    Dbt dbt;
    Stage stage;
    Comment comment;
    Diff diff;
    Publish publish;
    DigitalOcean digitalocean;
    Cost cost;
    std::filesystem::path file;  // where it was read from; empty for defaults
    std::filesystem::path root;  // the directory relative paths are resolved against
};

// Reads ece.yml; throws ece::Error(usage) naming file, line and key for unknown keys and bad values.
Config load(const std::filesystem::path& file);

// The same from text; file names the source in messages.
Config parse(const std::string& text, const std::filesystem::path& file);

// ece.yml in dir if it exists, else the defaults (with root = dir).
Config load_or_default(const std::filesystem::path& dir);

// The configuration a command uses: the file given with --config, else ./ece.yml if present, else defaults.
Config load_for_command(const std::optional<std::filesystem::path>& config_flag);

// "72h", "30m", "15min", "2s", "500ms", "3d", or a bare number of seconds.
std::chrono::milliseconds parse_duration(const std::string& text);

}  // namespace ece::config
