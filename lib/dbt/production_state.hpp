#pragma once
// Where production's manifest comes from, in order: `--state DIR` (dbt's convention), the catalog (what publish
// made production), a GitHub Actions artifact (the newest of a given name from a successful run on the main branch,
// when a token is available), else none: build everything, saying why.
#include <pqxx/pqxx>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace ece::dbt {

// A manifest fetched from elsewhere (the artifacts API): its JSON and a description of where it came from.
struct FetchedManifest {
    std::string json;
    std::string source;  // e.g. "artifact dbt-manifest #123 of run 456 on main (sha abc)"
};
// Returns nullopt when there is no such artifact; throws ece::Error when the fetch fails.
using ArtifactFetcher = std::function<std::optional<FetchedManifest>()>;

struct ProductionStateOptions {
    std::optional<std::filesystem::path> state_dir;  // --state DIR: DIR/manifest.json
    pqxx::connection_base* catalog = nullptr;        // the catalog; none: skipped
    ArtifactFetcher artifact;                        // empty: no token, or not available in this build
    std::string artifact_unavailable_reason;         // said in the full-build reason when artifact is empty
    // Where a manifest from the catalog or an artifact is written, as <work_dir>/manifest.json (a private dir:
    // dbt's --state points here).
    std::filesystem::path work_dir;
};

struct ProductionState {
    std::optional<std::filesystem::path> dir;  // holds manifest.json (dbt's --state); nullopt: none found
    std::string source;                        // where it came from, for the plan's state_source
    std::string missing_reason;                // when none: what was tried
};

ProductionState find_production_state(const ProductionStateOptions& options);

}  // namespace ece::dbt
