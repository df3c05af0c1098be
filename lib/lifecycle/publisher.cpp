// The publish step: lib/publish's publish_merged (the merged main parsed as production sees it, the environment
// as the catalog knows it, rebuilt first when stale, swapped into production once per merged commit, the merged
// manifest stored as production state), or, for provider digitalocean, the resize of the branch's cluster. The
// environment is left for the chain's own env-down step, so that step's outcome shows in the comment.
#include "core/error.hpp"
#include "cost/money.hpp"
#include "env/digitalocean_publish.hpp"
#include "lifecycle/lifecycle.hpp"
#include "publish/merge.hpp"

namespace ece::lifecycle {

namespace {

class CatalogPublisher : public Publisher {
public:
    explicit CatalogPublisher(std::string admin_url) : admin_url_(std::move(admin_url)) {}

    Published publish(env::Environments& environments, const Target& target, const Options& options,
                      Log& log) override {
        const auto& config = environments.config();
        const auto id = identity_of(environments, target);
        if (config.environments.provider == "digitalocean") return by_resize(environments, id);

        publish::MergeOptions merge;
        merge.publish = publish::Options::from(config.publish);
        merge.project_dir = options.project_dir;
        merge.dbt = options.dbt;
        merge.threads = options.profile_target && options.profile_target->threads ? *options.profile_target->threads
                                                                                    : config.dbt.threads;
        merge.build_timeout = std::chrono::duration_cast<std::chrono::seconds>(options.build_timeout);
        merge.remove_environment = false;
        merge.full_refresh = options.full_refresh;
        merge.vars = config.dbt.vars;
        merge.exclude = config.dbt.exclude;
        merge.on_log_line = [&log](std::string_view line) { log.info(line); };
        publish::PublishTarget which;
        if (!target.environment_name.empty()) {
            which.branch = target.environment_name;  // an explicit name identifies like a branch, with no number
        } else {
            which.branch = target.branch;
            if (target.pr) which.pr = *target.pr;
        }
        which.sha = target.sha;
        const auto merged = publish::publish_merged(admin_url_, environments, which, merge);

        Published out;
        out.rollback_command = merged.rollback_command();
        out.warnings = merged.warnings;
        if (merged.already_published) {
            out.already_published = true;
            if (merged.previous) out.id = merged.previous->id;
            return out;
        }
        const auto& result = merged.publish;
        if (result.outcome != publish::Outcome::published)
            throw Error(ErrorKind::conflict, "publish ended " + std::string(publish::to_string(result.outcome)) +
                                                 (result.stale.stale() ? ":\n" + result.stale.describe() : ""));
        out.id = result.id;
        out.relations = result.relations.size();
        out.swap_duration = result.swap_duration;
        out.archive_schemas = result.archive_schemas;
        out.manifest_id = merged.manifest_id;
        if (!result.prune_warning.empty()) out.warnings.push_back(result.prune_warning);
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
