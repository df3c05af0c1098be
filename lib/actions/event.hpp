#pragma once
// The webhook payload GitHub writes to $GITHUB_EVENT_PATH, reduced to what ece decides on, and the decision itself:
// which step of an environment's life cycle this event asks for.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ece::actions {

struct PullRequest {
    std::int64_t number = 0;
    std::string state;                         // open | closed
    bool draft = false;
    bool merged = false;
    std::optional<std::string> merged_at;
    std::optional<std::string> merge_commit_sha;
    std::string head_ref;
    std::string head_sha;
    std::string base_ref;
    std::string head_repo_full_name;           // empty when the head repository was deleted
    std::vector<std::string> labels;

    // Head lives in another repository (or a deleted one): GitHub gives such runs no secrets.
    bool from_fork(std::string_view base_repo_full_name) const;
};

struct Push {
    std::string ref;       // refs/heads/main, refs/tags/v1
    std::string before;
    std::string after;     // the head sha after the push
    bool created = false;
    bool deleted = false;
};

// A workflow_run event: the fork-safe variant's privileged second half.
struct WorkflowRun {
    std::string event;                 // the event of the run that finished (pull_request)
    std::string conclusion;            // success, failure, ... (empty while running)
    std::string head_sha;
    std::string head_branch;
    std::string head_repo_full_name;
    std::vector<std::int64_t> pull_request_numbers;  // empty for pull requests from forks
};

// A merge_group event: the merge queue made a temporary branch (gh-readonly-queue/<base>/pr-<n>-<sha>) holding the
// queued pull request on top of the base, and asks for its checks.
struct MergeGroup {
    std::string head_branch;  // the queue's temporary branch, without refs/heads/
    std::string head_sha;
    std::string base_branch;
};

struct Event {
    std::string name;                  // GITHUB_EVENT_NAME: pull_request, push, schedule, workflow_dispatch, ...
    std::string action;                // opened, closed, ... (empty for push and schedule)
    std::string repository_full_name;
    std::string default_branch;
    std::optional<PullRequest> pull_request;
    std::string label;                 // the label a pull request's labeled / unlabeled action added or removed
    std::optional<Push> push;
    std::optional<WorkflowRun> workflow_run;
    std::optional<MergeGroup> merge_group;
    std::string schedule;              // the cron expression of a schedule event
    std::map<std::string, std::string> dispatch_inputs;  // workflow_dispatch inputs, each as text
};

// Parses a payload; file names it in errors. Throws ece::Error(input) with the file, the byte offset of a syntax
// error, or the JSON path ($.pull_request.number) of a missing or mistyped field.
Event parse_event(std::string_view event_name, std::string_view json_text, const std::string& file = "event payload");
Event read_event(std::string_view event_name, const std::filesystem::path& path);

// The pull-request label that asks for a full refresh of every snapshot and incremental model it builds
// (docs/stateful-nodes.md): adding or removing it previews the pull request again.
inline constexpr std::string_view full_refresh_label = "ece:full-refresh";

enum class Step { preview, destroy, publish, gc, dispatch, ignore };
std::string_view to_string(Step step);

struct Decision {
    Step step = Step::ignore;
    std::string command;   // dispatch: the workflow_dispatch 'command' input (or "auto" when not given)
    std::string reason;    // one line a person understands: "pull request #2 was closed without merging"
};

Decision decide(const Event& event);

}  // namespace ece::actions
