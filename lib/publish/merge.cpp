#include "publish/merge.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "dbt/catalog.hpp"
#include "dbt/env_target.hpp"
#include "dbt/private_dir.hpp"
#include "pg/connect.hpp"
#include "pg/lock.hpp"
#include "publish/catalog_source.hpp"
#include "publish/stateful.hpp"

#include <fstream>

namespace fs = std::filesystem;

namespace ece::publish {
namespace {

MergeResult no_op(MergeResult out, const PublishRecord& previous) {
    out.already_published = true;
    out.publish.outcome = Outcome::already_published;
    out.publish.id = previous.id;
    out.publish.environment = previous.environment;
    out.publish.relations = previous.relations;
    out.publish.archive_schemas = previous.archive_schemas;
    out.previous = previous;
    return out;
}

// The commit's publish, or (without a commit) the publish of an environment that is gone since.
std::optional<PublishRecord> done_before(pqxx::connection& conn, const std::string& environment,
                                         const std::string& sha, const std::optional<env::Record>& record) {
    if (!sha.empty()) return find_published(conn, environment, sha);
    if (record && record->status == env::Status::ready) return std::nullopt;
    return find_published(conn, environment, "");
}

// After the commit the environment goes (lib/env takes the environment's lock on a connection of its own). Failures
// are warnings.
void remove_environment(pqxx::connection& conn, env::Environments& environments, const env::Identity& id,
                        const MergeOptions& options, MergeResult& out) {
    if (!options.remove_environment) return;
    try {
        out.environment_removed = environments.down(id).existed;
        dbt::forget_built_nodes(conn, id.name);
    } catch (const std::exception& e) {
        out.warnings.push_back("could not remove environment " + id.name + " (ece-env down --pr/--branch removes it; "
                               "gc will): " + mask_secrets(e.what()));
    }
}

// Stale nodes that main does not change relative to production (built at a checksum main no longer has, and main
// has production's) are not selected by state:modified: the rebuild selects them, and what reads them, explicitly,
// so that the environment holds main's version again.
std::vector<std::string> unchanged_stale_selectors(const StaleReport& stale) {
    std::vector<std::string> selectors;
    for (const auto& node : stale.nodes) {
        if (node.reason == StaleNode::Reason::changed && !node.production_checksum.empty() &&
            node.main_checksum == node.production_checksum) {
            selectors.push_back(node.unique_id + "+");  // lib/dbt/select.hpp: a unique id selects that node
        }
    }
    return selectors;
}

}  // namespace

dbt::BuildOptions merged_main_build(const MergeOptions& options, const fs::path& target_path) {
    dbt::BuildOptions build;
    build.project_dir = *options.project_dir;
    build.dbt = options.dbt;
    // No branch_manifest: run_build parses main with the environment as target, so that what it records in
    // ece.built_nodes names the environment's schemas (the merged main's manifest names production's).
    build.threads = options.threads;
    build.parse_timeout = options.parse_timeout;
    build.build_timeout = options.build_timeout;
    build.target_path = target_path;
    build.full_refresh = options.full_refresh;
    build.on_log_line = options.on_log_line;
    build.vars = options.vars;
    build.exclude = options.exclude;
    return build;
}

std::string MergeResult::rollback_command() const { return "ece-publish --rollback " + std::to_string(publish.id); }

fs::path parse_main(const env::Environments& environments, const fs::path& project_dir, const fs::path& dbt,
                    const fs::path& target_path, std::chrono::seconds timeout) {
    const auto production = environments.production_facts();
    dbt::BuildTarget target;
    target.host = production.host;
    target.port = production.port;
    target.dbname = production.dbname;
    target.user = production.user;
    target.schema = production.schema;
    target.production_schema = production.schema;
    target.environment = "production";
    // Parsed as a build of production would be: dbt deps first, a copy of the project, dbt's own user (as root).
    dbt::BuildOptions options;
    options.project_dir = project_dir;
    options.dbt = dbt;
    options.threads = 1;
    options.parse_timeout = timeout;
    options.target_path = fs::absolute(target_path);
    options.raw_schema = environments.config().production.raw_schema;
    options.vars = environments.config().dbt.vars;
    return dbt::parse_as_build(target, options);
}

MergeResult publish_merged(const std::string& admin_url, env::Environments& environments, const PublishTarget& target,
                           const MergeOptions& options) {
    register_secret(admin_url);
    auto conn = pg::connect(admin_url, "publish");
    migrate(conn);
    dbt::migrate_catalog(conn);
    const auto id = identity_for(environments, target);
    // Made before anything may return: making one also removes the private directories of killed ece processes, so
    // a re-run that finds the killed run's publish committed still clears what that run left in TMPDIR.
    dbt::PrivateDir work;
    MergeResult out;
    out.environment = id.name;
    auto record = environments.find(id);
    out.sha = target.sha.value_or(record ? record->head_sha : "");
    if (auto previous = done_before(conn, id.name, out.sha, record)) return no_op(std::move(out), *previous);
    if (!record) throw Error(ErrorKind::usage, "there is no environment " + id.name + " (ece-env up never made it)");
    if (record->status != env::Status::ready) {
        throw Error(ErrorKind::conflict, "environment " + id.name + " is " + env::to_string(record->status) +
                                             ", not ready: nothing to publish");
    }

    // The merged main's manifest.
    fs::path manifest_file;
    if (options.main_manifest) {
        manifest_file = *options.main_manifest;
    } else if (options.project_dir) {
        manifest_file = parse_main(environments, *options.project_dir, options.dbt, work.path() / "target",
                                   options.parse_timeout);
    } else {
        throw Error(ErrorKind::usage, "publishing needs the merged main's manifest: give --manifest FILE or "
                                      "--project-dir of the checked-out merged main");
    }
    const auto main = dbt::load_manifest(manifest_file);
    const auto main_state = dbt::prepare_manifest(manifest_file);

    CatalogSource source(conn, environments, relation_checksums(main));
    PublishTarget resolved = target;
    resolved.sha = out.sha;
    RebuildHook rebuild;
    if (options.project_dir) {
        rebuild = [&](const StaleReport& stale, const PublishInput&) {
            const auto build_target = dbt::build_target_for(environments, id, out.sha);
            auto build = merged_main_build(options, work.path() / "rebuild");
            build.also_select = unchanged_stale_selectors(stale);
            const auto report = dbt::run_build(conn, build_target, build);
            out.rebuild_id = report.build_id;
            out.rebuild_status = report.status;
            if (!report.ok()) {
                throw Error(ErrorKind::external, "rebuilding the stale nodes into environment " + id.name +
                                                     " failed (ece.builds #" + std::to_string(report.build_id) +
                                                     ", " + report.status + "): " + mask_secrets(report.message));
            }
            return source.load(resolved);
        };
    }

    auto publish_options = options.publish;
    publish_options.once_per_sha = true;
    // The merged manifest becomes production's dbt state in the swap's own transaction: both or neither.
    publish_options.within_swap = [&](pqxx::transaction_base& tx, std::int64_t publish_id) {
        out.manifest_id = dbt::store_published_manifest(tx, main_state, out.sha, publish_id);
    };
    // Concurrent merges take turns from here until production's new state is stored: the staleness check compares
    // the environment with production as the publishes before this one left it (a --rebuild catches up on them), and
    // the next one sees this one's manifest. (publish() takes the same lock again; advisory locks nest.)
    std::optional<pg::AdvisoryLock> turn;
    try {
        turn.emplace(conn, "publish", publish_options.advisory_lock_timeout);
        auto input = source.load(resolved);
        // Snapshots and incremental models run again on production's tables (a dry run changes nothing, the
        // environment included).
        if (!publish_options.dry_run && needs_stateful_run(input)) {
            const auto run = run_stateful_nodes(conn, dbt::build_target_for(environments, id, out.sha), input, options,
                                                work.path() / "stateful");
            out.stateful_build_id = run.build_id;
            out.stateful = run.stateful;
            input = source.load(resolved);
        }
        out.publish = publish(conn, input, publish_options, rebuild);
    } catch (const Error&) {
        // Another job for the same merge may have published and removed the environment meanwhile. When even that
        // cannot be looked up (the connection is gone), the publish's own error is the one that explains.
        std::optional<PublishRecord> previous;
        try {
            previous = done_before(conn, id.name, out.sha, environments.find(id));
        } catch (const std::exception&) {
        }
        if (previous) return no_op(std::move(out), *previous);
        throw;
    }
    if (out.publish.outcome == Outcome::already_published) {
        if (auto previous = find_published(conn, id.name, out.sha)) return no_op(std::move(out), *previous);
        out.already_published = true;
        return out;
    }
    if (out.publish.outcome != Outcome::published) return out;
    turn.reset();
    remove_environment(conn, environments, id, options, out);
    return out;
}

}  // namespace ece::publish
