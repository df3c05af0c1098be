#pragma once
// `ece-dbt build`: plan what the branch changed, run `dbt build` for exactly that set in the environment (reading
// everything else from production through --defer), and record the run and what the environment now holds.
//
// dbt runs with a scrubbed environment: PATH, HOME (a private directory), the environment's password in
// DBT_ENV_SECRET_ECE_PASSWORD (read by profiles.yml through env_var(); dbt masks DBT_ENV_SECRET_* in its logs),
// ECE_RAW_SCHEMA and a few DBT_* settings. Nothing else of ece's environment (GitHub token, admin URL) reaches
// project code from a pull request.
#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbt/manifest.hpp"
#include "pg/watchdog.hpp"
#include "dbt/production_state.hpp"
#include "dbt/run_results.hpp"
#include "dbt/state.hpp"
#include "dbt/stateful.hpp"

namespace ece::dbt {

// Where and as whom dbt builds: the environment's own role and schemas (from ece-env's credentials).
struct BuildTarget {
    std::string host;  // empty: libpq's default
    std::string port;  // empty: 5432
    std::string dbname;
    std::string user;      // the environment's login role
    std::string password;  // a secret: passed to dbt only in its process environment, never written
    std::string schema;    // the environment's base schema (dbt's target schema), e.g. ece_pr_12
    std::string production_schema;  // production's base schema, e.g. analytics
    std::string environment;        // the environment's name, the catalog's key, e.g. pr-12
    std::string sha;                // the commit being built
    std::string sslmode;            // optional
    std::string sslrootcert{};      // optional: the CA file sslmode=verify-full checks the server against
    // Keys of the user's own dbt target that are not about the connection (env_target.hpp, the dbt-target input):
    // key -> value as YAML text, written beside ece's connection in profiles.yml.
    std::map<std::string, std::string> extra_profile_keys{};
    // The role cannot create schemas (the postgres provider): the build creates those the planned nodes write to,
    // and refuses a node writing outside the environment (dbt/env_schemas.hpp).
    bool ece_creates_schemas = false;
};

// Name of the profile and target ece writes into its profiles.yml.
inline constexpr const char* profile_name = "ece";
// The environment variable holding the password in dbt's environment.
inline constexpr const char* password_variable = "DBT_ENV_SECRET_ECE_PASSWORD";

// profiles.yml for the target: profile and target "ece", the password through env_var(password_variable).
std::string profiles_yml(const BuildTarget& target, int threads);

// Everything dbt's process sees: PATH (ece's), HOME=home, LANG, the password, ECE_RAW_SCHEMA=raw_schema,
// DBT_PROFILES_DIR=home and DBT_* settings that keep dbt quiet and offline-friendly.
std::map<std::string, std::string> dbt_environment(const BuildTarget& target, const std::filesystem::path& home,
                                                   const std::string& raw_schema);

// Nodes of the plan that `dbt build` executes (models, seeds, snapshots, tests), sorted.
std::vector<std::string> buildable_ids(const Plan& plan);

// `--select` arguments naming exactly the planned nodes: each node's fqn joined with dots (dbt's fqn method, which
// dbt resolves to that node alone), in plan order.
std::vector<std::string> selection_arguments(const Plan& plan, const Manifest& branch);

struct BuildOptions {
    std::filesystem::path project_dir = ".";
    std::filesystem::path dbt = "dbt";                    // a path, or a name searched on PATH
    std::optional<std::filesystem::path> branch_manifest;  // given: no `dbt parse`
    // The target schema a given branch manifest was parsed with (the fork build's), standing for the environment's.
    std::optional<std::string> branch_manifest_schema;
    std::optional<std::filesystem::path> state_dir;        // --state DIR
    std::string selector = "state:modified+";
    // dbt selectors (lib/dbt/select.hpp) whose nodes are built too, in addition to the state selector's, each
    // with the reason "also selected by --select <selector>"; tests whose parent is selected come with them.
    std::vector<std::string> also_select;
    // ece.yml's dbt.vars (JSON text): `--vars` on every dbt command but deps; one argv element, never a shell's.
    std::string vars;
    // ece.yml's dbt.exclude: dbt selectors whose nodes leave the plan (as dbt's --exclude drops them), passed to
    // dbt build as --exclude too.
    std::vector<std::string> exclude;
    // Set: build every node of the project without --defer, for this reason (the environment cannot read
    // production's relations, as on a DigitalOcean cluster of its own: env::Provider::supports_defer()).
    std::optional<std::string> full_build_reason;
    PlanOptions plan_options;
    // Planned snapshots and incremental models start from a copy of production's table (dbt/stateful.hpp), so
    // that dbt runs them incrementally on production's history. full_refresh: every one of them is built from
    // scratch instead (the pull request asked for it: the ece:full-refresh label, the action's full-refresh
    // input, `ece-publish --full-refresh`); one node asks through its config, meta: {ece: {full_refresh: true}}.
    bool full_refresh = false;
    std::optional<std::string> raw_schema;        // default <schema>_raw
    std::optional<std::filesystem::path> target_path;  // dbt's --target-path; default <project>/target
    int threads = 4;
    std::chrono::seconds parse_timeout{std::chrono::minutes(15)};
    std::chrono::seconds build_timeout{std::chrono::hours(2)};
    std::chrono::milliseconds lock_timeout{std::chrono::minutes(2)};
    // What the environment's sessions may take while dbt runs (pg/watchdog.hpp: its own statement_timeout is not
    // enough, the role may lift it); its sessions end with the build.
    pg::SessionLimits session_limits{};
    ArtifactFetcher artifact;                  // the third production-state source, when available
    std::string artifact_unavailable_reason;   // why not, for the full-build reason
    // Called with each line dbt prints (stdout and stderr, masked) and once with the plan before dbt starts.
    std::function<void(std::string_view line)> on_log_line;
    std::function<void(const Plan& plan)> on_plan;
};

struct BuildReport {
    std::int64_t build_id = 0;
    Plan plan;
    std::string status;  // build_status::*
    std::optional<int> dbt_exit_code;
    std::optional<RunResults> run_results;
    std::vector<std::string> planned;    // buildable nodes of the plan
    std::vector<std::string> not_run;    // planned, missing from run_results
    std::vector<std::string> unplanned;  // in run_results (models, seeds, snapshots, tests), not planned
    std::vector<std::string> dbt_command;  // dbt build's argv (no secrets in it)
    std::size_t built_count = 0;           // nodes recorded in ece.built_nodes
    std::vector<StatefulStart> stateful;   // how each planned snapshot and incremental model started
    std::string message;

