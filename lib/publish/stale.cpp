#include "publish/stale.hpp"

#include <set>

namespace ece::publish {

StaleReport find_stale(const std::vector<BuiltRelation>& built, const NodeChecksums& main,
                       const NodeChecksums& production) {
    StaleReport report;
    std::set<std::string> built_ids;
    for (const auto& relation : built) {
        if (relation.unique_id.empty()) continue;
        built_ids.insert(relation.unique_id);
        auto in_main = main.find(relation.unique_id);
        if (in_main == main.end()) {
            report.nodes.push_back({relation.unique_id, StaleNode::Reason::not_in_main, relation.checksum, "", ""});
        } else if (in_main->second != relation.checksum) {
            auto in_production = production.find(relation.unique_id);
            report.nodes.push_back({relation.unique_id, StaleNode::Reason::changed, relation.checksum,
                                    in_main->second,
                                    in_production == production.end() ? "" : in_production->second});
        }
    }
    for (const auto& [id, checksum] : main) {
        if (built_ids.count(id) != 0) continue;
        auto in_production = production.find(id);
        if (in_production != production.end() && in_production->second == checksum) continue;
        report.nodes.push_back({id, StaleNode::Reason::not_built, "", checksum,
                                in_production == production.end() ? "" : in_production->second});
    }
    return report;
}

}  // namespace ece::publish
