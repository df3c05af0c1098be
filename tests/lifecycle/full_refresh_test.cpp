// How a run asks for a full refresh of snapshots and incremental models (docs/stateful-nodes.md): the pull request's
// label ece:full-refresh or the action's full-refresh input; nothing else (another label, a push) does. What a full
// refresh then does is tests/publish/stateful_test.cpp's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/error.hpp"
#include "lifecycle/lifecycle.hpp"
#include "support.hpp"
#include "webhook_events.hpp"

namespace {

namespace json = boost::json;
using namespace ece;

actions::Event opened_with_labels(const std::vector<std::string>& labels) {
    auto payload = json::parse(test::pull_request_event_json(
        {.action = "opened", .number = 3, .head_ref = "feature/x", .head_sha = std::string(40, 'a')}));
    json::array list;
    for (const auto& name : labels) list.push_back(json::object{{"name", name}, {"id", 1}, {"color", "ededed"}});
    payload.as_object()["pull_request"].as_object()["labels"] = list;
    return actions::parse_event("pull_request", json::serialize(payload));
}

// The inputs as the runner sets them: INPUT_<NAME> variables.
actions::Inputs inputs(std::map<std::string, std::string> values) {
    return actions::Inputs([values](std::string_view variable) -> std::optional<std::string> {
        auto it = values.find(std::string(variable));
        if (it == values.end()) return std::nullopt;
        return it->second;
    });
}

TEST(FullRefresh, TheLabelAsksForItOtherLabelsDoNot) {
    EXPECT_TRUE(lifecycle::asks_full_refresh(opened_with_labels({"bug", "ece:full-refresh"}), inputs({})));
    EXPECT_FALSE(lifecycle::asks_full_refresh(opened_with_labels({"bug", "full-refresh", "ece:Full-Refresh"}), inputs({})));
    EXPECT_FALSE(lifecycle::asks_full_refresh(opened_with_labels({}), inputs({})));
}

TEST(FullRefresh, TheInputAsksForItForEveryEventAndMustBeABoolean) {
    const auto push = actions::parse_event(
        "push", test::read_file(test::fixture("real/github/webhooks/push.json")));
    EXPECT_TRUE(lifecycle::asks_full_refresh(push, inputs({{"INPUT_FULL-REFRESH", "true"}})));
    EXPECT_FALSE(lifecycle::asks_full_refresh(push, inputs({{"INPUT_FULL-REFRESH", "false"}})));
    EXPECT_FALSE(lifecycle::asks_full_refresh(push, inputs({})));
    EXPECT_TRUE(lifecycle::asks_full_refresh(opened_with_labels({}), inputs({{"INPUT_FULL-REFRESH", "TRUE"}})));
    try {
        lifecycle::asks_full_refresh(push, inputs({{"INPUT_FULL-REFRESH", "yes"}}));
        FAIL() << "accepted full-refresh: yes";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_THAT(e.what(), testing::HasSubstr("full-refresh"));
    }
}

}  // namespace
