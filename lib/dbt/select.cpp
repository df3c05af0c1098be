#include "dbt/select.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>

#include "core/error.hpp"

namespace ece::dbt {
namespace {

using NodeSet = std::vector<bool>;  // by index into Manifest::nodes

// One criterion of a selector string, as dbt's RAW_SELECTOR_PATTERN splits it: [@][n+][method[.args]:]value[+n].
struct Criterion {
    std::string raw;
    std::string method;  // empty: dbt's default method for the value
    std::vector<std::string> arguments;
    std::string value;
    bool childrens_parents = false;
    bool parents = false;
    std::optional<int> parents_depth;
    bool children = false;
    std::optional<int> children_depth;
};

Error usage_error(std::string_view selector, const std::string& why) {
    return Error(ErrorKind::usage, "selector '" + std::string(selector) + "': " + why);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

std::optional<int> depth_of(std::string_view digits, std::string_view selector) {
    if (digits.empty()) return std::nullopt;
    if (digits.size() > 6) throw usage_error(selector, "graph depth " + std::string(digits) + " is too large");
    return std::stoi(std::string(digits));
}

std::vector<std::string> split(std::string_view text, char separator) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
        const auto end = text.find(separator, start);
        parts.emplace_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) return parts;
        start = end + 1;
    }
}

Criterion parse_criterion(std::string_view raw, std::string_view selector) {
    Criterion c;
    c.raw = std::string(raw);
    std::string_view rest = raw;
    if (!rest.empty() && rest.front() == '@') {
        c.childrens_parents = true;
        rest.remove_prefix(1);
    }
    std::size_t digits = 0;
    while (digits < rest.size() && is_digit(rest[digits])) ++digits;
    if (digits < rest.size() && rest[digits] == '+') {
        c.parents = true;
        c.parents_depth = depth_of(rest.substr(0, digits), selector);
        rest.remove_prefix(digits + 1);
    }
    std::size_t tail = rest.size();
    while (tail > 0 && is_digit(rest[tail - 1])) --tail;
    if (tail > 0 && rest[tail - 1] == '+') {
        c.children = true;
        c.children_depth = depth_of(rest.substr(tail), selector);
        rest = rest.substr(0, tail - 1);
    }
    if (const auto colon = rest.find(':'); colon != std::string_view::npos && colon > 0 &&
                                           std::all_of(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(colon),
                                                       [](char ch) { return is_word(ch) || ch == '.'; })) {
        auto parts = split(rest.substr(0, colon), '.');
        c.method = parts.front();
        c.arguments.assign(parts.begin() + 1, parts.end());
        rest.remove_prefix(colon + 1);
    }
    c.value = std::string(rest);
    if (c.childrens_parents && c.children)
        throw usage_error(selector, "invalid node spec " + c.raw + ": the \"@\" prefix and \"+\" suffix are incompatible");
    if (c.value.empty()) throw usage_error(selector, "invalid node spec " + c.raw + ": no search value");
    return c;
}

// Python's fnmatch on POSIX: case-sensitive, "*" crosses "/" and ".", no backslash escapes.
bool glob_match(std::string_view text, const std::string& pattern, int flags = 0) {
    return ::fnmatch(pattern.c_str(), std::string(text).c_str(), flags | FNM_NOESCAPE) == 0;
}

bool has_wildcard(std::string_view part) { return part.find_first_of("*?[]") != std::string_view::npos; }

bool is_versioned(const Node& node) {
    const std::string_view* version = node.extra("version");
    return node.type == ResourceType::model && version && *version != "null";
}

// dbt's is_selected_node: the leaf of the fqn (for versioned models the last two parts), else the selector's
// dot-separated parts as a prefix of the flattened fqn, globbing from the first part with a wildcard.
bool fqn_matches(const Node& node, const std::string& selector) {
    const auto& fqn = node.fqn;
    if (fqn.empty()) return false;
    const auto selector_parts = split(selector, '.');
    if (is_versioned(node) && fqn.size() >= 2) {
        if (fqn[fqn.size() - 2] == selector) return true;
        const std::string leaf = std::string(fqn[fqn.size() - 2]) + "_" + std::string(fqn.back());
        std::string wanted = selector_parts.back();
        if (selector_parts.size() >= 2) wanted = selector_parts[selector_parts.size() - 2] + "_" + wanted;
        if (leaf == wanted) return true;
    } else if (fqn.back() == selector) {
        return true;
    }
    std::vector<std::string> flat;
    for (auto segment : fqn)
        for (auto& part : split(segment, '.')) flat.push_back(std::move(part));
    if (flat.size() < selector_parts.size()) return false;
    for (std::size_t i = 0; i < selector_parts.size(); ++i) {
        if (has_wildcard(selector_parts[i])) {
            std::string rest_of_fqn, rest_of_selector;
            for (std::size_t j = i; j < flat.size(); ++j) rest_of_fqn += (j > i ? "." : "") + flat[j];
            for (std::size_t j = i; j < selector_parts.size(); ++j)
                rest_of_selector += (j > i ? "." : "") + selector_parts[j];
            return glob_match(rest_of_fqn, rest_of_selector);
        }
        if (flat[i] != selector_parts[i]) return false;
    }
    return true;
}

