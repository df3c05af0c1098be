#include "dbt/state.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "core/error.hpp"
#include "dbt/canonical.hpp"

namespace ece::dbt {

Selector parse_selector(std::string_view text) {
    Selector selector;
    selector.text = std::string(text);
    std::string_view body = text;
    if (!body.empty() && body.back() == '+') {
        selector.descendants = true;
        body.remove_suffix(1);
    }
    static const std::pair<std::string_view, StateMethod> methods[] = {
        {"state:new", StateMethod::is_new},
        {"state:modified", StateMethod::modified},
        {"state:modified.body", StateMethod::body},
        {"state:modified.configs", StateMethod::configs},
        {"state:modified.relation", StateMethod::relation},
        {"state:modified.persisted_descriptions", StateMethod::persisted_descriptions},
        {"state:modified.macros", StateMethod::macros},
        {"state:modified.contract", StateMethod::contract},
    };
    for (const auto& [name, method] : methods) {
        if (body == name) {
            selector.method = method;
            return selector;
        }
    }
    throw Error(ErrorKind::usage,
                "unsupported selector '" + std::string(text) +
                    "': expected state:new or state:modified[.body|.configs|.relation|.persisted_descriptions|"
                    ".macros|.contract], optionally followed by +");
}

bool is_buildable_type(std::string_view type) {
    return type == "model" || type == "seed" || type == "snapshot" || type == "test" || type == "unit_test";
}

std::vector<std::string> Plan::selected_ids() const {
    std::vector<std::string> ids;
    ids.reserve(selected.size());
    for (const auto& node : selected) ids.push_back(node.unique_id);
    return ids;
}

namespace {

// Nodes of manifest.nodes (dbt's ParsedNode): the only kinds with a body, persisted descriptions and a contract.
bool is_manifest_node(const Node& n) {
    switch (n.type) {
        case ResourceType::model:
        case ResourceType::seed:
        case ResourceType::snapshot:
        case ResourceType::test:
        case ResourceType::analysis:
        case ResourceType::operation: return true;
        default: return false;
    }
}

// Kinds whose same_contents(None) is True in dbt: a new one is state:new but not state:modified.
bool new_is_unmodified(const Node& n) {
    return n.type == ResourceType::source || n.type == ResourceType::exposure || n.type == ResourceType::metric ||
           n.type == ResourceType::semantic_model || n.type == ResourceType::saved_query;
}

// Resource types dbt ls lists by default (no analyses, no hooks).
bool is_listed(const Node& n) {
    return n.type != ResourceType::operation && n.type != ResourceType::analysis && n.type != ResourceType::other;
}

bool is_buildable(const Node& n) { return is_buildable_type(to_string(n.type)); }

std::string shown(const std::string_view* canonical_value) {
    return canonical_value ? display_value(*canonical_value) : std::string("(unset)");
}

std::string last_part(std::string_view unique_id) {
    auto dot = unique_id.rfind('.');
    return std::string(dot == std::string_view::npos ? unique_id : unique_id.substr(dot + 1));
}

// What differs between a branch node and its production version, each with a reason a reader understands.
struct Differences {
    std::vector<std::string> body, configs, relation, persisted, contract, fqn, other;
    bool any_for_contents(const Node& n) const {
        if (n.is_generic_test()) return !configs.empty() || !fqn.empty();
        return !body.empty() || !configs.empty() || !relation.empty() || !persisted.empty() || !contract.empty() ||
               !fqn.empty() || !other.empty();
    }
};

// Keys dbt's NodeConfig.same_contents leaves out: part of the relation, or not a change (tags, group).
bool excluded_from_node_config(std::string_view key) {
    return key == "alias" || key == "schema" || key == "database" || key == "tags" || key == "group";
}

// The only keys dbt's TestConfig.same_contents compares.
bool is_test_modifier(std::string_view key) {
    static constexpr std::string_view keys[] = {"severity", "where",  "limit",          "fail_calc",
                                                "warn_if",  "error_if", "store_failures", "store_failures_as"};
    return std::find(std::begin(keys), std::end(keys), key) != std::end(keys);
}

class Comparer {
public:
    Comparer(const Manifest& branch, const Manifest& production, const PlanOptions& options)
        : branch_(branch), production_(production), options_(options) {
        find_modified_macros();
    }

