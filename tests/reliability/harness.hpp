#pragma once
// Shared pieces of the reliability suites: running ece's real binaries (and killing them), fingerprints of what
// production holds, and the checks that nothing was left behind.
#include <pqxx/pqxx>

#include <chrono>
#include <functional>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"

namespace ece::reliability {

namespace fs = std::filesystem;

inline const fs::path source_dir = ECE_SOURCE_DIR;
inline const fs::path demo_project = source_dir / "examples/ece_demo";

// The built binaries (paths compiled in by CMake).
inline const std::string ece_env_binary = ECE_ENV_BINARY;
inline const std::string ece_stage_binary = ECE_STAGE_BINARY;
inline const std::string ece_dbt_binary = ECE_DBT_BINARY;
inline const std::string ece_publish_binary = ECE_PUBLISH_BINARY;
inline const std::string ece_comment_binary = ECE_COMMENT_BINARY;
inline const std::string ece_binary = ECE_BINARY;

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

// A kill point: an offset drawn uniformly from [0, seconds) (a step's uninterrupted duration).
std::chrono::microseconds kill_offset(std::mt19937& random, double seconds);

// What a step's kill points came to; print() writes the "[figures]" line RELIABILITY.md records.
struct KillTally {
    int points = 0, killed_running = 0, finished_first = 0, converged = 0;
    void count(const Outcome& killed) {
        ++points;
        (killed.killed ? killed_running : finished_first)++;
    }
    void print(const std::string& name, double seconds) const;
};

// Prints every step's figures (seconds since started) and expects every kill point of them to have converged.
void expect_every_point_converged(const std::vector<std::pair<std::string, KillTally>>& steps,
                                  std::chrono::steady_clock::time_point started);

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

// Edits a copy of the example project (adds or changes models) before it is built or published.
using ProjectEdit = std::function<void(const fs::path& project)>;

// Builds production (schema analytics, from raw) with real dbt as the admin and stores its manifest; the
// project is work/production, the example project with edit applied.
void build_production(const std::string& admin_url, const fs::path& work, const ProjectEdit& edit = {});

// A NOLOGIN production role (named after hint, unique) and, when owns_analytics, schema analytics owned by it.
std::string create_production_role(const std::string& admin_url, const std::string& hint, bool owns_analytics = true);

// Everything the suites start from, in the database admin_url names: a production role owning schema analytics,
// work/ece.yml, demo data of `rows` rows in work/data staged into production's raw schema (ece-stage, the real
// binary, must succeed), and production built by real dbt. Returns the production role.
std::string set_up_production(const std::string& admin_url, const fs::path& work, const std::string& prefix,
                              int rows, const std::map<std::string, std::string>& env, const ProjectEdit& edit = {});

// A prefix for environments' schemas and roles unique to this test run (20 characters and "_").
std::string unique_env_prefix(const std::string& hint);

// What the cycle tests start from: a fresh database with production set up (set_up_production, `rows` rows), a
// private TMPDIR (what a killed ece-dbt leaves there is counted), the branch's checkout (the stg_patients change)
// and the commands of pull request N (default 1) on branch feature/N.
struct PullRequestSetup {
    explicit PullRequestSetup(const std::string& database_hint, int rows = 20000);

    test::TempDir dir;
    std::string url, prefix;
    std::map<std::string, std::string> env;  // ECE_DATABASE_URL, TMPDIR
    std::string production_role, config;     // config: dir/ece.yml
    fs::path project;                         // dir/branch
    pqxx::connection conn;                    // the checks' own admin connection
    const std::vector<std::string> production_schemas{"analytics", "raw"};

    static std::string branch(int pr);
    std::vector<std::string> up(int pr = 1) const;
    std::vector<std::string> stage_branch(int pr = 1) const;
    std::vector<std::string> build(const std::string& sha, int pr = 1) const;
    std::vector<std::string> down(int pr = 1) const;
    // What the private TMPDIR holds (names), and leftovers() of this prefix with it: empty when clean.
    std::vector<std::string> left_behind();
};

}  // namespace ece::reliability
