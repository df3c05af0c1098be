// Sticky comments against FakeGitHub, a stateful fake of GitHub's REST API on a real local HTTPS server.
#include "comment/marker.hpp"
#include "comment/render.hpp"
#include "comment/sticky.hpp"
#include "core/error.hpp"
#include "core/secrets.hpp"
#include "fake_github.hpp"
#include "support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace ece::comment {
namespace {

using namespace std::chrono_literals;
using ece::test::FakeGitHub;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::Not;

constexpr int pr = 7;
const std::string comments_pattern = "/repos/{owner}/{repo}/issues/{issue_number}/comments";

github::ClientConfig config_for(const FakeGitHub& fake) {
    github::ClientConfig config = fake.client_config();
    config.http.read_timeout = 5s;
    config.http.sleep = [](std::chrono::milliseconds) {};
    return config;
}

Report report_for(const std::string& environment, Status status, const std::string& note = {}) {
    Report report;
    report.header = {environment, "feature/x", status, "4f2a9c1e0b7d3a5c6e8f9a0b1c2d3e4f5a6b7c8d", pr,
                     "https://github.com/octo-org/warehouse/actions/runs/1"};
    if (!note.empty()) report.warnings.push_back(note);
    return report;
}

Rendered rendered_for(const std::string& environment, Status status = Status::ready, const std::string& note = {}) {
    return render_comment(report_for(environment, status, note));
}

std::vector<FakeGitHub::Comment> ece_comments(const FakeGitHub& fake, const std::string& environment) {
    std::vector<FakeGitHub::Comment> out;
    for (const auto& c : fake.comments(pr)) {
        if (marker_matches(c.body, environment)) out.push_back(c);
    }
    return out;
}

// Requests of method that reached the fake (only those on pattern, when given).
std::size_t requests_with(FakeGitHub& fake, const std::string& method, const std::string& pattern = {}) {
    std::size_t n = 0;
    for (const auto& r : fake.server().requests())
        n += r.method == method && (pattern.empty() || test::match_path(pattern, r.path)) ? 1 : 0;
    return n;
}

// Waits until `count` lists of the pull request's comments have reached the fake; false when not within `limit`.
bool wait_for_comment_lists(FakeGitHub& fake, std::size_t count, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (requests_with(fake, "GET", comments_pattern) < count) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// 250 comments over 3 pages of 100, every third one by someone else; ece's own for pr-7 on page 3.
struct Crowded {
    FakeGitHub fake;
    std::vector<FakeGitHub::Comment> others;
    std::int64_t ece_id = 0;

    Crowded() {
        for (int i = 0; i < 249; ++i) {
            fake.add_comment(pr, i % 3 == 0 ? "octocat" : "hubot", "Comment " + std::to_string(i) + " <b>as is</b>\r\n");
        }
        // Someone quoting a marker of another environment, and one for pr-7 inside a code block line.
        fake.add_comment(pr, "octocat", "look:\n" + make_marker("pr-12", std::string(64, 'a')) + "\n");
        fake.add_comment(pr, "octocat", "`" + make_marker("pr-7", std::string(64, 'b')) + "`");
        ece_id = fake.add_comment(pr, fake.bot_login(), rendered_for("pr-7", Status::building).markdown);
        for (const auto& c : fake.comments(pr)) {
            if (c.id != ece_id) others.push_back(c);
        }
    }

    void expect_others_untouched() const {
        std::vector<FakeGitHub::Comment> now;
        for (const auto& c : fake.comments(pr)) {
            if (!marker_matches(c.body, "pr-7") || c.user != fake.bot_login()) now.push_back(c);
        }
        ASSERT_EQ(now.size(), others.size());
        for (std::size_t i = 0; i < now.size(); ++i) {
            EXPECT_EQ(now[i].id, others[i].id);
            EXPECT_EQ(now[i].body, others[i].body) << "comment " << now[i].id << " changed";
            EXPECT_EQ(now[i].updated_at, others[i].updated_at);
        }
    }
};

TEST(Sticky, BehaviorNames) {
    EXPECT_EQ(parse_behavior("update"), Behavior::update);
    EXPECT_EQ(parse_behavior("new"), Behavior::new_comment);
    EXPECT_EQ(parse_behavior("delete-and-new"), Behavior::delete_and_new);
    EXPECT_EQ(behavior_name(Behavior::delete_and_new), "delete-and-new");
    EXPECT_THROW(parse_behavior("replace"), Error);
}

TEST(Sticky, CreatesTheFirstComment) {
    FakeGitHub fake;
    github::Client client(config_for(fake));
    auto rendered = rendered_for("pr-7");
    auto result = post_sticky(client, pr, "pr-7", rendered);
    EXPECT_EQ(result.action, StickyAction::created);
    ASSERT_EQ(fake.comments(pr).size(), 1u);
    EXPECT_EQ(fake.comments(pr)[0].body, rendered.markdown);
    EXPECT_EQ(result.comment_id, fake.comments(pr)[0].id);
    EXPECT_THAT(result.url, HasSubstr(std::to_string(result.comment_id)));
}

TEST(Sticky, FindsItsCommentOnPageThreeAndUpdatesItInPlace) {
    Crowded crowded;
    auto& fake = crowded.fake;
    github::Client client(config_for(fake));
    fake.server().clear_requests();
    auto rendered = rendered_for("pr-7", Status::ready);
    auto result = post_sticky(client, pr, "pr-7", rendered);

    EXPECT_EQ(result.action, StickyAction::updated);
    EXPECT_EQ(result.comment_id, crowded.ece_id);
    auto mine = ece_comments(fake, "pr-7");
    ASSERT_EQ(mine.size(), 1u);  // octocat's copy in backticks is not a marker line
    EXPECT_EQ(mine[0].id, crowded.ece_id);
    EXPECT_EQ(mine[0].body, rendered.markdown);
    crowded.expect_others_untouched();
    // Every page was read with per_page=100, then one PATCH and nothing else.
    std::vector<std::string> gets;
    for (const auto& r : fake.server().requests()) {
        if (r.method == "GET") gets.push_back(r.query);
    }
    ASSERT_EQ(gets.size(), 3u);
    for (const auto& q : gets) EXPECT_THAT(q, HasSubstr("per_page=100"));
    EXPECT_EQ(requests_with(fake, "PATCH"), 1u);
    EXPECT_EQ(requests_with(fake, "POST"), 0u);
    EXPECT_EQ(requests_with(fake, "DELETE"), 0u);
}

TEST(Sticky, AnUnchangedReportSendsNoPatch) {
    Crowded crowded;
    auto& fake = crowded.fake;
    github::Client client(config_for(fake));
    auto rendered = rendered_for("pr-7", Status::ready);
    ASSERT_EQ(post_sticky(client, pr, "pr-7", rendered).action, StickyAction::updated);
    fake.server().clear_requests();
    auto mutations = fake.mutations();

    auto again = post_sticky(client, pr, "pr-7", rendered_for("pr-7", Status::ready));
    EXPECT_EQ(again.action, StickyAction::unchanged);
    EXPECT_EQ(again.comment_id, crowded.ece_id);
    EXPECT_EQ(fake.mutations(), mutations);
    EXPECT_EQ(requests_with(fake, "PATCH"), 0u);
    EXPECT_EQ(requests_with(fake, "GET"), 3u);
    crowded.expect_others_untouched();
}

TEST(Sticky, NewPostsAnotherCommentAndKeepsTheOld) {
    Crowded crowded;
    auto& fake = crowded.fake;
    github::Client client(config_for(fake));
    auto rendered = rendered_for("pr-7", Status::ready);
    auto result = post_sticky(client, pr, "pr-7", rendered, {Behavior::new_comment, {}});
    EXPECT_EQ(result.action, StickyAction::created);
    EXPECT_NE(result.comment_id, crowded.ece_id);
    auto all = fake.comments(pr);
    ASSERT_EQ(all.size(), 253u);
    EXPECT_EQ(all.back().body, rendered.markdown);
    EXPECT_EQ(requests_with(fake, "PATCH"), 0u);
    crowded.expect_others_untouched();
    // The newest already says this: nothing new.
    EXPECT_EQ(post_sticky(client, pr, "pr-7", rendered, {Behavior::new_comment, {}}).action, StickyAction::unchanged);
    EXPECT_EQ(fake.comments(pr).size(), 253u);
}

TEST(Sticky, DeleteAndNewMovesTheCommentToTheBottom) {
    Crowded crowded;
    auto& fake = crowded.fake;
    github::Client client(config_for(fake));
    auto rendered = rendered_for("pr-7", Status::failed);
    auto result = post_sticky(client, pr, "pr-7", rendered, {Behavior::delete_and_new, {}});
    EXPECT_EQ(result.action, StickyAction::deleted_and_created);
    EXPECT_EQ(result.deleted, 1u);
    auto all = fake.comments(pr);
    ASSERT_EQ(all.size(), 252u);
    EXPECT_EQ(all.back().id, result.comment_id);
    EXPECT_EQ(all.back().body, rendered.markdown);
    for (const auto& c : all) EXPECT_NE(c.id, crowded.ece_id);
    crowded.expect_others_untouched();
}

TEST(Sticky, MarkerOfPr1NeverMatchesPr12) {
    FakeGitHub fake;
    auto pr12 = fake.add_comment(pr, fake.bot_login(), rendered_for("pr-12").markdown);
    auto pr12_body = fake.comments(pr)[0].body;
    github::Client client(config_for(fake));
    auto result = post_sticky(client, pr, "pr-1", rendered_for("pr-1"));
    EXPECT_EQ(result.action, StickyAction::created);
    EXPECT_NE(result.comment_id, pr12);
    ASSERT_EQ(fake.comments(pr).size(), 2u);
    EXPECT_EQ(fake.comments(pr)[0].body, pr12_body);
    // And the other way round: pr-12's update leaves pr-1's comment alone.
    auto pr1_body = fake.comments(pr)[1].body;
    EXPECT_EQ(post_sticky(client, pr, "pr-12", rendered_for("pr-12", Status::failed)).comment_id, pr12);
    EXPECT_EQ(fake.comments(pr)[1].body, pr1_body);
}

TEST(Sticky, OnlyTheGivenAuthorsCommentsCount) {
    FakeGitHub fake;
    // A person pasted ece's exact comment: with author set, it is not ece's.
    fake.add_comment(pr, "octocat", rendered_for("pr-7", Status::building).markdown);
    github::Client client(config_for(fake));
    auto result = post_sticky(client, pr, "pr-7", rendered_for("pr-7"), {Behavior::update, fake.bot_login()});
    EXPECT_EQ(result.action, StickyAction::created);
    EXPECT_EQ(fake.comments(pr).size(), 2u);
    EXPECT_EQ(fake.comments(pr)[0].body, rendered_for("pr-7", Status::building).markdown);
}

// Two jobs for one environment, both listing before either posts: the fake holds both first lists (answering them
// with no comments) until both have arrived, however slowly the threads start; each job creates one, then sees the
// other's and they settle on the oldest.
TEST(Sticky, TwoRacingJobsLeaveOneComment) {
    FakeGitHub fake;
    fake.add_comment(pr, "octocat", "unrelated");
    std::promise<void> both_listed;
    auto empty = test::ServerResponse{200, {}, "[]"};
    empty.headers.set("Content-Type", "application/json");
    empty.hold = both_listed.get_future().share();
    fake.server().enqueue("GET", comments_pattern, {empty, empty});
    auto first = rendered_for("pr-7", Status::building);
    auto second = rendered_for("pr-7", Status::ready);
    StickyResult a, b;
    std::thread job_a([&] {
        github::Client client(config_for(fake));
        a = post_sticky(client, pr, "pr-7", first);
    });
    std::thread job_b([&] {
        github::Client client(config_for(fake));
        b = post_sticky(client, pr, "pr-7", second);
    });
    bool both_arrived = wait_for_comment_lists(fake, 2, 60s);
    both_listed.set_value();
    job_a.join();
    job_b.join();
    ASSERT_TRUE(both_arrived) << "the two jobs' lists never both reached the fake";
    EXPECT_EQ(requests_with(fake, "POST"), 2u);
    auto mine = ece_comments(fake, "pr-7");
    ASSERT_EQ(mine.size(), 1u);
    EXPECT_EQ(a.comment_id, mine[0].id);
    EXPECT_EQ(b.comment_id, mine[0].id);
    EXPECT_TRUE(mine[0].body == first.markdown || mine[0].body == second.markdown);
    EXPECT_EQ(fake.comments(pr).front().body, "unrelated");
    EXPECT_EQ(fake.comments(pr).size(), 2u);
}

// The same without scripting: several rounds of two threads on a fresh pull request.
TEST(Sticky, RacingJobsConvergeOnOneCommentEveryRound) {
    for (int round = 0; round < 5; ++round) {
        FakeGitHub fake;
        std::vector<std::thread> jobs;
        for (int j = 0; j < 2; ++j) {
            jobs.emplace_back([&, j] {
                github::Client client(config_for(fake));
                post_sticky(client, pr, "pr-7", rendered_for("pr-7", j ? Status::ready : Status::failed));
            });
        }
        for (auto& t : jobs) t.join();
        EXPECT_EQ(ece_comments(fake, "pr-7").size(), 1u) << "round " << round;
    }
}

TEST(Sticky, LeftoverDuplicatesAreRemovedOnTheNextUpdate) {
    FakeGitHub fake;
    auto oldest = fake.add_comment(pr, fake.bot_login(), rendered_for("pr-7", Status::building).markdown);
    fake.add_comment(pr, "octocat", "between");
    fake.add_comment(pr, fake.bot_login(), rendered_for("pr-7", Status::planning).markdown);
    github::Client client(config_for(fake));
    auto result = post_sticky(client, pr, "pr-7", rendered_for("pr-7"));
    EXPECT_EQ(result.action, StickyAction::updated);
    EXPECT_EQ(result.comment_id, oldest);
    EXPECT_EQ(result.deleted, 1u);
    EXPECT_EQ(fake.comments(pr).size(), 2u);
}

Report long_report() {
    auto report = report_for("pr-7", Status::failed);
    std::vector<DbtResult> results;
    for (int i = 0; i < 1000; ++i) {
        results.push_back({"model.warehouse.a_rather_long_model_name_number_" + std::to_string(i), "model",
                           i % 50 == 0 ? "error" : "success", 0.5, i, "SELECT " + std::to_string(i)});
    }
    report.dbt_results = results;
    return report;
}

TEST(Sticky, A70000CharacterReportIsCutToFit) {
    auto report = long_report();
    auto full = render(report, {10 << 20, true});
    ASSERT_GT(full.markdown.size(), 70000u);
    auto rendered = render_comment(report);
    EXPECT_TRUE(rendered.shortened);
    EXPECT_LE(rendered.markdown.size(), github_comment_limit);
    EXPECT_THAT(rendered.markdown, HasSubstr(summary_line(report)));
    EXPECT_THAT(rendered.markdown, HasSubstr("and "));

    FakeGitHub fake;
    github::Client client(config_for(fake));
    // The fake refuses what GitHub refuses.
    try {
        client.create_issue_comment(pr, full.markdown);
        ADD_FAILURE() << "a body over 65,536 characters was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.where().http_status, 422);
    }
    auto result = post_sticky(client, pr, "pr-7", rendered);
    EXPECT_EQ(result.action, StickyAction::created);
    ASSERT_EQ(fake.comments(pr).size(), 1u);
    EXPECT_EQ(fake.comments(pr)[0].body, rendered.markdown);
}

TEST(Sticky, AnExpiredTokenIsAClearAuthErrorWithoutTheToken) {
    FakeGitHub fake;
    auto config = config_for(fake);
    config.token = "ghs_ExpiredToken000000000000000000000000";
    github::Client client(config);
    try {
        post_sticky(client, pr, "pr-7", rendered_for("pr-7"));
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::auth);
        EXPECT_EQ(e.where().http_status, 401);
        EXPECT_THAT(e.what(), HasSubstr("refused the token"));
        EXPECT_THAT(test::find_secrets(e.what(), {config.token, fake.token()}), IsEmpty());
    }
    EXPECT_THAT(fake.comments(pr), IsEmpty());
}

TEST(Sticky, RefusesARenderingWithoutItsMarker) {
    FakeGitHub fake;
    github::Client client(config_for(fake));
    auto rendered = rendered_for("pr-8");
    EXPECT_THROW(post_sticky(client, pr, "pr-7", rendered), Error);
    EXPECT_EQ(fake.mutations(), 0u);
}

}  // namespace
}  // namespace ece::comment