    Differences compare(const Node& n, const Node& o) const {
        Differences d;
        switch (n.type) {
            case ResourceType::source:
                compare_config(n, o, d.configs);
                compare_fqn(n, o, d.fqn);
                compare_source(n, o, d);
                return d;
            case ResourceType::exposure:
                compare_config(n, o, d.configs);
                compare_fqn(n, o, d.fqn);
                compare_exposure(n, o, d);
                return d;
            case ResourceType::metric:
                compare_config(n, o, d.configs);
                compare_metric(n, o, d);
                return d;
            case ResourceType::semantic_model:
                compare_semantic_model(n, o, d);
                return d;
            case ResourceType::saved_query:
                compare_saved_query(n, o, d);
                return d;
            case ResourceType::unit_test:
                if (n.checksum != o.checksum) d.other.push_back("unit test changed (model, given, expect or overrides)");
                return d;
            default: break;
        }
        compare_config(n, o, d.configs);
        compare_fqn(n, o, d.fqn);
        compare_body(n, o, d.body);
        compare_node_relation(n, o, d.relation);
        compare_persisted(n, o, d.persisted);
        if (n.type == ResourceType::model) {
            compare_contract(n, o, d.contract);
            compare_ref_representation(n, o, d.other);
        }
        return d;
    }

    // Modified macros reachable from the node's macro calls, as reasons ("macro x changed").
    std::vector<std::string> macro_reasons(const Node& n) const {
        std::vector<std::string> reasons;
        if (modified_macros_.empty()) return reasons;
        for (std::string_view macro_id : n.depends_on_macros) {
            std::string reason;
            if (modified_macros_.count(macro_id)) {
                reason = "macro " + macro_name(macro_id) + " changed";
            } else if (auto idx = branch_macro(macro_id)) {
                if (auto reached = reach(*idx))
                    reason = "macro " + macro_name(*reached) + " changed (called by " + macro_name(macro_id) + ")";
            }
            if (!reason.empty() && std::find(reasons.begin(), reasons.end(), reason) == reasons.end())
                reasons.push_back(std::move(reason));
        }
        return reasons;
    }

    std::vector<std::string> warnings;

private:
    static std::string join(const std::vector<std::string_view>& parts) {
        std::string out;
        for (auto part : parts) {
            if (!out.empty()) out += '.';
            out += part;
        }
        return out;
    }

    static void compare_fqn(const Node& n, const Node& o, std::vector<std::string>& reasons) {
        if (n.fqn != o.fqn) reasons.push_back("fqn changed: " + join(o.fqn) + " -> " + join(n.fqn));
    }

    void compare_config(const Node& n, const Node& o, std::vector<std::string>& reasons) const {
        // Both maps are sorted by key: walk them together.
        auto counts = [&](std::string_view key) {
            if (options_.ignore_config_keys.count(key)) return false;
            if (n.type == ResourceType::test) return is_test_modifier(key);
            if (is_manifest_node(n)) return !excluded_from_node_config(key);
            if (n.type == ResourceType::metric) return key != "group";  // MetricConfig excludes group
            return true;  // SourceConfig, ExposureConfig: every key
        };
        const auto& a = o.unrendered_config;
        const auto& b = n.unrendered_config;
        std::size_t i = 0, j = 0;
        while (i < a.size() || j < b.size()) {
            if (j == b.size() || (i < a.size() && a[i].key < b[j].key)) {
                if (counts(a[i].key))
                    reasons.push_back("config " + std::string(a[i].key) + ": " + display_value(a[i].value) +
                                      " -> (unset)");
                ++i;
            } else if (i == a.size() || b[j].key < a[i].key) {
                if (counts(b[j].key))
                    reasons.push_back("config " + std::string(b[j].key) + ": (unset) -> " + display_value(b[j].value));
                ++j;
            } else {
                if (a[i].value != b[j].value && counts(a[i].key))
                    reasons.push_back("config " + std::string(a[i].key) + ": " + display_value(a[i].value) + " -> " +
                                      display_value(b[j].value));
                ++i;
                ++j;
            }
        }
    }

