#pragma once
// Is the environment still what main would build? Pure comparison of checksums, no database.
#include "publish/types.hpp"

#include <vector>

namespace ece::publish {

// Every built node (with a unique_id) must be in main with the checksum it was built with, and every node whose
// checksum in main differs from production's (or that production lacks) must be among the built ones. Nodes that
// main removed are not this check's business (publish never drops production relations).
StaleReport find_stale(const std::vector<BuiltRelation>& built, const NodeChecksums& main,
                       const NodeChecksums& production);

}  // namespace ece::publish
