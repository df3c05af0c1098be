#include "actions/event.hpp"

#include <boost/json.hpp>

#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace json = boost::json;

namespace ece::actions {
namespace {

// One place in the payload: the value (nullptr when absent) and its JSON path, so every error names both.
class Node {
public:
    Node(const json::value* value, std::string path, const std::string& file) : value_(value), path_(std::move(path)), file_(file) {}

    bool missing() const { return value_ == nullptr; }
    bool null_or_missing() const { return value_ == nullptr || value_->is_null(); }

    Node operator[](std::string_view key) const {
        const auto& object = as_object();
        const auto* child = object.if_contains(key);
        return Node(child, path_ + "." + std::string(key), file_);
    }

    const json::object& as_object() const {
        if (missing()) throw fail("is missing");
        if (!value_->is_object()) throw fail("must be an object, not " + kind());
        return value_->get_object();
    }

    const json::array& as_array() const {
        if (missing()) throw fail("is missing");
        if (!value_->is_array()) throw fail("must be an array, not " + kind());
        return value_->get_array();
    }

    Node at(std::size_t index) const {
        const auto& array = as_array();
        return Node(&array.at(index), path_ + "[" + std::to_string(index) + "]", file_);
    }

    std::string string() const {
        if (missing()) throw fail("is missing");
        if (!value_->is_string()) throw fail("must be a string, not " + kind());
        return std::string(value_->get_string());
    }

    std::optional<std::string> optional_string() const {
        if (null_or_missing()) return std::nullopt;
        return string();
    }

    std::string string_or_empty() const { return optional_string().value_or(std::string()); }

    bool boolean() const {
        if (missing()) throw fail("is missing");
        if (!value_->is_bool()) throw fail("must be true or false, not " + kind());
        return value_->get_bool();
    }

    bool boolean_or(bool fallback) const { return null_or_missing() ? fallback : boolean(); }

    std::int64_t integer() const {
        if (missing()) throw fail("is missing");
        if (value_->is_int64()) return value_->get_int64();
        if (value_->is_uint64() && value_->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
            return static_cast<std::int64_t>(value_->get_uint64());
        }
        throw fail("must be a whole number, not " + kind());
    }

    // A workflow_dispatch input as text: strings as they are, booleans and numbers spelled as JSON spells them.
    std::string as_text() const {
        if (null_or_missing()) return {};
        if (value_->is_string()) return std::string(value_->get_string());
        return json::serialize(*value_);
    }

    Error fail(const std::string& problem) const {
        return Error(ErrorKind::input, "malformed event payload: " + path_ + " " + problem, {.file = file_, .field = path_});
    }

private:
    std::string kind() const {
        switch (value_->kind()) {
            case json::kind::null: return "null";
            case json::kind::bool_: return "a boolean";
            case json::kind::int64:
            case json::kind::uint64:
            case json::kind::double_: return "a number";
            case json::kind::string: return "a string";
            case json::kind::array: return "an array";
            case json::kind::object: return "an object";
        }
        return "something else";
    }

    const json::value* value_;
    std::string path_;
    const std::string& file_;
};

json::value parse_json(std::string_view text, const std::string& file) {
    json::stream_parser parser;
    json::error_code error;
    auto used = parser.write_some(text.data(), text.size(), error);
    if (!error) parser.finish(error);
    if (error) {
        throw Error(ErrorKind::input, "event payload is not valid JSON: " + error.message(),
                    {.file = file, .byte_offset = used});
    }
    return parser.release();
}

PullRequest parse_pull_request(const Node& pr) {
    PullRequest out;
    out.number = pr["number"].integer();
    out.state = pr["state"].string();
    out.draft = pr["draft"].boolean_or(false);
    out.merged = pr["merged"].boolean_or(false);
    out.merged_at = pr["merged_at"].optional_string();
    out.merge_commit_sha = pr["merge_commit_sha"].optional_string();
    auto head = pr["head"];
    out.head_ref = head["ref"].string();
    out.head_sha = head["sha"].string();
    if (!head["repo"].null_or_missing()) out.head_repo_full_name = head["repo"]["full_name"].string();
    out.base_ref = pr["base"]["ref"].string();
    auto labels = pr["labels"];
    if (!labels.null_or_missing()) {
        for (std::size_t i = 0; i < labels.as_array().size(); ++i) out.labels.push_back(labels.at(i)["name"].string());
    }
    return out;
}

Push parse_push(const Node& root) {
    Push out;
    out.ref = root["ref"].string();
    out.before = root["before"].string_or_empty();
    out.after = root["after"].string();
    out.created = root["created"].boolean_or(false);
    out.deleted = root["deleted"].boolean_or(false);
    return out;
}

WorkflowRun parse_workflow_run(const Node& run) {
    WorkflowRun out;
    out.event = run["event"].string();
    out.conclusion = run["conclusion"].string_or_empty();
    out.head_sha = run["head_sha"].string();
    out.head_branch = run["head_branch"].string_or_empty();
    if (!run["head_repository"].null_or_missing()) out.head_repo_full_name = run["head_repository"]["full_name"].string();
    auto pulls = run["pull_requests"];
    if (!pulls.null_or_missing()) {
        for (std::size_t i = 0; i < pulls.as_array().size(); ++i) out.pull_request_numbers.push_back(pulls.at(i)["number"].integer());
    }
    return out;
}

std::string without_heads(std::string ref) {
    const std::string heads = "refs/heads/";
    return ref.rfind(heads, 0) == 0 ? ref.substr(heads.size()) : ref;
}

MergeGroup parse_merge_group(const Node& group) {
    MergeGroup out;
    out.head_sha = group["head_sha"].string();
    out.head_branch = without_heads(group["head_ref"].string());
    out.base_branch = without_heads(group["base_ref"].string_or_empty());
    return out;
}

bool is_pull_request_event(std::string_view name) { return name == "pull_request" || name == "pull_request_target"; }

}  // namespace

bool PullRequest::from_fork(std::string_view base_repo_full_name) const {
    return head_repo_full_name.empty() || head_repo_full_name != base_repo_full_name;
}

Event parse_event(std::string_view event_name, std::string_view json_text, const std::string& file) {
    auto document = parse_json(json_text, file);
    Node root(&document, "$", file);
    root.as_object();

    Event event;
    event.name = std::string(event_name);
    event.action = root["action"].string_or_empty();
    if (!root["repository"].null_or_missing()) {
        event.repository_full_name = root["repository"]["full_name"].string();
        event.default_branch = root["repository"]["default_branch"].string_or_empty();
    }
    if (is_pull_request_event(event_name)) {
        event.pull_request = parse_pull_request(root["pull_request"]);
        if (event.action == "labeled" || event.action == "unlabeled") event.label = root["label"]["name"].string();
    } else if (event_name == "push") {
        event.push = parse_push(root);
    } else if (event_name == "schedule") {
        event.schedule = root["schedule"].string_or_empty();
    } else if (event_name == "workflow_dispatch") {
        auto inputs = root["inputs"];
        if (!inputs.null_or_missing()) {
            for (const auto& [key, value] : inputs.as_object()) event.dispatch_inputs[std::string(key)] = inputs[key].as_text();
        }
    } else if (event_name == "workflow_run") {
        event.workflow_run = parse_workflow_run(root["workflow_run"]);
    } else if (event_name == "merge_group") {
        event.merge_group = parse_merge_group(root["merge_group"]);
    }
    return event;
}

Event read_event(std::string_view event_name, const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorKind::input, "cannot read the event payload", {.file = path.string()});
    std::ostringstream text;
    text << in.rdbuf();
    return parse_event(event_name, text.str(), path.string());
}