    static void compare_body(const Node& n, const Node& o, std::vector<std::string>& reasons) {
        if (n.type == ResourceType::seed) {
            if (n.checksum_name == o.checksum_name && n.checksum == o.checksum) return;
            if (n.checksum_name == "path" && o.checksum_name != "path")
                reasons.push_back("seed grew over dbt's size limit: compared by path only");
            else if (n.checksum_name == "path")
                reasons.push_back("seed over dbt's size limit: path changed");
            else
                reasons.push_back("seed contents changed");
            return;
        }
        if (n.raw_code != o.raw_code) reasons.push_back("body changed");
    }

    // ParsedNode.same_database_representation: the configured (unrendered) values, so that target-dependent
    // rendering (generate_schema_name, the target's schema) is not a change. Absent and null are the same here.
    static void compare_node_relation(const Node& n, const Node& o, std::vector<std::string>& reasons) {
        for (std::string_view key : {"database", "schema", "alias"}) {
            const std::string_view* mine = n.unrendered(key);
            const std::string_view* theirs = o.unrendered(key);
            auto is_null = [](const std::string_view* v) { return !v || *v == "null"; };
            if (is_null(mine) && is_null(theirs)) continue;
            if (mine && theirs && *mine == *theirs) continue;
            reasons.push_back("relation " + std::string(key) + ": " + shown(theirs) + " -> " + shown(mine));
        }
    }

    static void compare_persisted(const Node& n, const Node& o, std::vector<std::string>& reasons) {
        if (n.type == ResourceType::test) return;  // TestConfig has no persist_docs
        if (n.persist_relation_docs && n.description != o.description)
            reasons.push_back("description changed (persisted to the database)");
        if (n.persist_column_docs) {
            bool same = n.columns.size() == o.columns.size();
            for (std::size_t i = 0; same && i < n.columns.size(); ++i) {
                const Column& c = n.columns[i];
                auto it = std::find_if(o.columns.begin(), o.columns.end(),
                                       [&](const Column& x) { return x.name == c.name; });
                same = it != o.columns.end() && it->description == c.description;
            }
            if (!same) reasons.push_back("column descriptions changed (persisted to the database)");
        }
    }

    // ModelNode.same_contract, with the breaking changes dbt warns about (or fails on, for versioned models).
    void compare_contract(const Node& n, const Node& o, std::vector<std::string>& reasons) const {
        if (!o.contract_enforced && !n.contract_enforced) return;
        if (!o.contract_enforced && n.contract_enforced) {
            reasons.push_back("contract now enforced");
            return;
        }
        if (n.contract_enforced && n.contract_checksum == o.contract_checksum) return;

        std::vector<std::string> breaking;
        if (o.contract_enforced && !n.contract_enforced) breaking.push_back("contract no longer enforced");
        for (const Column& old_column : o.columns) {
            auto it = std::find_if(n.columns.begin(), n.columns.end(),
                                   [&](const Column& c) { return c.name == old_column.name; });
            if (it == n.columns.end())
                breaking.push_back("column " + std::string(old_column.name) + " removed");
            else if (it->data_type != old_column.data_type)
                breaking.push_back("column " + std::string(old_column.name) + " data_type " +
                                   std::string(old_column.data_type) + " -> " + std::string(it->data_type));
        }
        if (breaking.empty()) {
            reasons.push_back("contract changed");
            return;
        }
        std::string detail;
        for (const auto& b : breaking) detail += (detail.empty() ? "" : ", ") + b;
        reasons.push_back("contract changed: " + detail);
        const std::string_view* version = n.extra("version");
        const bool versioned = version && *version != "null";
        std::string warning = "breaking contract change in " + std::string(n.unique_id) + " (" + detail + ")";
        warning += versioned ? ": dbt refuses this for a versioned model (ContractBreakingChangeError)"
                             : ": dbt warns about this for an unversioned model";
        const_cast<Comparer*>(this)->warnings.push_back(std::move(warning));
    }

    // ModelNode.same_ref_representation: changes that may break refs downstream.
    static void compare_ref_representation(const Node& n, const Node& o, std::vector<std::string>& reasons) {
        for (std::string_view key : {"latest_version", "access", "deprecation_date"}) {
            const std::string_view* mine = n.extra(key);
            const std::string_view* theirs = o.extra(key);
            // Older manifests lack these fields: dbt's defaults apply.
            const std::string_view fallback = key == "access" ? "\"protected\"" : "null";
            std::string_view a = mine ? *mine : fallback;
            std::string_view b = theirs ? *theirs : fallback;
            if (a != b)
                reasons.push_back(std::string(key) + ": " + display_value(b) + " -> " + display_value(a));
        }
    }

