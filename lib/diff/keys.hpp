#pragma once
// Which columns identify a model's rows, and which must never be shown, from the branch's dbt manifest and ece.yml.
//
// The key, in order of preference: dbt's primary_key constraint (model-level or on a column), else a column with
// both a `unique` and a `not_null` test, else `meta: {ece: {key: [...]}}` on the model; else none (rows are then
// compared whole, by the hash of all their values). Sensitive: `meta: {sensitive: true}` on a column, or a
// `diff.sensitive_columns` entry of ece.yml ("column" for every model, "model.column" for one).
#include "config/config.hpp"
#include "dbt/manifest.hpp"

#include <set>
#include <string>
#include <vector>

namespace ece::diff {

struct KeyChoice {
    std::vector<std::string> columns;  // empty: no key
    std::string source;                // how it was found, for the comment; "none" when empty
};

// The key of node (a model, seed or snapshot of manifest).
KeyChoice key_of(const dbt::Manifest& manifest, const dbt::Node& node);

// Columns of a model whose values are never shown. name: the model's (or staged table's) name.
std::set<std::string> sensitive_columns(const dbt::Node* node, const std::string& name, const config::Config& config);

}  // namespace ece::diff
