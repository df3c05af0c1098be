#include "dbt/plan_output.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace ece::dbt {

std::string plan_to_json(const Plan& plan) {
    boost::json::object out;
    out["selector"] = plan.selector;
    out["state_source"] = plan.state_source;
    out["full_build"] = plan.full_build;
    out["full_build_reason"] = plan.full_build_reason;
    boost::json::array selected;
    for (const auto& node : plan.selected) {
        boost::json::object entry;
        entry["unique_id"] = node.unique_id;
        entry["resource_type"] = node.resource_type;
        entry["name"] = node.name;
        boost::json::array reasons;
        for (const auto& reason : node.reasons) reasons.emplace_back(reason);
        entry["reasons"] = std::move(reasons);
        selected.emplace_back(std::move(entry));
    }
    out["selected"] = std::move(selected);
    boost::json::object counts;
    // The four buildable types first, in a fixed order, then any other type that was selected.
    for (const char* type : {"model", "test", "seed", "snapshot"}) {
        auto it = plan.counts.find(type);
        counts[type] = it == plan.counts.end() ? 0 : it->second;
    }
    for (const auto& [type, count] : plan.counts)
        if (!counts.contains(type) && count > 0) counts[type] = count;
    out["counts"] = std::move(counts);
    out["deferred"] = plan.deferred;
    boost::json::array removed;
    for (const auto& id : plan.removed) removed.emplace_back(id);
    out["removed"] = std::move(removed);
    boost::json::array warnings;
    for (const auto& warning : plan.warnings) warnings.emplace_back(warning);
    out["warnings"] = std::move(warnings);
    return boost::json::serialize(out);
}

namespace {

void append_nodes(std::string& out, const std::vector<const PlannedNode*>& nodes) {
    for (const PlannedNode* node : nodes) {
        out += "  " + node->resource_type + " " + node->name;
        if (!node->reasons.empty()) {
            out += ": ";
            for (std::size_t i = 0; i < node->reasons.size(); ++i) out += (i ? "; " : "") + node->reasons[i];
        }
        out += "\n";
    }
}

}  // namespace

std::string plan_to_text(const Plan& plan, const std::string& branch) {
    std::string out = "dbt plan" + (branch.empty() ? std::string() : " for branch " + branch) + " (" + plan.selector +
                      ")\n";
    out += "production state: " + (plan.state_source.empty() ? std::string("none") : plan.state_source) + "\n";
    if (plan.full_build) out += "FULL BUILD: " + plan.full_build_reason + "\n";
    for (const auto& warning : plan.warnings) out += "warning: " + warning + "\n";
    out += "\n";
    std::vector<const PlannedNode*> built, affected;
    for (const auto& node : plan.selected) (is_buildable_type(node.resource_type) ? built : affected).push_back(&node);
    if (built.empty()) {
        out += "Nothing to build: no node differs from production.\n";
    } else {
        out += "To build (" + std::to_string(built.size()) + "):\n";
        append_nodes(out, built);
    }
    if (!affected.empty()) {
        out += "Affected, not built (" + std::to_string(affected.size()) +
               ": sources, exposures, metrics, semantic models, saved queries):\n";
        append_nodes(out, affected);
    }
    out += "\nCounts:";
    bool first = true;
    for (const auto& [type, count] : plan.counts) {
        if (count == 0 && type != "model" && type != "test" && type != "seed" && type != "snapshot") continue;
        out += std::string(first ? " " : ", ") + type + " " + std::to_string(count);
        first = false;
    }
    out += "\nDeferred to production: " + std::to_string(plan.deferred) + " (models, seeds and snapshots not built)\n";
    if (!plan.removed.empty()) {
        out += "Removed in this branch (" + std::to_string(plan.removed.size()) + ", nothing to build):\n";
        for (const auto& id : plan.removed) out += "  " + id + "\n";
    }
    return out;
}

}  // namespace ece::dbt
