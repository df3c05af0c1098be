#include "actions/event.hpp"

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "core/error.hpp"
#include "json_schema.hpp"
#include "support.hpp"

namespace json = boost::json;

namespace ece::actions {
namespace {

std::filesystem::path webhooks() { return test::fixture("real/github/webhooks"); }

// pull_request.opened.with-organization.json -> pull_request
std::string event_name_of(const std::filesystem::path& file) {
    auto name = file.filename().string();
    return name.substr(0, name.find('.'));
}

// What ece must decide for each real payload. A new fixture file fails EveryPayload until it is listed here.
const std::map<std::string, Step>& expected_steps() {
    static const std::map<std::string, Step> steps = {
        {"issue_comment.created.1.json", Step::ignore},
        {"issue_comment.created.json", Step::ignore},
        {"issue_comment.created.with-organization.json", Step::ignore},
        {"issue_comment.deleted.json", Step::ignore},
        {"issue_comment.edited.json", Step::ignore},
        {"pull_request.closed.not-merged.json", Step::destroy},
        {"pull_request.closed.not-merged.with-organization.json", Step::destroy},
        {"pull_request.labeled.json", Step::ignore},
        {"pull_request.opened.json", Step::preview},
        {"pull_request.opened.with-null-body.json", Step::preview},
        {"pull_request.opened.with-organization.json", Step::preview},
        {"pull_request.ready_for_review.json", Step::preview},
        {"pull_request.reopened.json", Step::preview},
        {"pull_request.synchronize.json", Step::preview},
        {"push.json", Step::ignore},                            // deletes the tag simple-tag
        {"push.with-new-branch.json", Step::publish},           // creates refs/heads/master, the default branch
        {"push.with-no-username-committer.json", Step::publish},
        {"push.with-organization.json", Step::ignore},
    };
    return steps;
}

// The schema a payload file is an instance of, when the fixtures have one.
std::optional<std::filesystem::path> schema_for(const std::string& file_name) {
    auto schemas = webhooks() / "schemas";
    if (file_name.starts_with("pull_request.closed.")) return schemas / "pull_request.closed.schema.json";
    if (file_name.starts_with("push.")) return schemas / "push.event.schema.json";
    if (file_name.starts_with("issue_comment.created.")) return schemas / "issue_comment.created.schema.json";
    return std::nullopt;
}

std::vector<std::filesystem::path> payload_files() {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(webhooks())) {
        if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

// The merged variant the fixtures leave to us: the closed payload with merged, merged_at and merge_commit_sha set.
std::string merged_payload() {
    auto document = json::parse(test::read_file(webhooks() / "pull_request.closed.not-merged.json"));
    auto& pr = document.at("pull_request").as_object();
    pr["merged"] = true;
    pr["merged_at"] = "2019-05-15T15:20:40Z";
    pr["merge_commit_sha"] = "c4295bd74fb0f4fbe5be6f2b4fd0d2d1a1b6c9e5";
    return json::serialize(document);
}

void expect_input_error(const std::string& payload, std::string_view event_name, const std::string& field) {
    try {
        parse_event(event_name, payload, "event.json");
        ADD_FAILURE() << "no error for a payload with a bad " << field;
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::input);
        EXPECT_EQ(e.where().file, "event.json");
        EXPECT_EQ(e.where().field, field);
        EXPECT_THAT(e.what(), testing::HasSubstr(field));
    }
}

TEST(Event, EveryPayloadParsesAndDecides) {
    auto files = payload_files();
    ASSERT_EQ(files.size(), expected_steps().size()) << "a fixture was added or removed: update expected_steps()";
    for (const auto& file : files) {
        SCOPED_TRACE(file.filename().string());
        auto event = read_event(event_name_of(file), file);
        EXPECT_EQ(event.repository_full_name, "Codertocat/Hello-World");
        EXPECT_EQ(event.default_branch, "master");
        auto decision = decide(event);
        ASSERT_TRUE(expected_steps().count(file.filename().string()));
        EXPECT_EQ(to_string(decision.step), to_string(expected_steps().at(file.filename().string()))) << decision.reason;
        EXPECT_FALSE(decision.reason.empty());
    }
}

TEST(Event, EveryPayloadValidatesAgainstItsSchema) {
    int validated = 0;
    for (const auto& file : payload_files()) {
        auto schema = schema_for(file.filename().string());
        if (!schema) continue;
        SCOPED_TRACE(file.filename().string());
        auto report = test::validate_json(json::parse(test::read_file(file)), *schema);
        EXPECT_THAT(report.violations, testing::IsEmpty());
        ++validated;
    }
    EXPECT_EQ(validated, 9);  // 2 closed, 4 push, 3 issue_comment.created
}

TEST(Event, PullRequestObjectsValidateAgainstTheCommonSchema) {
    for (const auto& file : payload_files()) {
        if (event_name_of(file) != "pull_request") continue;
        SCOPED_TRACE(file.filename().string());
        auto document = json::parse(test::read_file(file));
        auto report = test::validate_json(document.at("pull_request"), webhooks() / "schemas/common/pull-request.schema.json");
        EXPECT_THAT(report.violations, testing::IsEmpty());
    }
    auto merged = json::parse(merged_payload());
    auto report = test::validate_json(merged, webhooks() / "schemas/pull_request.closed.schema.json");
    EXPECT_THAT(report.violations, testing::IsEmpty());
}

TEST(Event, SchemaCheckerCatchesAWrongType) {
    auto document = json::parse(test::read_file(webhooks() / "pull_request.closed.not-merged.json"));
    document.at("pull_request").as_object()["merged"] = "yes";
    auto report = test::validate_json(document, webhooks() / "schemas/pull_request.closed.schema.json");
    EXPECT_THAT(report.violations, testing::Contains(testing::HasSubstr("$.pull_request.merged")));
}

// GitHub's merge_group payload (checks_requested): the queue's branch is previewed; other actions change nothing.
TEST(Event, AMergeQueueBranchIsPreviewed) {
    const std::string payload = R"({"action": "checks_requested",
        "merge_group": {"head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                        "head_ref": "refs/heads/gh-readonly-queue/main/pr-5-f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
                        "base_sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "base_ref": "refs/heads/main",
                        "head_commit": {"id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "message": "Merge"}},
        "repository": {"full_name": "octo-org/warehouse", "default_branch": "main"}})";
    const auto event = parse_event("merge_group", payload, "event.json");
    ASSERT_TRUE(event.merge_group);
    EXPECT_EQ(event.merge_group->head_branch, "gh-readonly-queue/main/pr-5-f95f852bd8fca8fcc58a9a2d6c842781e32a215e");
    EXPECT_EQ(event.merge_group->head_sha, "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    EXPECT_EQ(event.merge_group->base_branch, "main");
    EXPECT_EQ(decide(event).step, Step::preview);
    auto destroyed = event;
    destroyed.action = "destroyed";
    EXPECT_EQ(decide(destroyed).step, Step::ignore);
    expect_input_error(R"({"action": "checks_requested", "merge_group": {"head_ref": "refs/heads/q"}})", "merge_group",
                       "$.merge_group.head_sha");
}

TEST(Event, OpenedPullRequestFields) {
    auto event = read_event("pull_request", webhooks() / "pull_request.opened.json");
    ASSERT_TRUE(event.pull_request);
    const auto& pr = *event.pull_request;
    EXPECT_EQ(event.action, "opened");
    EXPECT_EQ(pr.number, 2);
    EXPECT_EQ(pr.state, "open");
    EXPECT_EQ(pr.head_ref, "changes");
    EXPECT_EQ(pr.head_sha, "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    EXPECT_EQ(pr.base_ref, "master");
    EXPECT_EQ(pr.head_repo_full_name, "Codertocat/Hello-World");
    EXPECT_FALSE(pr.from_fork(event.repository_full_name));
    EXPECT_FALSE(pr.merged);
    EXPECT_FALSE(pr.merged_at);
    EXPECT_FALSE(pr.draft);
    EXPECT_EQ(decide(event).reason, "pull request #2 was opened");
}

TEST(Event, PullRequestTargetIsReadLikePullRequest) {
    auto event = read_event("pull_request_target", webhooks() / "pull_request.closed.not-merged.json");
    ASSERT_TRUE(event.pull_request);
    EXPECT_EQ(event.name, "pull_request_target");
    EXPECT_EQ(decide(event).step, Step::destroy);
}

TEST(Event, LabeledPullRequestHasItsLabelsAndIsIgnored) {
    auto event = read_event("pull_request", webhooks() / "pull_request.labeled.json");
    ASSERT_TRUE(event.pull_request);
    EXPECT_THAT(event.pull_request->labels, testing::ElementsAre("bug"));
    auto decision = decide(event);
    EXPECT_EQ(decision.step, Step::ignore);
    EXPECT_THAT(decision.reason, testing::HasSubstr("labeled"));
}

// Adding or removing the full-refresh label previews again (snapshots and incremental models from scratch, or from
// production's copies again); the label's name is what GitHub's payload says it is.
TEST(Event, TheFullRefreshLabelAddedOrRemovedPreviewsAgain) {
    auto payload = json::parse(test::read_file(webhooks() / "pull_request.labeled.json"));
    payload.as_object()["label"].as_object()["name"] = "ece:full-refresh";
    for (const std::string action : {"labeled", "unlabeled"}) {
        payload.as_object()["action"] = action;
        auto event = parse_event("pull_request", json::serialize(payload), "labeled.json");
        EXPECT_EQ(event.label, "ece:full-refresh");
        auto decision = decide(event);
        EXPECT_EQ(decision.step, Step::preview) << action;
        EXPECT_THAT(decision.reason, testing::HasSubstr(action + " ece:full-refresh"));
    }
}

TEST(Event, MergedPullRequestPublishes) {
    auto event = parse_event("pull_request", merged_payload(), "merged.json");
    ASSERT_TRUE(event.pull_request);
    EXPECT_TRUE(event.pull_request->merged);
    EXPECT_EQ(event.pull_request->merged_at, "2019-05-15T15:20:40Z");
    EXPECT_EQ(event.pull_request->merge_commit_sha, "c4295bd74fb0f4fbe5be6f2b4fd0d2d1a1b6c9e5");
    auto decision = decide(event);
    EXPECT_EQ(decision.step, Step::publish);
    EXPECT_EQ(decision.reason, "pull request #2 was merged into master");
}

TEST(Event, ClosedUnmergedDestroys) {
    auto event = read_event("pull_request", webhooks() / "pull_request.closed.not-merged.json");
    EXPECT_EQ(event.pull_request->state, "closed");
    auto decision = decide(event);
    EXPECT_EQ(decision.step, Step::destroy);
    EXPECT_EQ(decision.reason, "pull request #2 was closed without merging");
}

TEST(Event, ForkIsDetectedFromTheHeadRepository) {
    auto document = json::parse(test::read_file(webhooks() / "pull_request.opened.json"));
    document.at("pull_request").at("head").at("repo").as_object()["full_name"] = "mallory/Hello-World";
    auto event = parse_event("pull_request", json::serialize(document));
    EXPECT_TRUE(event.pull_request->from_fork(event.repository_full_name));
    // A deleted fork arrives as head.repo: null.
    document.at("pull_request").at("head").as_object()["repo"] = nullptr;
    event = parse_event("pull_request", json::serialize(document));
    EXPECT_EQ(event.pull_request->head_repo_full_name, "");
    EXPECT_TRUE(event.pull_request->from_fork(event.repository_full_name));
}

TEST(Event, PushFields) {
    auto event = read_event("push", webhooks() / "push.with-new-branch.json");
    ASSERT_TRUE(event.push);
    EXPECT_EQ(event.push->ref, "refs/heads/master");
    EXPECT_TRUE(event.push->created);
    EXPECT_FALSE(event.push->deleted);
    EXPECT_EQ(event.push->after.size(), 40u);
    EXPECT_EQ(decide(event).reason, "push to the default branch master");

    auto tag = read_event("push", webhooks() / "push.json");
    EXPECT_EQ(tag.push->ref, "refs/tags/simple-tag");
    EXPECT_TRUE(tag.push->deleted);
    EXPECT_EQ(decide(tag).step, Step::ignore);
}

TEST(Event, PushToAnotherBranchIsIgnored) {
    auto event = parse_event("push", R"({"ref":"refs/heads/feature","before":"a","after":"b","created":false,"deleted":false,
        "repository":{"full_name":"o/r","default_branch":"main"}})");
    auto decision = decide(event);
    EXPECT_EQ(decision.step, Step::ignore);
    EXPECT_THAT(decision.reason, testing::HasSubstr("refs/heads/feature"));
}

TEST(Event, ScheduleCollectsGarbage) {
    auto event = parse_event("schedule", R"({"schedule":"17 3 * * *","repository":{"full_name":"o/r","default_branch":"main"}})");
    EXPECT_EQ(event.schedule, "17 3 * * *");
    auto decision = decide(event);
    EXPECT_EQ(decision.step, Step::gc);
    EXPECT_THAT(decision.reason, testing::HasSubstr("17 3 * * *"));
}

TEST(Event, WorkflowDispatchCarriesItsCommand) {
    auto event = parse_event("workflow_dispatch", R"({"inputs":{"command":"gc","dry-run":true,"ttl":72},"ref":"refs/heads/main"})");
    EXPECT_EQ(event.dispatch_inputs.at("command"), "gc");
    EXPECT_EQ(event.dispatch_inputs.at("dry-run"), "true");
    EXPECT_EQ(event.dispatch_inputs.at("ttl"), "72");
    auto decision = decide(event);
    EXPECT_EQ(decision.step, Step::dispatch);
    EXPECT_EQ(decision.command, "gc");

    auto without = parse_event("workflow_dispatch", R"({"inputs":null})");
    EXPECT_EQ(decide(without).command, "auto");
}

TEST(Event, WorkflowRunOfASuccessfulPullRequestRunPreviews) {
    auto text = R"({"action":"completed","workflow_run":{"event":"pull_request","conclusion":"success","head_sha":"abc",
        "head_branch":"feature","head_repository":{"full_name":"mallory/r"},"pull_requests":[]},
        "repository":{"full_name":"o/r","default_branch":"main"}})";
    auto event = parse_event("workflow_run", text);
    ASSERT_TRUE(event.workflow_run);
    EXPECT_EQ(event.workflow_run->head_repo_full_name, "mallory/r");
    EXPECT_THAT(event.workflow_run->pull_request_numbers, testing::IsEmpty());
    EXPECT_EQ(decide(event).step, Step::preview);

