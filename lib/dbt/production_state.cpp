#include "dbt/production_state.hpp"

#include <fstream>

#include "core/error.hpp"
#include "dbt/catalog.hpp"

namespace ece::dbt {
namespace {

std::filesystem::path write_manifest(const std::filesystem::path& work_dir, const std::string& json) {
    std::filesystem::create_directories(work_dir);
    const auto file = work_dir / "manifest.json";
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(json.data(), static_cast<std::streamsize>(json.size()));
    if (!out.flush())
        throw Error(ErrorKind::external, "cannot write the production manifest", {file.string(), {}, {}, {}, {}});
    return work_dir;
}

}  // namespace

ProductionState find_production_state(const ProductionStateOptions& options) {
    if (options.state_dir) {
        const auto file = *options.state_dir / "manifest.json";
        // An explicit --state is what the user wants: no fallback to other sources when it is missing.
        if (!std::filesystem::exists(file))
            return {std::nullopt, "", "no production manifest found (" + file.string() + " does not exist)"};
        return {*options.state_dir, file.string(), ""};
    }
    std::string tried;
    if (options.catalog) {
        if (auto stored = load_production_manifest_json(*options.catalog)) {
            return {write_manifest(options.work_dir, stored->json), "catalog: " + stored->describe(), ""};
        }
        tried = "none in the catalog (ece.state_manifests)";
    } else {
        tried = "no catalog";
    }
    if (options.artifact) {
        if (auto fetched = options.artifact()) {
            return {write_manifest(options.work_dir, fetched->json), fetched->source, ""};
        }
        tried += ", no artifact found";
    } else if (!options.artifact_unavailable_reason.empty()) {
        tried += ", " + options.artifact_unavailable_reason;
    }
    return {std::nullopt, "", "no production manifest found (no --state; " + tried + ")"};
}

}  // namespace ece::dbt
