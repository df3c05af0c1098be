#pragma once
// The schemas a build writes to, created by ece before dbt runs. An environment's role has no CREATE on the
// database (it could squat another environment's schema, a production custom schema or an archive name), so ece
// creates each schema the planned nodes need, owned by the role, and refuses a node that would write anywhere
// else: a snapshot's fixed target_schema, a generate_schema_name that returns a fixed schema.
#include "dbt/manifest.hpp"

#include <pqxx/pqxx>

#include <set>
#include <string>
#include <vector>

namespace ece::dbt {

// The schemas the nodes (unique ids of branch; models, seeds and snapshots) write to: each must be manifest_schema
// (the target schema branch was parsed with: base_schema, or the fork build's) or "<manifest_schema>_<custom>", and
// becomes base_schema or "<base_schema>_<custom>". Throws ece::Error (input) naming the first node that writes elsewhere and its schema.
std::set<std::string> environment_schemas(const Manifest& branch, const std::vector<std::string>& node_ids,
                                          const std::string& base_schema, const std::string& manifest_schema);

// Creates each missing schema owned by role (as the admin connection conn). Throws ece::Error (conflict) naming a
// schema that exists and belongs to another role: ece did not create it for this environment.
void ensure_environment_schemas(pqxx::connection_base& conn, const std::set<std::string>& schemas,
                                const std::string& role);

}  // namespace ece::dbt
