#include "diff/keys.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <map>

namespace ece::diff {
namespace {

namespace json = boost::json;

// The manifest keeps these values as canonical JSON; anything malformed or absent reads as null.
json::value parsed(std::string_view text) {
    if (text.empty()) return nullptr;
    boost::system::error_code ec;
    auto value = json::parse(text, ec);
    return ec ? json::value(nullptr) : value;
}

std::vector<std::string> strings_of(const json::value* value) {
    std::vector<std::string> out;
    if (!value || !value->is_array()) return out;
    for (const auto& item : value->as_array()) {
        if (!item.is_string()) return {};
        out.emplace_back(item.as_string());
    }
    return out;
}

bool is_primary_key(const json::value& constraint) {
    if (!constraint.is_object()) return false;
    const auto* type = constraint.as_object().if_contains("type");
    return type && type->is_string() && type->as_string() == "primary_key";
}

std::vector<std::string> primary_key_constraint(const dbt::Node& node) {
    if (const auto* text = node.extra("constraints")) {
        auto constraints = parsed(*text);
        if (constraints.is_array()) {
            for (const auto& c : constraints.as_array()) {
                if (is_primary_key(c)) {
                    auto columns = strings_of(c.as_object().if_contains("columns"));
                    if (!columns.empty()) return columns;
                }
            }
        }
    }
    for (const auto& column : node.columns) {
        auto constraints = parsed(column.constraints);
        if (!constraints.is_array()) continue;
        for (const auto& c : constraints.as_array()) {
            if (is_primary_key(c)) return {std::string(column.name)};
        }
    }
    return {};
}

// The first column (by name) that both a unique and a not_null test of the manifest check.
std::vector<std::string> tested_unique_not_null(const dbt::Manifest& manifest, const dbt::Node& node) {
    std::map<std::string, int> tests;  // column -> 1 unique, 2 not_null, 3 both
    for (const auto& test : manifest.nodes) {
        if (!test.is_generic_test() || test.attached_node != node.unique_id || test.column_name.empty()) continue;
        if (test.test_name == "unique") tests[std::string(test.column_name)] |= 1;
        if (test.test_name == "not_null") tests[std::string(test.column_name)] |= 2;
    }
    for (const auto& [column, found] : tests) {
        if (found == 3) return {column};
    }
    return {};
}

std::vector<std::string> meta_key(const dbt::Node& node) {
    auto meta = parsed(node.meta);
    if (!meta.is_object()) return {};
    const auto* ece = meta.as_object().if_contains("ece");
    if (!ece || !ece->is_object()) return {};
    const auto* key = ece->as_object().if_contains("key");
    if (key && key->is_string()) return {std::string(key->as_string())};
    return strings_of(key);
}

bool marked_sensitive(const dbt::Column& column) {
    auto meta = parsed(column.meta);
    if (!meta.is_object()) return false;
    const auto* flag = meta.as_object().if_contains("sensitive");
    return flag && flag->is_bool() && flag->as_bool();
}

}  // namespace

KeyChoice key_of(const dbt::Manifest& manifest, const dbt::Node& node) {
    if (auto key = primary_key_constraint(node); !key.empty()) return {key, "primary_key constraint"};
    if (auto key = tested_unique_not_null(manifest, node); !key.empty()) return {key, "unique + not_null tests"};
    if (auto key = meta_key(node); !key.empty()) return {key, "meta ece.key"};
    return {{}, "none"};
}

std::set<std::string> sensitive_columns(const dbt::Node* node, const std::string& name, const config::Config& config) {
    std::set<std::string> out;
    if (node) {
        for (const auto& column : node->columns) {
            if (marked_sensitive(column)) out.insert(std::string(column.name));
        }
    }
    for (const auto& entry : config.diff.sensitive_columns) {
        auto dot = entry.rfind('.');
        if (dot == std::string::npos) out.insert(entry);
        else if (entry.substr(0, dot) == name) out.insert(entry.substr(dot + 1));
    }
    return out;
}

}  // namespace ece::diff
