// Comments under load and faults: lib/comment's sticky comment against FakeGitHub (a real local HTTPS server).
// 200 updates - 10 pull requests, 20 report changes each, the 10 in parallel - while GitHub answers with primary
// (429 + Retry-After) and secondary (403 "secondary rate limit") rate limits, 500/502, hangs and bodies cut short.
// Every update must succeed and each pull request must end with exactly one ece comment, holding the last report.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "comment/marker.hpp"
#include "comment/render.hpp"
#include "comment/sticky.hpp"
#include "core/error.hpp"
#include "fake_github.hpp"
#include "support.hpp"

namespace ece::reliability {
namespace {

using namespace std::chrono_literals;
using test::Fault;
using test::FakeGitHub;
using test::ServerResponse;

const std::string list_pattern = "/repos/{owner}/{repo}/issues/{issue_number}/comments";
const std::string edit_pattern = "/repos/{owner}/{repo}/issues/comments/{comment_id}";

github::ClientConfig config_for(const FakeGitHub& fake, std::atomic<long long>& slept_ms) {
    github::ClientConfig config = fake.client_config();
    config.http.read_timeout = 500ms;  // a hang costs half a second of real time
    config.http.sleep = [&slept_ms](std::chrono::milliseconds ms) { slept_ms += ms.count(); };  // waits are counted
    return config;
}

comment::Rendered report(int pr, int update) {
    comment::Report r;
    const std::string environment = "pr-" + std::to_string(pr);
    r.header = {environment, "feature/" + std::to_string(pr), comment::Status::ready,
                "4f2a9c1e0b7d3a5c6e8f9a0b1c2d3e4f5a6b7c8d", pr, "https://github.com/octo-org/warehouse/actions/runs/1"};
    r.warnings.push_back("update " + std::to_string(update));
    return comment::render_comment(r);
}

ServerResponse rate_limited(bool secondary) {
    if (secondary) {
        auto r = ServerResponse::error(403, "You have exceeded a secondary rate limit. Please wait a few minutes.");
        r.headers.set("retry-after", "3");
        return r;
    }
    auto r = ServerResponse::error(429, "API rate limit exceeded");
    r.headers.set("retry-after", "2");
    return r;
}

ServerResponse faulty(int kind) {
    switch (kind) {
        case 0: return rate_limited(false);
        case 1: return rate_limited(true);
        case 2: return ServerResponse::error(500, "Server Error");
        case 3: return ServerResponse::error(502, "Bad Gateway");
        case 4: {
            auto r = ServerResponse::json(200, "[]");
            r.fault = Fault::hang;
            return r;
        }
        default: {
            auto r = ServerResponse::json(200, R"([{"id": 1, "body": "x"}])");
            r.fault = Fault::cut_body;
            return r;
        }
    }
}

TEST(CommentLoad, TwoHundredUpdatesUnderRateLimitsAndFaultsLeaveOneCommentPerPullRequest) {
    constexpr int pulls = 10, updates = 20;
    FakeGitHub fake;
    for (int pr = 1; pr <= pulls; ++pr) fake.add_comment(pr, "octocat", "someone else's comment");
    std::atomic<long long> slept_ms{0};
    std::atomic<int> faults{0};
    // GitHub's side faults every other listing (GET) or edit (PATCH) at random, never the same request twice in a
    // row: a retry after a fault is answered, so the client's five attempts always suffice (faults scripted by a
    // polling thread once piled up and met one listing five times in a row), yet about every update meets one. A
    // hang only every tenth fault (each costs the read timeout in real time).
    std::mutex chaos_mutex;
    std::mt19937 random(7);
    std::set<std::string> faulted_last;  // method + path of requests whose last arrival met a fault
    fake.server().intercept([&](const test::ServerRequest& request) -> std::optional<ServerResponse> {
        const bool listing = request.method == "GET" && test::match_path(list_pattern, request.path);
        const bool edit = request.method == "PATCH" && test::match_path(edit_pattern, request.path);
        if (!listing && !edit) return std::nullopt;
        std::lock_guard lock(chaos_mutex);
        const std::string key = request.method + " " + request.path;
        if (faulted_last.erase(key) || random() % 2) return std::nullopt;
        int kind = static_cast<int>(random() % 6);
        if (kind == 4 && faults % 10 != 0) kind = 0;
        // An edit whose answer is lost is not sent again (lib/http repeats no request that changes something once it
        // was sent): cut and hung answers go to the listing only; edits get limits and 5xx.
        if (edit && kind >= 4) kind = 2;
        faulted_last.insert(key);
        ++faults;
        return faulty(kind);
    });
    const auto started = std::chrono::steady_clock::now();
    std::mutex errors_mutex;
    std::vector<std::string> errors;
    std::atomic<int> succeeded{0};
    {
        std::vector<std::thread> jobs;
        for (int pr = 1; pr <= pulls; ++pr) {
            jobs.emplace_back([&, pr] {
                github::Client client(config_for(fake, slept_ms));
                for (int update = 0; update < updates; ++update) {
                    try {
                        comment::post_sticky(client, pr, "pr-" + std::to_string(pr), report(pr, update));
                        ++succeeded;
                    } catch (const std::exception& e) {
                        std::lock_guard lock(errors_mutex);
                        errors.push_back("pr " + std::to_string(pr) + " update " + std::to_string(update) + ": " +
                                         e.what());
                    }
                }
            });
        }
        for (auto& job : jobs) job.join();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    EXPECT_THAT(errors, testing::IsEmpty());
    EXPECT_EQ(succeeded.load(), pulls * updates);
    EXPECT_GE(faults.load(), 10) << "too few faults met the updates to prove anything";
    for (int pr = 1; pr <= pulls; ++pr) {
        const auto environment = "pr-" + std::to_string(pr);
        int ece = 0;
        std::string body;
        for (const auto& c : fake.comments(pr)) {
            if (comment::marker_matches(c.body, environment)) {
                ++ece;
                body = c.body;
            }
        }
        EXPECT_EQ(ece, 1) << environment;
        EXPECT_THAT(body, testing::HasSubstr("update " + std::to_string(updates - 1))) << environment;
        EXPECT_EQ(fake.comments(pr).size(), 2u) << "someone else's comment is untouched on " << environment;
    }
    std::printf("[figures] comments: %d updates on %d pull requests in %.1fs with %d injected faults, %zu requests, "
                "%.0fs of requested waits honoured (fake clock)\n",
                succeeded.load(), pulls, seconds, faults.load(), fake.server().requests().size(),
                static_cast<double>(slept_ms.load()) / 1000);
}


// An edit whose answer is cut off: a clear error naming the request (never the token), and the next update
// converges on the one comment.
TEST(CommentLoad, EditCutOffIsAClearErrorAndTheNextUpdateStillLeavesOneComment) {
    FakeGitHub fake;
    std::atomic<long long> slept_ms{0};
    github::Client client(config_for(fake, slept_ms));
    comment::post_sticky(client, 3, "pr-3", report(3, 0));
    for (Fault kind : {Fault::cut_body, Fault::close_connection}) {
        auto lost = ServerResponse::json(200, "{}");
        lost.fault = kind;
        fake.server().enqueue("PATCH", edit_pattern, {lost});
        try {
            comment::post_sticky(client, 3, "pr-3", report(3, 1));
        } catch (const Error& e) {
            EXPECT_THAT(e.what(), testing::HasSubstr("PATCH"));
            EXPECT_THAT(e.what(), testing::Not(testing::HasSubstr(fake.token())));
        }
        comment::post_sticky(client, 3, "pr-3", report(3, 2));
        int ece = 0;
        for (const auto& c : fake.comments(3)) ece += comment::marker_matches(c.body, "pr-3") ? 1 : 0;
        EXPECT_EQ(ece, 1);
    }
}


// The create request's answer is lost after GitHub made the comment (a proxy's 502, or the connection cut): the
// next run of ece - or lib/http's own retry - must not leave two comments.
TEST(CommentLoad, CreateWhoseAnswerWasLostLeavesOneComment) {
    for (int lost_status : {502, 0}) {
        FakeGitHub fake;
        std::atomic<long long> slept_ms{0};
        std::atomic<int> creates{0};
        // Every create is carried out; the first one's answer never arrives.
        fake.server().route("POST", list_pattern, [&](const test::ServerRequest& request) {
            const int issue = std::stoi(request.params.at("issue_number"));
            const std::string body(boost::json::parse(request.body).at("body").as_string());
            const auto id = fake.add_comment(issue, fake.bot_login(), body);
            if (creates++ == 0) {
                auto lost = ServerResponse::error(lost_status ? lost_status : 200, "lost");
                if (!lost_status) lost.fault = Fault::close_connection;
                return lost;
            }
            boost::json::object made{{"id", id}, {"body", body},
                                     {"user", boost::json::object{{"login", fake.bot_login()}, {"id", 41898282}}},
                                     {"html_url", "https://github.com/octo-org/warehouse/pull/4#issuecomment-" +
                                                      std::to_string(id)}};
            return ServerResponse::json(201, boost::json::serialize(made));
        });
        github::Client client(config_for(fake, slept_ms));
        try {
            comment::post_sticky(client, 4, "pr-4", report(4, 0));
        } catch (const Error& e) {
            EXPECT_THAT(e.what(), testing::Not(testing::HasSubstr(fake.token())));
        }
        const auto after_first = fake.comments(4).size();
        comment::post_sticky(client, 4, "pr-4", report(4, 1));  // the next run
        int ece = 0;
        std::string body;
        for (const auto& c : fake.comments(4))
            if (comment::marker_matches(c.body, "pr-4")) ++ece, body = c.body;
        EXPECT_EQ(ece, 1) << "answer lost with " << lost_status << "; " << creates << " create request(s)";
        EXPECT_THAT(body, testing::HasSubstr("update 1"));
        std::printf("[figures] create answer lost (%s): %d create requests, %zu comment(s) after the first run, 1 after "
                    "the next\n",
                    lost_status ? "502" : "connection closed", creates.load(), after_first);
    }
}

}  // namespace
}  // namespace ece::reliability
