// Publish by resize under kill -9: `ece-env publish` on provider digitalocean is SIGKILLed at chosen points of its
// conversation with the (fake) DigitalOcean API, then run again. Whatever the point, the re-run converges: the
// branch's cluster was resized once, is online at production's size, carries production's tag and neither its
// branch tag nor an expiry, the previous production cluster is gone, and no cluster was made twice. The clusters are
// real PostgreSQL servers (tests/support_do), so the health check of every re-run is real.
#include "fake_digitalocean.hpp"
#include "harness.hpp"
#include "support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <regex>
#include <thread>

namespace {

using ece::test::FakeDigitalOcean;
using ece::test::ServerRequest;
using ::testing::Contains;
using ::testing::Not;

constexpr const char* production_size = "db-s-1vcpu-2gb";

// Where to kill: true for the request after which the process dies (it never reads the answer).
struct KillPoint {
    std::string name;
    std::function<bool(const ServerRequest&)> here;
    int polls_until_resized = 0;  // > 0: the re-run finds the cluster still resizing
};

bool is_cluster_path(const std::string& path) {
    static const std::regex pattern("/v2/databases/[0-9a-f-]{36}");
    return std::regex_match(path, pattern);
}

bool tags_request(const ServerRequest& r, const std::string& method, const std::string& tag_part) {
    return r.method == method && r.path.starts_with("/v2/tags/") && r.path.ends_with("/resources") &&
           r.path.find(tag_part) != std::string::npos;
}

std::vector<KillPoint> kill_points() {
    std::vector<KillPoint> points{
        {"before the resize call (listing by tag)", [](const ServerRequest& r) { return r.method == "GET" && r.path == "/v2/databases"; }},
        {"right after the resize call", [](const ServerRequest& r) { return r.method == "PUT" && r.path.ends_with("/resize"); }},
        {"while waiting for online (still resizing)", [](const ServerRequest& r) { return r.method == "GET" && is_cluster_path(r.path); }, 2},
        {"after tagging production", [](const ServerRequest& r) { return tags_request(r, "POST", "production"); }},
        {"after deleting the previous production", [](const ServerRequest& r) { return r.method == "DELETE" && is_cluster_path(r.path); }},
        {"after dropping the branch tag", [](const ServerRequest& r) { return tags_request(r, "DELETE", "pr-"); }},
    };
    // Seeded points: the k-th request of the publish (ECE_FAULT_SEED changes them).
    std::mt19937 random(ece::reliability::fault_seed());
    for (int i = 0; i < 2; ++i) {
        const int k = std::uniform_int_distribution<int>(1, 14)(random);
        auto seen = std::make_shared<int>(0);
        points.push_back({"request #" + std::to_string(k) + " (seeded)", [k, seen](const ServerRequest&) { return ++*seen == k; }});
    }
    return points;
}

class PublishByResizeKilled : public ::testing::Test {
protected:
    static ece::test::FakeDigitalOceanOptions real_clusters() {
        ece::test::FakeDigitalOceanOptions options;
        options.polls_until_online = 0;
        options.polls_until_resized = 0;
        options.real_postgres = true;
        return options;
    }

    PublishByResizeKilled() : cloud_(real_clusters()) {
        std::ofstream(dir_ / "ece.yml") << "project: shop\nproduction:\n  role: analytics\n  schemas: [analytics]\n"
                                           "environments:\n  provider: digitalocean\n  prefix: ece_\n"
                                           "digitalocean:\n  region: fra1\n  version: \"16\"\n"
                                           "  size: db-s-4vcpu-8gb\n  production_size: " << production_size << "\n";
    }

    std::vector<std::string> ece_env(const std::vector<std::string>& args) const {
        std::vector<std::string> argv{ece::reliability::ece_env_binary, "--config", (dir_ / "ece.yml").string(),
                                      "--digitalocean-ca-file", cloud_.ca_file().string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }
    std::map<std::string, std::string> environment() const {
        return {{"DIGITALOCEAN_TOKEN", cloud_.token()}, {"DIGITALOCEAN_API_URL", cloud_.api_url()},
                {"HOME", dir_.path().string()}};
    }

    // Runs ece-env publish and SIGKILLs its process group right after the request `point` picks was carried out.
    ece::reliability::Outcome publish_killed(int pr, const KillPoint& point) {
        std::atomic<int> pid{0};
        std::atomic<bool> fired{false};
        cloud_.after_each_request([&](const ServerRequest& r) {
            if (fired || !point.here(r)) return;
            for (int i = 0; i < 1000 && pid == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            fired = true;
            ::kill(-pid.load(), SIGKILL);
        });
        ece::reliability::Spawned child(ece_env({"publish", "--pr", std::to_string(pr)}), environment(), dir_.path());
        pid = child.pid();
        auto outcome = child.wait(std::chrono::seconds(120));
        cloud_.after_each_request({});
        return outcome;
    }

    ece::test::TempDir dir_;
    FakeDigitalOcean cloud_;
};

TEST_F(PublishByResizeKilled, EveryKillPointConvergesOnReRun) {
    cloud_.add_production_cluster("shop");

    int pr = 100;
    for (const auto& point : kill_points()) {
        SCOPED_TRACE(point.name);
        ++pr;
        const std::string cluster = "ece-shop-pr-" + std::to_string(pr);
        auto up = ece::reliability::run(ece_env({"up", "--branch", "feature/" + std::to_string(pr), "--pr",
                                                 std::to_string(pr)}), environment(), dir_.path());
        ASSERT_EQ(up.exit_code, 0) << up.err;
        const auto events_before = cloud_.events().size();
        cloud_.set_polls_until_resized(point.polls_until_resized);

        const auto killed = publish_killed(pr, point);
        ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << "the kill point was never reached: " << killed.out << killed.err;

        const auto rerun = ece::reliability::run(ece_env({"publish", "--pr", std::to_string(pr)}), environment(),
                                                 dir_.path());
        ASSERT_EQ(rerun.exit_code, 0) << rerun.err;

        const auto events = cloud_.events();
        const auto resizes = std::count_if(events.begin() + static_cast<std::ptrdiff_t>(events_before), events.end(),
                                           [&](const std::string& e) { return e.starts_with("resize " + cluster + " "); });
        EXPECT_EQ(resizes, 1) << "one resize, whatever the kill point";
        const auto clusters = cloud_.clusters();
        ASSERT_EQ(clusters.size(), 1u) << "the previous production is gone and nothing was made twice";
        const auto& now = clusters[0];
        EXPECT_EQ(now.name, cluster);
        EXPECT_EQ(now.status, "online");
        EXPECT_EQ(now.size, production_size);
        EXPECT_THAT(now.tags, Contains("ece-env:production"));
        EXPECT_THAT(now.tags, Not(Contains("ece-env:pr-" + std::to_string(pr))));
        for (const auto& tag : now.tags) EXPECT_FALSE(tag.starts_with("ece-expires:")) << "production never expires";
    }
}

}  // namespace