std::string_view trimmed_path(std::string_view path) {
    while (path.size() >= 2 && path.substr(0, 2) == "./") path.remove_prefix(2);
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    return path;
}

// dbt's path method: the node's file, a directory above it, or the YAML file that describes it (patch_path).
bool path_matches(const Node& node, const std::string& selector) {
    const std::string pattern(trimmed_path(selector));
    auto matches = [&](std::string_view path) {
        return !path.empty() && (path == pattern || glob_match(path, pattern, FNM_PATHNAME));
    };
    std::string_view file = node.original_file_path;
    if (matches(file)) return true;
    for (auto slash = file.rfind('/'); slash != std::string_view::npos && slash > 0; slash = file.rfind('/', slash - 1)) {
        if (matches(file.substr(0, slash))) return true;
    }
    if (const auto scheme = node.patch_path.find("://"); scheme != std::string_view::npos)
        return matches(node.patch_path.substr(scheme + 3));
    return false;
}

// dbt's file method: the file name, or its stem.
bool file_matches(const Node& node, const std::string& selector) {
    std::string_view name = node.original_file_path;
    if (const auto slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
    if (glob_match(name, selector)) return true;
    const auto dot = name.rfind('.');
    return dot != std::string_view::npos && dot > 0 && glob_match(name.substr(0, dot), selector);
}

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string default_method(const std::string& value) {
    if (value.find('/') != std::string::npos) return "path";
    std::string lower = value;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (ends_with(lower, ".sql") || ends_with(lower, ".py") || ends_with(lower, ".csv")) return "file";
    return "fqn";
}

constexpr std::string_view resource_types[] = {"model",  "analysis",  "test",      "snapshot", "operation",
                                               "seed",   "rpc",       "sql_operation", "doc",  "source",
                                               "macro",  "exposure",  "metric",    "group",    "saved_query",
                                               "semantic_model", "unit_test", "fixture"};

using Predicate = std::function<bool(const Node&)>;

// The nodes the criterion's method selects, before graph operators. sources: whether the method looks at sources
// (dbt's all_nodes) or not (non_source_nodes).
NodeSet search(const Manifest& manifest, const Criterion& c, std::string_view selector) {
    const std::string method = c.method.empty() ? default_method(c.value) : c.method;
    const std::string& value = c.value;
    bool sources = true;
    Predicate matches;
    if (method == "fqn") {
        sources = false;
        // ece's addition: a bare unique id selects that node.
        matches = [&](const Node& n) { return fqn_matches(n, value) || (c.method.empty() && n.unique_id == value); };
    } else if (method == "tag") {
        matches = [&](const Node& n) {
            return std::any_of(n.tags.begin(), n.tags.end(), [&](std::string_view tag) { return glob_match(tag, value); });
        };
    } else if (method == "path") {
        matches = [&](const Node& n) { return path_matches(n, value); };
    } else if (method == "file") {
        matches = [&](const Node& n) { return file_matches(n, value); };
    } else if (method == "package") {
        const std::string package = value == "this" ? manifest.project_name : value;
        matches = [package](const Node& n) { return n.package_name == package; };
    } else if (method == "resource_type") {
        if (std::find(std::begin(resource_types), std::end(resource_types), value) == std::end(resource_types))
            throw usage_error(selector, "invalid resource_type selector \"" + value + "\"");
        matches = [&](const Node& n) { return n.resource_type_name == value; };
    } else if (method == "config") {
        if (c.arguments != std::vector<std::string>{"materialized"})
            throw usage_error(selector, "ece resolves config.materialized only, not config." +
                                            (c.arguments.empty() ? std::string() : c.arguments.front()));
        matches = [&](const Node& n) { return !n.materialized.empty() && n.materialized == value; };
    } else {
        static constexpr std::string_view dbt_methods[] = {
            "state", "source", "exposure", "metric", "result", "source_status", "test_name", "test_type", "group",
            "access", "version", "wildcard", "semantic_model", "saved_query", "unit_test"};
        if (std::find(std::begin(dbt_methods), std::end(dbt_methods), method) != std::end(dbt_methods))
            throw usage_error(selector, "ece does not resolve dbt's " + method +
                                            ": method natively (it resolves fqn, tag, path, file, package, "
                                            "resource_type and config.materialized)");
        throw usage_error(selector, "'" + method + "' is not a valid method name");
    }
    NodeSet found(manifest.nodes.size(), false);
    for (std::size_t i = 0; i < manifest.nodes.size(); ++i) {
        const Node& n = manifest.nodes[i];
        if (!sources && n.type == ResourceType::source) continue;
        found[i] = matches(n);
    }
    return found;
}

struct Graph {
    std::vector<std::vector<std::uint32_t>> parents, children;

    explicit Graph(const Manifest& manifest) : parents(manifest.nodes.size()), children(manifest.nodes.size()) {
        for (std::uint32_t i = 0; i < manifest.nodes.size(); ++i) {
            for (std::string_view parent : manifest.nodes[i].depends_on_nodes) {
                const auto position = manifest.node_index.find(parent);
                if (!position) continue;
                parents[i].push_back(*position);
                children[*position].push_back(i);
            }
        }
    }

    // Nodes reachable from `from` along `edges` within depth steps (all when no depth), not counting `from`.
    static NodeSet walk(const std::vector<std::vector<std::uint32_t>>& edges, const NodeSet& from,
                        std::optional<int> depth) {
        NodeSet reached(from.size(), false);
        std::deque<std::pair<std::uint32_t, int>> queue;
        for (std::uint32_t i = 0; i < from.size(); ++i)
            if (from[i]) queue.emplace_back(i, 0);
        while (!queue.empty()) {
            const auto [node, steps] = queue.front();
            queue.pop_front();
            if (depth && steps >= *depth) continue;
            for (std::uint32_t next : edges[node]) {
                if (reached[next]) continue;
                reached[next] = true;
                queue.emplace_back(next, steps + 1);
            }
        }
        return reached;
    }
};

void add_all(NodeSet& to, const NodeSet& more) {
    for (std::size_t i = 0; i < to.size(); ++i) to[i] = to[i] || more[i];
}

// One criterion with its graph operators and dbt's eager indirect selection of tests.
NodeSet select_criterion(const Manifest& manifest, const Graph& graph, const Criterion& c, std::string_view selector) {
    NodeSet selected = search(manifest, c, selector);
    const NodeSet collected = selected;
    if (c.childrens_parents) {
        NodeSet down = Graph::walk(graph.children, collected, std::nullopt);
        add_all(down, collected);
        add_all(selected, down);
        add_all(selected, Graph::walk(graph.parents, down, std::nullopt));
    }
    if (c.parents) add_all(selected, Graph::walk(graph.parents, collected, c.parents_depth));
    if (c.children) add_all(selected, Graph::walk(graph.children, collected, c.children_depth));
    NodeSet with_tests = selected;
    for (std::uint32_t i = 0; i < selected.size(); ++i) {
        if (!selected[i]) continue;
        for (std::uint32_t child : graph.children[i]) {
            const auto type = manifest.nodes[child].type;
            if (type == ResourceType::test || type == ResourceType::unit_test) with_tests[child] = true;
        }
    }
    return with_tests;
}

}  // namespace