    static void compare_extras(const Node& n, const Node& o, std::initializer_list<std::string_view> keys,
                               std::vector<std::string>& reasons, std::string_view what) {
        for (std::string_view key : keys) {
            const std::string_view* mine = n.extra(key);
            const std::string_view* theirs = o.extra(key);
            const std::string_view a = mine ? *mine : "null";
            const std::string_view b = theirs ? *theirs : "null";
            if (a != b) reasons.push_back(std::string(what) + " " + std::string(key) + " changed");
        }
    }

    // SourceDefinition.same_contents: relation, fqn, config, quoting, freshness, external.
    void compare_source(const Node& n, const Node& o, Differences& d) const {
        if (n.database != o.database)
            d.relation.push_back("relation database: " + std::string(o.database) + " -> " + std::string(n.database));
        const auto alias = options_.source_schema_aliases.find(n.schema);
        const bool aliased = alias != options_.source_schema_aliases.end() && alias->second == o.schema;
        if (n.schema != o.schema && !aliased)
            d.relation.push_back("relation schema: " + std::string(o.schema) + " -> " + std::string(n.schema));
        compare_extras(n, o, {"identifier"}, d.relation, "source");
        compare_extras(n, o, {"quoting", "freshness", "loaded_at_field", "external"}, d.other, "source");
    }

    // Exposure.same_contents.
    static void compare_exposure(const Node& n, const Node& o, Differences& d) {
        compare_extras(n, o, {"type", "owner", "maturity", "url", "label"}, d.other, "exposure");
        if (n.description != o.description) d.other.push_back("exposure description changed");
        std::set<std::string_view> a(n.depends_on_nodes.begin(), n.depends_on_nodes.end());
        std::set<std::string_view> b(o.depends_on_nodes.begin(), o.depends_on_nodes.end());
        if (a != b) d.other.push_back("exposure depends_on changed");
    }

    // Metric.same_contents: type, description, label, config (dbt leaves filter, metadata and type_params out).
    static void compare_metric(const Node& n, const Node& o, Differences& d) {
        compare_extras(n, o, {"type", "label"}, d.other, "metric");
        if (n.description != o.description) d.other.push_back("metric description changed");
    }

    // SemanticModel.same_contents; same_config compares the rendered config.
    static void compare_semantic_model(const Node& n, const Node& o, Differences& d) {
        compare_extras(n, o, {"config"}, d.configs, "semantic model");
        compare_extras(n, o, {"model", "defaults", "entities", "dimensions", "measures", "primary_entity", "group"},
                       d.other, "semantic model");
        if (n.description != o.description) d.other.push_back("semantic model description changed");
    }

    // SavedQuery.same_contents: query_params' metrics, group_by and where, description, label, the rendered config,
    // group, and per export its name and unrendered export_as, schema and alias.
    static void compare_saved_query(const Node& n, const Node& o, Differences& d) {
        compare_extras(n, o, {"config"}, d.configs, "saved query");
        compare_extras(n, o, {"label", "group"}, d.other, "saved query");
        if (n.description != o.description) d.other.push_back("saved query description changed");
        const boost::json::value mine = parsed_extra(n, "query_params"), theirs = parsed_extra(o, "query_params");
        for (std::string_view key : {"metrics", "group_by", "where"})
            if (member(mine, key) != member(theirs, key))
                d.other.push_back("saved query " + std::string(key) + " changed");
        if (!same_exports(parsed_extra(n, "exports"), parsed_extra(o, "exports")))
            d.other.push_back("saved query exports changed");
    }

    static boost::json::value parsed_extra(const Node& n, std::string_view key) {
        const std::string_view* text = n.extra(key);
        return text ? boost::json::parse(*text) : boost::json::value();
    }

    static boost::json::value member(const boost::json::value& v, std::string_view key) {
        const auto* object = v.if_object();
        const auto* found = object ? object->if_contains(key) : nullptr;
        return found ? *found : boost::json::value();
    }

