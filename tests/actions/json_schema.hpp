#pragma once
// A small JSON Schema (draft-07) checker for the keywords GitHub's webhook schemas in ../shared use: type, enum,
// required, properties, additionalProperties: false, items, allOf, oneOf, anyOf, $ref to a file beside the schema.
// A $ref whose file is not among the fixtures is accepted unchecked and recorded in unresolved_refs.
#include <boost/json.hpp>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace ece::test {

struct SchemaReport {
    std::vector<std::string> violations;      // "$.pull_request.merged: expected boolean"
    std::set<std::string> unresolved_refs;    // refs not in the fixtures
};

SchemaReport validate_json(const boost::json::value& document, const std::filesystem::path& schema_file);

}  // namespace ece::test
