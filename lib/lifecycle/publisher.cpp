// The publish step on lib/publish: the merged main parsed as production sees it (publish::parse_main), the
// environment as the catalog knows it (publish::CatalogSource), rebuilt first when stale, swapped into production
// once per merged commit, the merged manifest stored as production state.
//
// Why not publish::publish_merged: its CatalogSource moves only the staged views whose content differs from
// production's, but the views dbt built in the environment (stg_patients) read the environment's raw views, so
// after the swap production's views would depend on the environment's raw schema and env down would fail (or, with
// CASCADE, break production). Here every staged view of the environment moves with the relations reading it;
// production's views of the same tables go to the archive and the dbt views reading them are rebound.
#include "core/error.hpp"
#include "core/secrets.hpp"
#include "dbt/build.hpp"
#include "dbt/catalog.hpp"
#include "dbt/env_target.hpp"
#include "dbt/manifest.hpp"
#include "env/digitalocean_publish.hpp"
#include "cost/money.hpp"
#include "dbt/private_dir.hpp"
#include "lifecycle/lifecycle.hpp"
#include "pg/connect.hpp"
#include "publish/catalog_source.hpp"
#include "publish/merge.hpp"

#include <set>

namespace ece::lifecycle {

namespace {

// Every view of the environment's raw schema, to production's raw schema.
void add_all_staged_views(pqxx::connection& conn, publish::PublishInput& input, const std::string& raw_schema,
                          const std::string& production_raw_schema) {
    std::set<std::string> present;
    for (const auto& v : input.staged_views) present.insert(v.environment_schema + "." + v.name);
    pqxx::read_transaction tx(conn);
    for (const auto& row : tx.exec_params("SELECT viewname FROM pg_views WHERE schemaname = $1 ORDER BY 1", raw_schema)) {
        const auto name = row[0].as<std::string>();
        if (present.count(raw_schema + "." + name)) continue;
        input.staged_views.push_back(
            {raw_schema, name, publish::RelationKind::view, production_raw_schema, "", ""});
    }
}

class CatalogPublisher : public Publisher {
public:
    explicit CatalogPublisher(std::string admin_url) : admin_url_(std::move(admin_url)) {}

    Published publish(env::Environments& environments, const Target& target, const Options& options,
                      Log& log) override {
        const auto& config = environments.config();
        const auto id = environments.identify(target.branch, target.pr);
        if (config.environments.provider == "digitalocean") return by_resize(environments, id);
        auto conn = pg::connect(admin_url_, "publishing " + id.name);
        publish::migrate(conn);
        dbt::migrate_catalog(conn);

        // The workflows may publish one merge twice (the merged pull_request and the push to main).
        for (const auto& done : publish::list_publishes(conn, 200)) {
            if (done.kind == "publish" && done.environment == id.name && done.sha == target.sha &&
                done.status == "published") {
                Published out;
                out.id = done.id;
                out.already_published = true;
                out.rollback_command = "ece-publish --rollback " + std::to_string(done.id);
                return out;
            }
        }

        dbt::PrivateDir work;
        const auto manifest = publish::parse_main(environments, options.project_dir, options.dbt,
                                                  work.path() / "target", std::chrono::minutes(15));
        publish::CatalogSource source(conn, environments, publish::relation_checksums(dbt::load_manifest(manifest)));
        publish::PublishTarget which;
        if (!target.branch.empty()) which.branch = target.branch;
        if (target.pr) which.pr = *target.pr;
        which.sha = target.sha;
        const auto raw_schema = [&] {
            const auto record = environments.find(id);
            return record ? record->base_schema + "_raw" : std::string();
        }();
        auto load = [&] {
            auto input = source.load(which);
            add_all_staged_views(conn, input, raw_schema, config.production.raw_schema);
            return input;
        };

        // Stale against the merged main: build what main changed into the environment, then load it again.
        publish::RebuildHook rebuild = [&](const publish::StaleReport& stale, const publish::PublishInput&) {
            log.info("the environment is stale against the merged main; rebuilding:\n" + stale.describe());
            auto build = dbt::BuildOptions{};
            build.project_dir = options.project_dir;
            build.dbt = options.dbt;
            build.threads = config.dbt.threads;
            build.build_timeout = options.build_timeout;
            build.target_path = work.path() / "rebuild";
            build.on_log_line = [&log](std::string_view line) { log.info(line); };
            const auto report = dbt::run_build(conn, dbt::build_target_for(environments, id, target.sha), build);
            if (!report.ok())
                throw Error(ErrorKind::external, "rebuilding the stale nodes into " + id.name + " failed (" +
                                                     report.status + "): " + mask_secrets(report.message));
            return load();
        };

        auto publish_options = publish::Options::from(config.publish);
        publish_options.once_per_sha = true;
        const auto result = publish::publish(conn, load(), publish_options, rebuild);

        Published out;
        out.id = result.id;
        out.rollback_command = "ece-publish --rollback " + std::to_string(result.id);
        if (result.outcome == publish::Outcome::already_published) {
            out.already_published = true;
            return out;
        }
        if (result.outcome != publish::Outcome::published)
            throw Error(ErrorKind::conflict, "publish ended " + std::string(publish::to_string(result.outcome)) +
                                                 (result.stale.stale() ? ":\n" + result.stale.describe() : ""));
        out.relations = result.relations.size();
        out.swap_duration = result.swap_duration;
        out.archive_schemas = result.archive_schemas;
        if (!result.prune_warning.empty()) out.warnings.push_back(result.prune_warning);
        try {
            out.manifest_id = dbt::store_production_manifest(conn, manifest, target.sha,
                                                             "publish #" + std::to_string(result.id));
        } catch (const std::exception& e) {
            out.warnings.push_back("could not store the merged manifest as production's state (the next plan "
                                   "compares with the previous one): " + mask_secrets(e.what()));
        }
        return out;
    }

private:
    // A cluster per environment: publishing resizes the branch's cluster to production's size and makes it
    // production (lib/env), the previous production cluster is deleted once the new one is healthy.
    static Published by_resize(env::Environments& environments, const env::Identity& id) {
        const auto result = env::publish_by_resize(environments, id);
        Published out;
        out.environment_became_production = true;
        std::string deleted;
        for (const auto& d : result.deleted) deleted += (deleted.empty() ? "" : ", ") + d;
        out.summary = "cluster " + result.production.name + " resized to " + result.production.size +
                      " and tagged production" + (deleted.empty() ? "" : "; deleted " + deleted) + "; monthly " +
                      cost::format_money(result.monthly_before) + " -> " + cost::format_money(result.monthly_after);
        out.rollback_command = "(no rollback: the previous production cluster was deleted)";
        return out;
    }

    std::string admin_url_;
};

}  // namespace

std::unique_ptr<Publisher> make_catalog_publisher(std::string admin_url) {
    return std::make_unique<CatalogPublisher>(std::move(admin_url));
}

}  // namespace ece::lifecycle
