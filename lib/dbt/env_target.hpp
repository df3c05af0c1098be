#pragma once
// The bridge from an environment (lib/env) to what `dbt build` needs: the one place that turns an environment's
// freshly issued credentials into a BuildTarget, for ece-dbt and the ece entry point alike.
#include <optional>
#include <string>

#include "dbt/build.hpp"
#include "env/environments.hpp"

namespace ece::dbt {

// Issues new credentials for the environment (rotating its password; nothing is written to disk) and fills a
// BuildTarget: the environment's base schema as dbt's target schema, production's first schema for deferral.
// Throws ece::Error (conflict) when the environment is not up.
BuildTarget build_target_for(env::Environments& environments, const env::Identity& id, const std::string& sha);

}  // namespace ece::dbt
