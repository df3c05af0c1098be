#pragma once
// Publishing a merged pull request from the catalog, start to end:
//
//   1. under the environment's advisory lock: a commit published already (or an environment gone after its
//      publish) is a no-op that says so; the workflows may trigger twice (merged pull_request, push to main);
//   2. the merged main's manifest: --manifest FILE, or `dbt parse` of the checked-out merged main;
//   3. CatalogSource loads the environment; when it built snapshots or incremental models, they (and what reads
//      them) run again in it with the merged code, each on a fresh copy of production's table, so that the swap
//      keeps production's history (publish/stateful.hpp); when it is stale, --rebuild builds what main changed into it first
//      (lib/dbt run_build, as the environment's role; also nodes the environment built at a checksum main no
//      longer has while main leaves them as production has them, through BuildOptions::also_select) and --strict
//      stops with the list;
//   4. publish() swaps it into production in one transaction;
//   5. the merged manifest becomes production's state (ece.state_manifests, source "publish #<id>");
//   6. the environment is removed (lib/env down) and forgotten by ece.built_nodes.
//
//   env::Environments envs(env::Settings::resolve(url, config));
//   MergeOptions options;  options.publish = Options::from(config.publish);  options.project_dir = ".";
//   auto merged = publish_merged(admin_url, envs, {.pr = 12, .sha = "abc"}, options);
#include "dbt/build.hpp"
#include "env/environments.hpp"
#include "publish/publish.hpp"
#include "publish/types.hpp"

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace ece::publish {

struct MergeOptions {
    Options publish;                                     // swap options, on_stale, dry_run
    std::optional<std::filesystem::path> main_manifest;  // the merged main's manifest.json
    // The checked-out merged main: parsed when main_manifest is not given, and what --rebuild builds.
    std::optional<std::filesystem::path> project_dir;
    std::filesystem::path dbt = "dbt";
    int threads = 4;
    std::chrono::seconds parse_timeout{std::chrono::minutes(15)};
    std::chrono::seconds build_timeout{std::chrono::hours(2)};
    bool remove_environment = true;  // false: keep it after publishing (tests, manual runs)
    // Snapshots and incremental models are built from scratch and replace production's history: asked for
    // explicitly (ece-publish --full-refresh, the ece:full-refresh label). Without it they run on a copy of
    // production's table (docs/stateful-nodes.md); one node asks through meta: {ece: {full_refresh: true}}.
    bool full_refresh = false;
    std::function<void(std::string_view line)> on_log_line;  // dbt's lines (masked)
    std::string vars;  // ece.yml's dbt.vars (JSON text), for every dbt command
    std::vector<std::string> exclude;  // ece.yml's dbt.exclude, for every build
};

struct MergeResult {
    Result publish;  // outcome published, dry_run or needs_rebuild; empty when already_published
    bool already_published = false;
    std::optional<PublishRecord> previous;  // the publish that did it already
    std::string environment;
    std::string sha;
    std::optional<std::int64_t> rebuild_id;  // ece.builds id of the --rebuild build
    std::string rebuild_status;
    std::optional<std::int64_t> manifest_id;  // ece.state_manifests id of the new production state
    // The run of the environment's snapshots and incremental models on production's current history, just before
    // the swap (ece.builds id), and how each started.
    std::optional<std::int64_t> stateful_build_id;
    std::vector<dbt::StatefulStart> stateful;
    bool environment_removed = false;
    std::vector<std::string> warnings;  // after the publish committed: storing the manifest, removing the env

    // "ece-publish --rollback <id>"
    std::string rollback_command() const;
};

// Runs the steps above. admin_url: the production database (a secret). Throws ece::Error as publish() does, and
// (usage) when the merged main's manifest cannot be had (neither main_manifest nor project_dir), (external) when
// dbt parse or the rebuild fails. Steps after the commit never throw: their failures are warnings.
MergeResult publish_merged(const std::string& admin_url, env::Environments& environments, const PublishTarget& target,
                           const MergeOptions& options);

// How the merged main (options.project_dir, which must be set) builds into the environment, for --rebuild and the
// run of stateful nodes: threads, timeouts, full_refresh and the log as options say, dbt's target path given.
dbt::BuildOptions merged_main_build(const MergeOptions& options, const std::filesystem::path& target_path);

// `dbt parse` of project_dir as production would parse it (production's schema and raw schema, no password):
// writes <target_path>/manifest.json and returns its path. Throws ece::Error (external) naming the exit code.
std::filesystem::path parse_main(const env::Environments& environments, const std::filesystem::path& project_dir,
                                 const std::filesystem::path& dbt, const std::filesystem::path& target_path,
                                 std::chrono::seconds timeout);

}  // namespace ece::publish
