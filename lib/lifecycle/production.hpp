#pragma once
// Production as ece's demo and tests need it: on a server ece runs itself (the embedded one, a test cluster) there
// is no production pipeline, so ece makes one: the production role gets a login with a fresh password (never
// written anywhere), the declared tables are staged into production's raw schema, dbt builds the project as that
// role into production's schema, and the manifest is stored as production state. On a real server production is
// built by the project's own pipeline; nothing here is used there.
#include "dbt/build.hpp"
#include "env/environments.hpp"
#include "lifecycle/lifecycle.hpp"
#include "stage/stage.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ece::lifecycle {

struct ProductionBuild {
    std::vector<stage::StagedTable> staged;
    dbt::BuildReport build;
    std::int64_t manifest_id = 0;  // ece.state_manifests row
};

// Throws ece::Error when a step fails (dbt's failure as external, with its message).
ProductionBuild build_production(env::Environments& environments, const Options& options, const std::string& sha,
                                 Log& log);

}  // namespace ece::lifecycle
