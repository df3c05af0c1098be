#pragma once
// Shared pieces of the reliability suites: running ece's real binaries (and killing them), fingerprints of what
// production holds, and the checks that nothing was left behind.
#include <pqxx/pqxx>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace ece::reliability {

namespace fs = std::filesystem;

inline const fs::path source_dir = ECE_SOURCE_DIR;
inline const fs::path standin_dbt = source_dir / "tests/dbt_standin/dbt";
inline const fs::path demo_project = source_dir / "examples/ece_demo";

// The built binaries (paths compiled in by CMake).
inline const std::string ece_env_binary = ECE_ENV_BINARY;
inline const std::string ece_stage_binary = ECE_STAGE_BINARY;
inline const std::string ece_dbt_binary = ECE_DBT_BINARY;
inline const std::string ece_publish_binary = ECE_PUBLISH_BINARY;
inline const std::string ece_comment_binary = ECE_COMMENT_BINARY;

struct Outcome {
    int exit_code = -1;       // exit status, or 128 + signal
    bool killed = false;      // SIGKILLed by us while still running
    std::string out, err;
    double seconds = 0;
};

// A binary started in its own process group, stdout/stderr to files, environment = ours + extra.
class Spawned {
public:
    Spawned(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env,
            const fs::path& cwd);
    ~Spawned();
    Spawned(const Spawned&) = delete;
    Spawned& operator=(const Spawned&) = delete;

    int pid() const { return pid_; }
    // SIGKILL to the whole process group (the binary and whatever it started in its group).
    void kill_group();
    // Waits (at most timeout, then kills) and collects the result.
    Outcome wait(std::chrono::seconds timeout = std::chrono::seconds(180));
    bool finished();  // without blocking

private:
    int pid_ = -1;
    bool reaped_ = false;
    int status_ = 0;
    bool killed_ = false;
    fs::path out_file_, err_file_;
    std::chrono::steady_clock::time_point started_;
};

// Runs to completion.
Outcome run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env, const fs::path& cwd,
        std::chrono::seconds timeout = std::chrono::seconds(180));
// Starts it and SIGKILLs its process group after `after` (unless it finished earlier).
Outcome run_killed_after(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env,
                     const fs::path& cwd, std::chrono::microseconds after);

// The seed of the random kill points: ECE_FAULT_SEED when set, else a fixed one (reproducible runs).
unsigned fault_seed();

// Every relation of the schemas: kind, columns, row count, and a view's definition with the given schema names
// replaced by placeholders (so two environments compare equal). Sorted, one line per relation.
std::string fingerprint(pqxx::connection_base& conn, const std::vector<std::string>& schemas);

// Waits until no other client session is connected to this database (the killed process's backends ended).
void wait_for_other_sessions_to_end(pqxx::connection_base& conn, std::chrono::seconds timeout = std::chrono::seconds(20));

// What an interrupted command may leave behind and a converged re-run must not: content tables the catalog does not
// know, catalog rows without their table, dbt's __dbt_tmp / __dbt_backup relations, temporary tables, builds still
// "running", publishes still "running", roles and schemas of environments that are not up (names starting with env_prefix). Empty when clean.
std::vector<std::string> leftovers(pqxx::connection_base& conn, const std::string& env_prefix);

// Processes (other than us) whose command line contains needle: e.g. a dbt that outlived a killed ece-dbt.
std::vector<std::string> processes_mentioning(const std::string& needle);

// CSV data for the four sources of examples/ece_demo, `rows` patients and diagnoses, varied by `variant`.
void write_demo_csv(const fs::path& dir, int rows, int variant);
// --table flags for them.
std::vector<std::string> demo_table_flags(const fs::path& dir);

// ece.yml for a project whose production role owns schema analytics.
void write_ece_yml(const fs::path& file, const std::string& production_role, const std::string& prefix);

// The example project, with the body_change edit of stg_patients (a branch's change) when `changed`.
fs::path copy_demo_project(const fs::path& where, bool changed);

// Builds production (schema analytics, from raw) with the stand-in as the admin and stores its manifest.
void build_production(const std::string& admin_url, const fs::path& work);

// Everything the suites start from, in the database admin_url names: a production role owning schema analytics,
// work/ece.yml, demo data of `rows` rows in work/data staged into production's raw schema (ece-stage, the real
// binary, must succeed), and production built by the stand-in. Returns the production role.
std::string set_up_production(const std::string& admin_url, const fs::path& work, const std::string& prefix,
                              int rows, const std::map<std::string, std::string>& env);

}  // namespace ece::reliability