    static bool same_exports(const boost::json::value& mine, const boost::json::value& theirs) {
        const auto* a = mine.if_array();
        const auto* b = theirs.if_array();
        const std::size_t size = a ? a->size() : 0;
        if (size != (b ? b->size() : 0)) return false;
        for (std::size_t i = 0; i < size; ++i) {
            if (member((*a)[i], "name") != member((*b)[i], "name")) return false;
            const auto config_a = member((*a)[i], "unrendered_config"), config_b = member((*b)[i], "unrendered_config");
            for (std::string_view key : {"export_as", "schema", "alias"})
                if (member(config_a, key) != member(config_b, key)) return false;
        }
        return true;
    }

    // StateSelectorMethod._macros_modified: new, changed and removed macros.
    void find_modified_macros() {
        for (const Macro& mac : branch_.macros) {
            const Macro* old = production_.find_macro(mac.unique_id);
            if (!old || old->macro_sql != mac.macro_sql) modified_macros_.insert(mac.unique_id);
        }
        for (const Macro& old : production_.macros)
            if (!branch_.find_macro(old.unique_id)) modified_macros_.insert(old.unique_id);
        reach_.assign(branch_.macros.size(), Reach{});
    }

    std::optional<std::uint32_t> branch_macro(std::string_view macro_id) const {
        return branch_.macro_index.find(macro_id);
    }

    // The first modified macro reachable through macro-to-macro calls from a macro that itself did not change.
    std::optional<std::string_view> reach(std::uint32_t idx) const {
        Reach& r = reach_[idx];
        if (r.state == Reach::done) return r.found;
        if (r.state == Reach::visiting) return std::nullopt;  // a call cycle: nothing new on this path
        r.state = Reach::visiting;
        for (std::string_view dep : branch_.macros[idx].depends_on_macros) {
            if (modified_macros_.count(dep)) {
                r.found = dep;
                break;
            }
            if (auto next = branch_macro(dep))
                if (auto found = reach(*next)) {
                    r.found = found;
                    break;
                }
        }
        r.state = Reach::done;
        return r.found;
    }

    std::string macro_name(std::string_view macro_id) const {
        if (const Macro* mac = branch_.find_macro(macro_id); mac && !mac->name.empty()) return std::string(mac->name);
        return last_part(macro_id);
    }

    struct Reach {
        enum State : std::uint8_t { unvisited, visiting, done } state = unvisited;
        std::optional<std::string_view> found;
    };