    bool ok() const;  // success or nothing to build
};

// The branch parse a build plans from (and `ece-dbt plan --project-dir`): `dbt parse` with the environment's profile
// (profile and target "ece", in dbt's sandbox: dbt/sandbox.hpp) and the environment's own raw schema, which is
// the parse `dbt build` then reuses (same profile, variables and target path: partial parsing finds nothing to do).
// Returns the manifest file; throws ece::Error(external) with dbt's last output when the parse fails.
std::filesystem::path parse_as_build(const BuildTarget& target, const BuildOptions& options);

// The raw schema dbt sees in ECE_RAW_SCHEMA for a build of target: options.raw_schema, else <schema>_raw.
std::string raw_schema_of(const BuildTarget& target, const BuildOptions& options);

// A branch parsed with the environment's raw schema compares its sources as if parsed with production's: adds
// raw_schema -> production's raw schema (the rendered schema of a source written with env_var('ECE_RAW_SCHEMA'))
// to the plan options. No-op when production has no such source.
void alias_raw_schema(PlanOptions& options, const Manifest& production, const std::string& raw_schema);

// The advisory lock every mutating step takes for an environment.
std::string environment_lock_name(const std::string& environment);

// Takes the environment's lock, plans, runs dbt, records the build (also when dbt failed: status failed, results
// kept). Throws ece::Error for what prevents a build (dbt parse failing, a malformed manifest, the database);
// a build that was started is then recorded as failed with the message.
BuildReport run_build(pqxx::connection_base& catalog, const BuildTarget& target, const BuildOptions& options);

}  // namespace ece::dbt
