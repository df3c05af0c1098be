#include "webhook_events.hpp"

#include "support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace ece::test {

namespace json = boost::json;

std::string pull_request_event_json(const PullRequestEventSpec& spec) {
    const std::string example = spec.action == "closed" ? "pull_request.closed.not-merged.json"
                                                        : "pull_request." + spec.action + ".json";
    auto payload = json::parse(read_file(fixture("real/github/webhooks/" + example)));
    auto& o = payload.as_object();
    o["action"] = spec.action;
    o["number"] = spec.number;
    auto& repo = o["repository"].as_object();
    repo["full_name"] = spec.repository;
    repo["default_branch"] = "main";
    auto& pr = o["pull_request"].as_object();
    pr["number"] = spec.number;
    pr["state"] = spec.action == "closed" ? "closed" : "open";
    pr["merged"] = spec.merged;
    pr["merged_at"] = spec.merged ? json::value("2026-01-01T00:00:00Z") : json::value(nullptr);
    pr["merge_commit_sha"] = spec.merge_sha.empty() ? json::value(nullptr) : json::value(spec.merge_sha);
    auto& head = pr["head"].as_object();
    head["ref"] = spec.head_ref;
    head["sha"] = spec.head_sha;
    head["repo"].as_object()["full_name"] = spec.repository;
    pr["base"].as_object()["ref"] = "main";
    return json::serialize(payload);
}

}  // namespace ece::test