std::vector<std::string> select_nodes(const Manifest& manifest, std::string_view selector) {
    const Graph graph(manifest);
    NodeSet chosen(manifest.nodes.size(), false);
    bool any = false;
    for (const auto& group : split(selector, ' ')) {
        if (group.empty()) continue;  // several spaces
        std::optional<NodeSet> intersection;
        for (const auto& part : split(group, ',')) {
            if (part.empty()) throw usage_error(selector, "an empty criterion in '" + group + "'");
            NodeSet one = select_criterion(manifest, graph, parse_criterion(part, selector), selector);
            if (!intersection) {
                intersection = std::move(one);
            } else {
                for (std::size_t i = 0; i < one.size(); ++i) (*intersection)[i] = (*intersection)[i] && one[i];
            }
        }
        add_all(chosen, *intersection);
        any = true;
    }
    if (!any) throw usage_error(selector, "empty selector");
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < chosen.size(); ++i)
        if (chosen[i]) ids.emplace_back(manifest.nodes[i].unique_id);
    std::sort(ids.begin(), ids.end());
    return ids;
}

void add_also_selected(Plan& plan, const Manifest& branch, const std::vector<std::string>& selectors) {
    for (const auto& selector : selectors) {
        const auto ids = select_nodes(branch, selector);
        if (!plan.full_build) add_to_plan(plan, branch, ids, "also selected by --select " + selector);
    }
}

void remove_excluded(Plan& plan, const Manifest& branch, const std::vector<std::string>& selectors) {
    std::vector<std::string> ids;
    for (const auto& selector : selectors) {
        const auto excluded = select_nodes(branch, selector);
        ids.insert(ids.end(), excluded.begin(), excluded.end());
    }
    remove_from_plan(plan, ids);
}

}  // namespace ece::dbt
