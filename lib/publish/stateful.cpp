#include "publish/stateful.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"

namespace ece::publish {
namespace {

std::vector<std::string> stateful_ids(const PublishInput& input) {
    std::vector<std::string> ids;
    for (const auto& r : input.relations)
        if (r.stateful) ids.push_back(r.unique_id);
    return ids;
}

std::string listed(const std::vector<std::string>& ids) {
    std::string text;
    for (const auto& id : ids) text += (text.empty() ? "" : ", ") + id;
    return text;
}

}  // namespace

bool needs_stateful_run(const PublishInput& input) { return !stateful_ids(input).empty(); }

dbt::BuildReport run_stateful_nodes(pqxx::connection& conn, const dbt::BuildTarget& environment,
                                    const PublishInput& input, const MergeOptions& options,
                                    const std::filesystem::path& target_path) {
    const auto ids = stateful_ids(input);
    if (!options.project_dir) {
        throw Error(ErrorKind::usage, "environment " + input.environment + " built snapshots or incremental models (" +
                                          listed(ids) + "): publishing runs them on production's history with the "
                                          "merged main, which needs --project-dir of the checked-out merged main");
    }
    auto build = merged_main_build(options, target_path);
    for (const auto& id : ids) build.also_select.push_back(id + "+");  // a unique id selects that node
    const auto report = dbt::run_build(conn, environment, build);
    if (!report.ok()) {
        throw Error(ErrorKind::external, "running the snapshots and incremental models of environment " +
                                             input.environment + " on production's history failed (ece.builds #" +
                                             std::to_string(report.build_id) + ", " + report.status +
                                             "); production is unchanged: " + mask_secrets(report.message));
    }
    return report;
}

}  // namespace ece::publish
