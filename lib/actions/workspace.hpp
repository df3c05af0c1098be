#pragma once
// The workspace a container action shares with the job's other steps. GitHub runs container actions as root, so
// anything ece or dbt creates there (a project's logs/ or target/, .ece/) would be root's and break the next
// checkout on a self-hosted runner. ece's own files go under ece_dir() ($RUNNER_TEMP/ece); what still lands in
// the workspace is handed back to the workspace's owner when the run ends.
#include <filesystem>

namespace ece::actions {

// Gives every file and folder under workspace (the workspace itself excluded, links not followed) that the
// effective user owns but the workspace's owner does not back to the workspace's owner and group. Does nothing
// unless this process runs as root and the workspace belongs to someone else. Returns how many it changed; never
// throws (a path that vanished or cannot be changed is skipped).
std::size_t hand_back_to_workspace_owner(const std::filesystem::path& workspace);

}  // namespace ece::actions
