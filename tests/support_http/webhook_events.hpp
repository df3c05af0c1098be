#pragma once
// GitHub webhook payloads for tests that run `ece` as GitHub Actions does: GitHub's own examples
// (../shared/fixtures/real/github/webhooks) with the fields ece reads set for the case at hand.
#include <string>

namespace ece::test {

struct PullRequestEventSpec {
    std::string action;  // opened, synchronize, reopened or closed
    int number = 0;
    std::string head_ref;
    std::string head_sha;
    bool merged = false;       // closed by merging
    std::string merge_sha{};   // merge_commit_sha; empty: null
    std::string repository = "octo-org/warehouse";
};

// The pull_request event's JSON text, made from GitHub's example payload for the action (closed: the not-merged
// one, with merged, merged_at and merge_commit_sha set as GitHub sets them).
std::string pull_request_event_json(const PullRequestEventSpec& spec);

}  // namespace ece::test
