#pragma once
// The data diff as JSON: what `ece-dbt diff --format json` prints and the action's data-diff output file holds.
// Its shape is documented in docs/data-diff.md.
#include "diff/result.hpp"

#include <boost/json.hpp>

#include <string>

namespace ece::diff {

boost::json::object to_json(const ModelDiff& diff);
boost::json::object to_json(const DiffRun& run);
std::string to_json_text(const DiffRun& run);  // one line, ending in a newline

}  // namespace ece::diff
