#pragma once
// Where ece keeps its working files (the embedded server, dbt's target and logs, downloaded artifacts, the demo).
//
// In GitHub Actions the runner's temp directory ($RUNNER_TEMP/ece): inside a container action that path is the
// container's own and goes with it, so nothing root-owned is left in the workspace for the next checkout.
// Elsewhere ./.ece, which gets a .gitignore of '*' when ece creates it, so a checkout never shows it as changes.
#include <filesystem>

namespace ece {

// $RUNNER_TEMP/ece when GITHUB_ACTIONS=true and RUNNER_TEMP is set, else <current directory>/.ece. Creates nothing.
std::filesystem::path ece_dir();

// Creates dir and its parents; a folder named ".ece" on the way gets a .gitignore of '*' unless it has one.
// Returns dir.
const std::filesystem::path& make_ece_dir(const std::filesystem::path& dir);

}  // namespace ece
