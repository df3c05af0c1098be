#pragma once
// JSON forms: the low-level input file of `ece-publish --relations FILE`, results and records for --format json
// and the relations column of ece.publishes.
//
// Input file: either a list of relations
//   [{"environment_schema": "ece_pr_12", "name": "orders", "kind": "table", "production_schema": "analytics",
//     "unique_id": "model.shop.orders", "checksum": "9f2c..."}, ...]
// or an object {"environment": "pr-12", "pr": 12, "sha": "...", "production_role": "...", "relations": [...],
// "staged_views": [...], "main_checksums": {"model.shop.orders": "9f2c..."}, "production_checksums": {...},
// "rebindable_views": [{"schema": "analytics", "name": "v"}], "tolerated_dependent_schemas": ["ece_pr_13"]}.
#include "publish/types.hpp"

#include <boost/json.hpp>

#include <filesystem>
#include <string>

namespace ece::publish {

boost::json::value to_json(const RelationMove& move);
RelationMove relation_move_from_json(const boost::json::value& value);
boost::json::value to_json(const QualifiedName& name);
boost::json::value to_json(const StaleReport& report);
boost::json::value to_json(const Result& result);
boost::json::value to_json(const PublishRecord& record);

// Throws ece::Error (input) with the JSON path of a missing or mistyped field; `file` names it in errors.
PublishInput input_from_json(const boost::json::value& value, const std::string& file = "");

// "pr-<n>" for a pull request, else the branch name (what ece-env names environments).
std::string environment_name(const PublishTarget& target);

// The low-level source: a JSON file as above. Fields the file leaves out come from the target (environment name,
// pr, sha) and from production_role.
class JsonFileSource : public PublishSource {
public:
    JsonFileSource(std::filesystem::path file, std::string production_role);
    PublishInput load(const PublishTarget& target) override;

private:
    std::filesystem::path file_;
    std::string production_role_;
};

}  // namespace ece::publish
