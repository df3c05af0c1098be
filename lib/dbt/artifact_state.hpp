#pragma once
// Production's manifest from a GitHub Actions artifact: the newest artifact of a given name from a successful run
// on the main branch, for teams whose production dbt runs in GitHub Actions and uploads target/manifest.json.
#include <string>

#include "dbt/production_state.hpp"
#include "github/client.hpp"

namespace ece::dbt {

// A fetcher for find_production_state(): downloads the artifact's zip into work_dir and reads manifest.json from
// it. Returns nullopt when no successful run on branch has such an artifact (or it expired).
ArtifactFetcher github_artifact_fetcher(github::ClientConfig config, std::string branch, std::string artifact_name,
                                        std::filesystem::path work_dir);

}  // namespace ece::dbt
