#pragma once
// The chains of ece's entry point: each life-cycle step (actions::Step) as a plain function over the other areas.
//
//   preview  env up -> stage load -> dbt plan + build -> comment
//   destroy  env down (+ forget built nodes, drop unused staged content) -> final comment with the cost
//   publish  find the pull request -> publish swap -> production manifest stored -> env down -> comment
//   gc       expired environments, and those of closed pull requests when GitHub can be asked
//
// Every sub-step runs in its own log group and lands in the Outcome (and so in the comment) whatever happens to the
// ones after it; a failing sub-step stops only what depends on it. GitHub (comments, deployments, pull requests)
// and publishing are reached through the small interfaces below, so the chain runs locally and in tests alike.
#include "actions/commands.hpp"
#include "actions/event.hpp"
#include "actions/inputs.hpp"
#include "comment/render.hpp"
#include "comment/report.hpp"
#include "config/config.hpp"
#include "dbt/env_target.hpp"
#include "dbt/production_state.hpp"
#include "env/environments.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ece::lifecycle {

// What a step works on: a branch, maybe its pull request, the commit.
struct Target {
    std::string branch;
    std::optional<int> pr;
    std::string sha;
    // The environment-name input: this name instead of pr-<n> or the branch, for every step of the run (its schema
    // and role are slugged from it like a branch's). Such an environment is not tied to the pull request's number:
    // gc removes it on expiry only.
    std::string environment_name{};
};

// The environment a target names: target.environment_name when given, else pr-<n> or the branch.
env::Identity identity_of(const env::Environments& environments, const Target& target);

// Log lines and groups: GitHub's workflow commands inside Actions, plain headings on a terminal. Masked.
class Log {
public:
    Log(std::ostream& out, bool github_actions);
    void group(const std::string& title);
    void end_group();
    void info(std::string_view line);
    void error(std::string_view message);
    void warning(std::string_view message);
    void notice(std::string_view message);
    bool github_actions() const { return github_; }

private:
    std::ostream& out_;
    bool github_;
    bool in_group_ = false;
    actions::Commands commands_;
};

// --- the GitHub side, behind interfaces ------------------------------------------------------------------------

// Where the rendered comment goes: the pull request (sticky), a file, or both.
class CommentSink {
public:
    virtual ~CommentSink() = default;
    // Returns the comment's URL (or the file's path).
    virtual std::string post(const Target& target, const std::string& environment,
                             const comment::Rendered& rendered) = 0;
};

// Writes the comment to a file (ece demo, local runs).
class FileCommentSink : public CommentSink {
public:
    explicit FileCommentSink(std::filesystem::path file) : file_(std::move(file)) {}
    std::string post(const Target& target, const std::string& environment, const comment::Rendered& rendered) override;

private:
    std::filesystem::path file_;
};

// GitHub deployments: each environment is the transient deployment environment "ece/<env>".
class Deployments {
public:
    virtual ~Deployments() = default;
    // Creates the deployment of ref into environment "ece/<env>" (transient) and returns its id.
    virtual std::int64_t create(const std::string& ref, const std::string& environment,
                                const std::string& description) = 0;
    // state: in_progress | success | failure | inactive
    virtual void status(std::int64_t deployment, const std::string& state, const std::string& description) = 0;
    // Marks the environment's earlier deployments that still look live (success, in progress, queued, pending)
    // inactive: GitHub does that by itself only for non-transient environments, and ece's are transient.
    virtual void retire_earlier(std::int64_t deployment) = 0;
};

// Questions about pull requests.
class PullRequests {
public:
    virtual ~PullRequests() = default;
    struct Pull {
        int number = 0;
        bool open = false;
        bool merged = false;
        std::string head_ref;
        std::string head_sha;
        std::string merge_commit_sha{};
        std::string merged_at{};  // ISO 8601: merged pull requests sort in merge order by it
    };
    // Pull requests that hold the commit (a push to main: the merged one).
    virtual std::vector<Pull> for_commit(const std::string& sha) = 0;
    virtual Pull get(int number) = 0;
    // Every open pull request's number.
    virtual std::set<int> open_numbers() = 0;
};

// What a publish did, for the log and the comment.
struct Published {
    std::int64_t id = 0;             // ece.publishes row (the earlier one when already published)
    bool already_published = false;  // this commit was published before: nothing changed now
    std::size_t relations = 0;
    std::chrono::milliseconds swap_duration{0};
    std::vector<std::string> archive_schemas;
    std::string rollback_command;    // e.g. "ece-publish --rollback 3"
    std::optional<std::int64_t> manifest_id;  // the merged manifest stored as production state
    std::vector<std::string> warnings;        // after the swap committed (storing the manifest, ...)
    // Provider digitalocean: no swap, the environment's cluster was resized and is production now (nothing to
    // remove afterwards).
    bool environment_became_production = false;
    std::string summary;                      // one line for the log and the comment, when not the swap's
};

struct Options;

// The one-transaction swap of an environment into production (lib/publish).
class Publisher {
public:
    virtual ~Publisher() = default;
    // Parses the merged project (options.project_dir) as production sees it, publishes the environment (rebuilding
    // what main changed first when it is stale) and stores the merged manifest as production state. Leaves the
    // environment for the caller to remove.
    virtual Published publish(env::Environments& environments, const Target& target, const Options& options,
                              Log& log) = 0;
};