std::string_view to_string(Step step) {
    switch (step) {
        case Step::preview: return "preview";
        case Step::destroy: return "destroy";
        case Step::publish: return "publish";
        case Step::gc: return "gc";
        case Step::dispatch: return "dispatch";
        case Step::ignore: return "ignore";
    }
    return "ignore";
}

namespace {

Decision decide_pull_request(const Event& event) {
    const auto& pr = *event.pull_request;
    auto which = "pull request #" + std::to_string(pr.number);
    const auto& action = event.action;
    if (action == "opened" || action == "synchronize" || action == "reopened" || action == "ready_for_review") {
        return {Step::preview, {}, which + " was " + (action == "synchronize" ? std::string("updated") : action) +
                                       (pr.draft ? " (draft)" : "")};
    }
    if ((action == "labeled" || action == "unlabeled") && event.label == full_refresh_label) {
        return {Step::preview, {}, which + " was " + action + " " + event.label + ": previewed again"};
    }
    if (action == "closed") {
        if (pr.merged) return {Step::publish, {}, which + " was merged into " + pr.base_ref};
        return {Step::destroy, {}, which + " was closed without merging"};
    }
    return {Step::ignore, {}, which + ": the '" + action + "' action does not change its environment"};
}

Decision decide_push(const Event& event) {
    const auto& push = *event.push;
    if (push.deleted) return {Step::ignore, {}, "push deleted " + push.ref};
    if (!event.default_branch.empty() && push.ref == "refs/heads/" + event.default_branch) {
        return {Step::publish, {}, "push to the default branch " + event.default_branch};
    }
    return {Step::ignore, {}, "push to " + push.ref + " (only pushes to the default branch '" + event.default_branch + "' publish)"};
}

Decision decide_workflow_run(const Event& event) {
    const auto& run = *event.workflow_run;
    if (run.event != "pull_request") return {Step::ignore, {}, "workflow_run of a '" + run.event + "' run"};
    if (run.conclusion != "success") {
        return {Step::ignore, {}, "the pull request's unprivileged run ended '" + run.conclusion + "', nothing to build"};
    }
    return {Step::preview, {}, "the unprivileged pull request run for " + run.head_sha + " succeeded"};
}

}  // namespace

Decision decide(const Event& event) {
    if (event.pull_request) return decide_pull_request(event);
    if (event.push) return decide_push(event);
    if (event.workflow_run) return decide_workflow_run(event);
    if (event.merge_group) {
        // The queue's branch gets a preview like any branch; the merge itself publishes (pull_request closed/push).
        if (event.action == "checks_requested" || event.action.empty())
            return {Step::preview, {}, "the merge queue asks for checks of " + event.merge_group->head_branch};
        return {Step::ignore, {}, "merge queue '" + event.action + "': nothing to build"};
    }
    if (event.name == "schedule") return {Step::gc, {}, "scheduled run (" + (event.schedule.empty() ? std::string("no cron") : event.schedule) + ")"};
    if (event.name == "workflow_dispatch") {
        auto command = event.dispatch_inputs.count("command") ? event.dispatch_inputs.at("command") : std::string();
        if (command.empty()) command = "auto";
        return {Step::dispatch, command, "started by hand with command '" + command + "'"};
    }
    return {Step::ignore, {}, "the '" + event.name + "' event does not change any environment"};
}

}  // namespace ece::actions
