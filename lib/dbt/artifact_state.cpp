#include "dbt/artifact_state.hpp"

namespace ece::dbt {

ArtifactFetcher github_artifact_fetcher(github::ClientConfig config, std::string branch, std::string artifact_name,
                                        std::filesystem::path work_dir) {
    return [config = std::move(config), branch = std::move(branch), name = std::move(artifact_name),
            work_dir = std::move(work_dir)]() -> std::optional<FetchedManifest> {
        github::Client client(config);
        auto artifact = client.newest_artifact(branch, name);
        if (!artifact || artifact->expired) return std::nullopt;
        const auto zip = work_dir / ("artifact-" + std::to_string(artifact->id) + ".zip");
        client.download_artifact(*artifact, zip);
        FetchedManifest fetched;
        fetched.json = github::extract_zip_member(zip, "manifest.json");
        std::filesystem::remove(zip);
        fetched.source = "artifact " + name + " #" + std::to_string(artifact->id) + " of run " +
                         std::to_string(artifact->run_id) + " on " + branch;
        return fetched;
    };
}

}  // namespace ece::dbt