    auto failed = parse_event("workflow_run", R"({"workflow_run":{"event":"pull_request","conclusion":"failure","head_sha":"abc"}})");
    EXPECT_EQ(decide(failed).step, Step::ignore);
}

TEST(Event, OtherEventsAreIgnoredWithAReason) {
    auto event = read_event("issue_comment", webhooks() / "issue_comment.created.json");
    auto decision = decide(event);
    EXPECT_EQ(decision.step, Step::ignore);
    EXPECT_THAT(decision.reason, testing::HasSubstr("issue_comment"));
}

TEST(Event, NotJsonNamesFileAndByteOffset) {
    try {
        parse_event("pull_request", R"({"action": "opened", "pull_request": {"number": 2,,}})", "event.json");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::input);
        EXPECT_EQ(e.where().file, "event.json");
        ASSERT_TRUE(e.where().byte_offset);
        EXPECT_EQ(*e.where().byte_offset, 50u);  // the second comma
        EXPECT_THAT(e.what(), testing::HasSubstr("not valid JSON"));
    }
    EXPECT_THROW(parse_event("push", "", "empty.json"), Error);
    EXPECT_THROW(parse_event("push", "[1,2]", "array.json"), Error);
}

TEST(Event, MalformedPullRequestsNameTheJsonPath) {
    auto document = json::parse(test::read_file(webhooks() / "pull_request.opened.json"));
    auto& pr = document.at("pull_request").as_object();

    auto without_number = document;
    without_number.at("pull_request").as_object().erase("number");
    expect_input_error(json::serialize(without_number), "pull_request", "$.pull_request.number");

    auto number_as_text = document;
    number_as_text.at("pull_request").as_object()["number"] = "2";
    expect_input_error(json::serialize(number_as_text), "pull_request", "$.pull_request.number");

    auto merged_as_text = document;
    merged_as_text.at("pull_request").as_object()["merged"] = "false";
    expect_input_error(json::serialize(merged_as_text), "pull_request", "$.pull_request.merged");

    auto bad_label = document;
    bad_label.at("pull_request").as_object()["labels"] = json::array{json::object{{"name", 7}}};
    expect_input_error(json::serialize(bad_label), "pull_request", "$.pull_request.labels[0].name");

    auto head_sha_missing = document;
    head_sha_missing.at("pull_request").at("head").as_object().erase("sha");
    expect_input_error(json::serialize(head_sha_missing), "pull_request", "$.pull_request.head.sha");

    expect_input_error(R"({"action":"opened"})", "pull_request", "$.pull_request");
    expect_input_error(R"({"action":"opened","pull_request":[]})", "pull_request", "$.pull_request");
    (void)pr;
}

TEST(Event, MalformedPushNamesTheJsonPath) {
    expect_input_error(R"({"ref":"refs/heads/main","after":42})", "push", "$.after");
    expect_input_error(R"({"after":"abc"})", "push", "$.ref");
    expect_input_error(R"({"ref":"refs/heads/main","after":"abc","repository":{"full_name":1}})", "push", "$.repository.full_name");
}

TEST(Event, UnreadableFileIsAnInputError) {
    try {
        read_event("push", "/nonexistent/event.json");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::input);
        EXPECT_EQ(e.where().file, "/nonexistent/event.json");
    }
}

}  // namespace
}  // namespace ece::actions