// lib/publish's publish_merged: the catalog's view of the environment (built nodes, staged views, production's
// manifest), idempotent per merged commit.
std::unique_ptr<Publisher> make_catalog_publisher(std::string admin_url);

// --- options and results ----------------------------------------------------------------------------------------

struct Options {
    std::string admin_url;                      // a secret: the server holding production and the catalog
    std::filesystem::path project_dir = ".";     // the dbt project
    std::string dbt = "dbt";                    // dbt executable (a path or a name on PATH)
    std::string dbt_version;                    // "dbt-core 1.9.1, postgres 1.9.0" (dbt --version): log and comment
    std::filesystem::path work_dir = ".ece/work";  // dbt's target path per environment lives below
    std::optional<std::chrono::milliseconds> ttl;
    std::string run_url;                        // the workflow run, for the comment and deployments
    std::string prices_file;                    // empty: the catalogue shipped with ece
    std::chrono::minutes build_timeout{120};
    // The action's select input: dbt selectors an environment's build builds too (dbt::BuildOptions::also_select).
    std::vector<std::string> also_select;
    // Snapshots and incremental models built from scratch (and published so, replacing production's history)
    // instead of from a copy of production's table: the pull request's ece:full-refresh label or the action's
    // full-refresh input (docs/stateful-nodes.md).
    bool full_refresh = false;
    // Production's manifest from a GitHub Actions artifact when the catalog has none (dbt::github_artifact_fetcher).
    dbt::ArtifactFetcher artifact;
    std::string artifact_unavailable_reason;
    // The branch's manifest as given (the fork artifact's): no `dbt parse` for the plan.
    std::optional<std::filesystem::path> branch_manifest;
    std::optional<std::string> branch_manifest_schema;  // the target schema branch_manifest was parsed with
    // The dbt-target input: threads and the non-connection keys of the user's own target.
    std::optional<dbt::ProfileTargetSettings> profile_target;
    // Where the comment's data diff is also written as JSON (lib/diff/json.hpp), for the action's data-diff output.
    std::optional<std::filesystem::path> data_diff_file;
};

// The GitHub side of a run; any may be null (no token, not in Actions): the step is then skipped, saying so.
struct Services {
    CommentSink* comments = nullptr;
    std::vector<CommentSink*> extra_comment_sinks;  // e.g. a file besides the pull request
    Deployments* deployments = nullptr;
    PullRequests* pulls = nullptr;
    Publisher* publisher = nullptr;
    std::function<void(const std::string& markdown)> job_summary;  // GITHUB_STEP_SUMMARY
};

// One sub-step's outcome.
struct StepResult {
    std::string name;     // "env up", "stage", "dbt build", "comment", ...
    bool ok = true;
    bool skipped = false;
    int exit_code = 0;
    std::string detail;   // one line: what it did, or why it failed
    double seconds = 0;
};

struct Outcome {
    actions::Step step = actions::Step::ignore;
    std::vector<StepResult> steps;
    int exit_code = 0;  // the first failing sub-step's
    // For the action's outputs.
    std::string environment, schema, host, port, user, database_url, comment_url;
    std::string data_diff_file;  // written when the comment carried a data diff
    std::optional<std::size_t> selected_count;
    std::string comment_markdown;  // what was posted (empty when no comment was made)
    std::optional<comment::Report> report;
    std::string hints;             // how to connect (preview)

    bool ok() const { return exit_code == 0; }
    const StepResult* find(std::string_view name) const;
};

// --- the chains -------------------------------------------------------------------------------------------------

// Whether the run asks for snapshots and incremental models built from scratch (Options::full_refresh): the action's
// full-refresh input, or the pull request's label ece:full-refresh (docs/stateful-nodes.md). Throws ece::Error(usage)
// for an input that is not a boolean.
bool asks_full_refresh(const actions::Event& event, const actions::Inputs& inputs);

Outcome preview(env::Environments& environments, const Target& target, const Options& options, Services& services,
                Log& log);
Outcome destroy(env::Environments& environments, const Target& target, const Options& options, Services& services,
                Log& log);
// target.pr empty: found through services.pulls (the pull request holding target.sha).
Outcome publish(env::Environments& environments, const Target& target, const Options& options, Services& services,
                Log& log);
Outcome gc(env::Environments& environments, const Options& options, Services& services, Log& log);
// The fork-safe workflow's privileged half: opens the artifact in artifact_dir (fork_artifact.hpp: untrusted,
// validated), checks its pull request against target and GitHub (services.pulls), then previews that pull request
// with the artifact's project and manifest. A refused artifact creates nothing: the outcome then holds the one
// failed step "fork artifact" and no comment is written.
Outcome preview_fork_artifact(const std::filesystem::path& artifact_dir, env::Environments& environments,
                              const Target& target, const Options& options, Services& services, Log& log);
// workflow_dispatch's command input: preview, destroy, publish or gc. Throws ece::Error(usage) for anything else.
Outcome dispatch(const std::string& command, env::Environments& environments, const Target& target,
                 const Options& options, Services& services, Log& log);

// The branch's connection commands (ece-env hints), without a password.
std::string hints(env::Environments& environments, const Target& target);

// "ece/<env>"
std::string deployment_environment(const std::string& environment);

}  // namespace ece::lifecycle
