#include "publish/types.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <cctype>

namespace ece::publish {
namespace {

bool plain_identifier(std::string_view name) {
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::string display_part(std::string_view part) {
    if (plain_identifier(part)) return std::string(part);
    std::string out = "\"";
    for (char c : part) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    return out + "\"";
}

}  // namespace

std::string_view to_string(RelationKind kind) {
    switch (kind) {
        case RelationKind::table: return "table";
        case RelationKind::view: return "view";
        case RelationKind::materialized_view: return "materialized_view";
    }
    return "table";
}

RelationKind relation_kind_from(std::string_view name) {
    std::string lower;
    for (char c : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (lower == "table" || lower == "seed" || lower == "incremental" || lower == "snapshot") {
        return RelationKind::table;
    }
    if (lower == "view") return RelationKind::view;
    if (lower == "materialized_view" || lower == "materialized view" || lower == "materializedview") {
        return RelationKind::materialized_view;
    }
    throw Error(ErrorKind::input, "unknown relation kind '" + std::string(name) +
                                      "' (expected table, view or materialized_view)",
                {.field = "kind"});
}

std::string display(const QualifiedName& name) { return display_part(name.schema) + "." + display_part(name.name); }

std::string_view to_string(StaleNode::Reason reason) {
    switch (reason) {
        case StaleNode::Reason::changed: return "changed";
        case StaleNode::Reason::not_in_main: return "not_in_main";
        case StaleNode::Reason::not_built: return "not_built";
    }
    return "changed";
}

std::vector<std::string> StaleReport::to_build() const {
    std::vector<std::string> ids;
    for (const auto& node : nodes) {
        if (node.reason != StaleNode::Reason::not_in_main) ids.push_back(node.unique_id);
    }
    return ids;
}

std::string StaleReport::describe() const {
    std::string out;
    for (const auto& node : nodes) {
        out += "  " + node.unique_id + ": ";
        switch (node.reason) {
            case StaleNode::Reason::changed:
                out += "built as " + node.built_checksum.substr(0, 12) + ", main has " +
                       node.main_checksum.substr(0, 12);
                break;
            case StaleNode::Reason::not_in_main: out += "built, but main no longer has it"; break;
            case StaleNode::Reason::not_built:
                out += node.production_checksum.empty() ? "new in main, not built"
                                                        : "changed in main relative to production, not built";
                break;
        }
        out += "\n";
    }
    return out;
}

std::string_view to_string(Outcome outcome) {
    switch (outcome) {
        case Outcome::published: return "published";
        case Outcome::rolled_back: return "rolled_back";
        case Outcome::dry_run: return "dry_run";
        case Outcome::needs_rebuild: return "needs_rebuild";
        case Outcome::already_published: return "already_published";
    }
    return "published";
}

}  // namespace ece::publish
