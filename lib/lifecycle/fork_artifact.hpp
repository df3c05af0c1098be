#pragma once
// The fork-safe workflow's artifact (workflows/preview-fork-safe.yml): what an unprivileged pull_request job made
// from a pull request's code, handed to the privileged workflow_run job as data. Everything in it is untrusted:
//
//   <dir>/pull-request.json   {"number": 12, "head_sha": "<40 hex>"}: which pull request and commit it was made from
//   <dir>/manifest.json       dbt parse's manifest of the pull request's project (the plan is made from it)
//   <dir>/project.tar.gz      the pull request's dbt project (or a project/ directory)
//
// open_fork_artifact refuses a directory holding links that lead outside it or anything but files and folders, a
// malformed pull-request.json (naming the file and the field), a missing or malformed manifest, and a project
// archive with absolute paths, "..", device files or links leading outside the project. verify_fork_pull_request
// then checks the claim against GitHub: the pull request must be open and its head must be the commit the run is for.
#include "lifecycle/lifecycle.hpp"

#include <filesystem>
#include <string>

namespace ece::lifecycle {

struct ForkArtifact {
    int number = 0;                       // pull-request.json's number
    std::string head_sha;                 // pull-request.json's head_sha
    std::filesystem::path project_dir;    // the project, extracted below the `into` directory
    std::filesystem::path manifest;       // the artifact's manifest.json
};

// Validates dir and extracts its project into `into` (emptied first). Throws ece::Error(input) naming the file,
// field or archive member at fault; nothing outside `into` is written.
ForkArtifact open_fork_artifact(const std::filesystem::path& dir, const std::filesystem::path& into);

// pull-request.json's text checked on its own (file names it in errors).
// The target schema the unprivileged fork build parses with (workflows/preview-fork-build.yml's dummy profile): the
// manifest's nodes write to it (or "<it>_<custom>"), standing for the environment's schemas.
inline constexpr std::string_view fork_build_schema = "parse";

ForkArtifact parse_pull_request_json(std::string_view text, const std::string& file);

// The artifact's manifest as if parsed against `database`: the unprivileged job parses with a dummy profile (no
// database to reach), so every source would differ from production in its database and look modified. Nodes and
// sources on the manifest's parse database (the one most of its models are on) move to `database`; the result is
// written to out, which is returned. Throws ece::Error(input) for a manifest that is not JSON.
std::filesystem::path retarget_manifest(const std::filesystem::path& manifest, const std::string& database,
                                        const std::filesystem::path& out);

// Checks the artifact's pull request against the run: the pull-request input (target.pr, when given) and the event's
// commit (target.sha) must match pull-request.json, and GitHub (pulls) must know the pull request as open with that
// head. Returns target with the pull request filled in (and its branch when the event had none). Throws
// ece::Error(conflict) for a mismatch, ece::Error(usage) without GitHub.
Target verify_fork_pull_request(const ForkArtifact& artifact, const Target& target, PullRequests* pulls);

}  // namespace ece::lifecycle