    const Manifest& branch_;
    const Manifest& production_;
    const PlanOptions& options_;
    std::unordered_set<std::string_view> modified_macros_;
    mutable std::vector<Reach> reach_;
};

// Reasons the node is selected by the state method itself (empty: not selected).
std::vector<std::string> state_reasons(const Comparer& comparer, const Node& n, const Node* old, StateMethod method) {
    std::vector<std::string> reasons;
    auto append = [&](const std::vector<std::string>& more) { reasons.insert(reasons.end(), more.begin(), more.end()); };
    const bool manifest_node = is_manifest_node(n);
    const bool has_depends_on = n.type != ResourceType::source;  // dbt checks macros of whatever has depends_on

    if (method == StateMethod::is_new) {
        if (!old) reasons.push_back("new");
        return reasons;
    }
    if (method == StateMethod::macros) {
        if (has_depends_on) append(comparer.macro_reasons(n));
        return reasons;
    }
    if (method == StateMethod::modified) {
        if (!old) {
            // dbt's same_contents(None) is True for sources, exposures and the semantic layer: new ones are
            // state:new only.
            if (!new_is_unmodified(n)) reasons.push_back("new");
        } else {
            Differences d = comparer.compare(n, *old);
            if (d.any_for_contents(n)) {
                if (!n.is_generic_test()) {
                    append(d.body);
                    append(d.relation);
                    append(d.persisted);
                    append(d.contract);
                    append(d.other);
                }
                append(d.configs);
                append(d.fqn);
            }
        }
        if (has_depends_on) append(comparer.macro_reasons(n));
        return reasons;
    }

    // The sub-selectors: nodes without the compared property are never selected (dbt's hasattr check);
    // nodes without a production version always are.
    const bool has_method = [&] {
        switch (method) {
            case StateMethod::body:
            case StateMethod::persisted_descriptions:
            case StateMethod::contract: return manifest_node;
            case StateMethod::relation: return manifest_node || n.type == ResourceType::source;
            case StateMethod::configs: return n.type != ResourceType::unit_test;  // no same_config
            default: return false;
        }
    }();
    if (!has_method) return reasons;
    if (!old) {
        reasons.push_back("new");
        return reasons;
    }
    Differences d = comparer.compare(n, *old);
    switch (method) {
        case StateMethod::body: append(d.body); break;
        case StateMethod::configs: append(d.configs); break;
        case StateMethod::relation: append(d.relation); break;
        case StateMethod::persisted_descriptions: append(d.persisted); break;
        case StateMethod::contract: append(d.contract); break;
        default: break;
    }
    return reasons;
}

void finish_counts(Plan& plan) {
    plan.counts.clear();
    for (const char* type : {"model", "test", "seed", "snapshot"}) plan.counts[type];
    for (const auto& node : plan.selected) ++plan.counts[node.resource_type];
}

PlannedNode planned(const Node& n, std::vector<std::string> reasons) {
    return PlannedNode{std::string(n.unique_id), std::string(to_string(n.type)), std::string(n.name),
                       std::move(reasons)};
}

std::string missing_fields(const Manifest& has, const Manifest& lacks) {
    std::string names;
    for (const auto& field : has.fields)
        if (!std::binary_search(lacks.fields.begin(), lacks.fields.end(), field))
            names += (names.empty() ? "" : ", ") + field;
    return names;
}

// Manifests of two dbt versions: compared where both have the field; the others are named.
std::string version_warning(const Manifest& branch, const Manifest& production) {
    std::string warning = "production manifest is dbt " + production.dbt_version + " (schema v" +
                          std::to_string(production.schema_version) + "), the branch's is dbt " + branch.dbt_version +
                          " (schema v" + std::to_string(branch.schema_version) + "): compared where the fields allow";
    if (const auto only_branch = missing_fields(branch, production); !only_branch.empty())
        warning += "; production's manifest has no " + only_branch + " (compared as dbt's defaults, or as new nodes)";
    if (const auto only_production = missing_fields(production, branch); !only_production.empty())
        warning += "; the branch's manifest has no " + only_production + " (compared as dbt's defaults)";
    return warning;
}

}  // namespace

void add_to_plan(Plan& plan, const Manifest& branch, const std::vector<std::string>& ids, const std::string& reason) {
    for (const auto& id : ids) {
        const Node* n = branch.find(id);
        if (!n || !is_listed(*n)) continue;
        auto at = std::lower_bound(plan.selected.begin(), plan.selected.end(), id,
                                   [](const PlannedNode& p, const std::string& wanted) { return p.unique_id < wanted; });
        if (at != plan.selected.end() && at->unique_id == id) {
            if (std::find(at->reasons.begin(), at->reasons.end(), reason) == at->reasons.end())
                at->reasons.push_back(reason);
            continue;
        }
        plan.selected.insert(at, planned(*n, {reason}));
        if (n->type == ResourceType::model || n->type == ResourceType::seed || n->type == ResourceType::snapshot)
            plan.deferred -= plan.deferred > 0 ? 1 : 0;
    }
    finish_counts(plan);
}

void remove_from_plan(Plan& plan, const std::vector<std::string>& ids) {
    const std::set<std::string> gone(ids.begin(), ids.end());
    std::erase_if(plan.selected, [&](const PlannedNode& p) { return gone.contains(p.unique_id); });
    finish_counts(plan);
}

Plan plan_full_build(const Manifest& branch, const std::string& selector, const std::string& reason) {
    Plan plan;
    plan.selector = selector;
    plan.full_build = true;
    plan.full_build_reason = reason;
    for (const Node& n : branch.nodes)
        if (is_buildable(n)) plan.selected.push_back(planned(n, {"full build"}));
    std::sort(plan.selected.begin(), plan.selected.end(),
              [](const PlannedNode& a, const PlannedNode& b) { return a.unique_id < b.unique_id; });
    finish_counts(plan);
    return plan;
}

Plan plan_changes(const Manifest& branch, const Manifest& production, const Selector& selector,
                  const std::string& state_source, const PlanOptions& options) {
    auto comparable = [](int version) { return version >= min_schema_version && version <= max_schema_version; };
    if (!comparable(production.schema_version)) {
        Plan plan = plan_full_build(
            branch, selector.text,
            "the production manifest has dbt schema '" + production.schema_version_url +
                "', which ece cannot compare (it reads v" + std::to_string(min_schema_version) + " to v" +
                std::to_string(max_schema_version) + ")");
        plan.state_source = state_source;
        return plan;
    }

    Plan plan;
    plan.selector = selector.text;
    plan.state_source = state_source;
    if (production.schema_version != branch.schema_version || production.dbt_version != branch.dbt_version)
        plan.warnings.push_back(version_warning(branch, production));
    if (!comparable(branch.schema_version))
        plan.warnings.push_back("the branch manifest has dbt schema '" + branch.schema_version_url +
                                "', newer or older than ece knows: compared where the fields allow");
    if (!production.project_name.empty() && production.project_name != branch.project_name)
        plan.warnings.push_back("production manifest is of project '" + production.project_name +
                                "', the branch's of '" + branch.project_name + "'");

    Comparer comparer(branch, production, options);
    const std::size_t count = branch.nodes.size();
    std::vector<std::vector<std::string>> reasons(count);
    std::vector<bool> selected(count, false);
    std::vector<std::uint32_t> order;  // selection order, for deterministic "child of" reasons

    for (std::uint32_t i = 0; i < count; ++i) {
        const Node& n = branch.nodes[i];
        if (n.type == ResourceType::operation) continue;
        auto r = state_reasons(comparer, n, production.find(n.unique_id), selector.method);
        if (r.empty()) continue;
        reasons[i] = std::move(r);
        selected[i] = true;
        order.push_back(i);
    }

    // Children by depends_on.nodes, over the branch graph.
    std::vector<std::vector<std::uint32_t>> children(count);
    for (std::uint32_t i = 0; i < count; ++i)
        for (std::string_view parent : branch.nodes[i].depends_on_nodes)
            if (auto position = branch.node_index.find(parent)) children[*position].push_back(i);

    auto by_id = [&](std::uint32_t a, std::uint32_t b) { return branch.nodes[a].unique_id < branch.nodes[b].unique_id; };
    std::sort(order.begin(), order.end(), by_id);

    if (selector.descendants) {
        std::deque<std::uint32_t> queue(order.begin(), order.end());
        while (!queue.empty()) {
            std::uint32_t parent = queue.front();
            queue.pop_front();
            for (std::uint32_t child : children[parent]) {
                if (selected[child]) continue;
                selected[child] = true;
                reasons[child].push_back("child of " + std::string(branch.nodes[parent].name));
                order.push_back(child);
                queue.push_back(child);
            }
        }
    }

    // dbt's eager indirect selection: a test is selected when any of its parents is.
    const std::size_t selected_before_tests = order.size();
    for (std::size_t k = 0; k < selected_before_tests; ++k) {
        std::uint32_t parent = order[k];
        for (std::uint32_t child : children[parent]) {
            const Node& c = branch.nodes[child];
            if (selected[child] || (c.type != ResourceType::test && c.type != ResourceType::unit_test)) continue;
            selected[child] = true;
            reasons[child].push_back("test of " + std::string(branch.nodes[parent].name));
            order.push_back(child);
        }
    }

    for (std::uint32_t i = 0; i < count; ++i) {
        const Node& n = branch.nodes[i];
        if (selected[i] && is_listed(n)) plan.selected.push_back(planned(n, std::move(reasons[i])));
        else if (!selected[i] && (n.type == ResourceType::model || n.type == ResourceType::seed ||
                                  n.type == ResourceType::snapshot))
            ++plan.deferred;
    }
    std::sort(plan.selected.begin(), plan.selected.end(),
              [](const PlannedNode& a, const PlannedNode& b) { return a.unique_id < b.unique_id; });

    for (const Node& old : production.nodes)
        if (old.type != ResourceType::operation && !branch.find(old.unique_id))
            plan.removed.push_back(std::string(old.unique_id));
    std::sort(plan.removed.begin(), plan.removed.end());

    plan.warnings.insert(plan.warnings.end(), comparer.warnings.begin(), comparer.warnings.end());
    finish_counts(plan);
    return plan;
}

}  // namespace ece::dbt
