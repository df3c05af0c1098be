// HTTP faults against ece's DigitalOcean provider: the fake DigitalOcean API (tests/support_do, a real HTTPS server on
// 127.0.0.1) answers 500, 502, 429, hangs, cuts the connection mid-body or closes it without answering. The
// provider must come through with exactly one cluster, give up after a bounded number of requests with an error that
// names what failed (and never the token), and a re-run after a failed create must not duplicate the cluster.
// lib/http's own fault tests are in tests/http/client_test.cpp (RELIABILITY.md lists them).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "core/error.hpp"
#include "cost/catalogue.hpp"
#include "digitalocean/provider.hpp"
#include "fake_digitalocean.hpp"
#include "support.hpp"

namespace ece::reliability {
namespace {

using test::Fault;
using test::ServerResponse;
using testing::HasSubstr;
using testing::Not;

class DigitalOceanFaults : public testing::Test {
protected:
    void SetUp() override {
        test::FakeDigitalOceanOptions options;
        options.now = [this] { return now(); };
        options.polls_until_online = 2;
        cloud = std::make_unique<test::FakeDigitalOcean>(options);
        digitalocean::ApiOptions api_options;
        api_options.base_url = cloud->api_url();
        api_options.token = cloud->token();
        api_options.http.ca_file = cloud->ca_file();
        api_options.http.proxy_from_environment = false;
        api_options.http.read_timeout = std::chrono::milliseconds(400);  // a hang costs 0.4 s of real time
        api_options.http.connect_timeout = std::chrono::milliseconds(2000);
        api_options.http.jitter = [] { return 0.5; };
        // Sleeping advances a fake clock: retries and polls cost no real time.
        api_options.clock = {[this] { return now(); }, [this](std::chrono::milliseconds ms) { fake_ms += ms.count(); }};
        api = std::make_unique<digitalocean::Api>(api_options);
        prices = cost::load_catalogue(std::filesystem::path(ECE_SOURCE_DIR) / "data/prices.json");
    }

    std::chrono::system_clock::time_point now() const {
        return std::chrono::system_clock::time_point(std::chrono::milliseconds(fake_ms.load()));
    }

    digitalocean::Provider provider() {
        digitalocean::ProviderConfig config;
        config.project = "reliability";
        config.size = "db-s-1vcpu-2gb";
        config.ca_dir = ca_dir.path();
        return digitalocean::Provider(*api, config, prices);
    }

    std::atomic<long long> fake_ms{std::int64_t{1'795'219'200} * 1000};
    std::unique_ptr<test::FakeDigitalOcean> cloud;
    std::unique_ptr<digitalocean::Api> api;
    cost::PriceCatalogue prices;
    test::TempDir ca_dir;
};


const ServerResponse plain_error(int status) { return ServerResponse::error(status, "scripted failure"); }

ServerResponse fault(Fault kind) {
    ServerResponse r = ServerResponse::json(200, R"({"database":{"id":"x"}})");
    r.fault = kind;
    return r;
}

// Every kind of fault while up waits for the new cluster: it comes online, once.
TEST_F(DigitalOceanFaults, UpThroughEveryKindOfFaultCreatesExactlyOneCluster) {
    ServerResponse too_many = plain_error(429);
    too_many.headers.set("Retry-After", "2");
    // Four faults in a row (the client tries five times per request), on both kinds of GET up sends. The pattern
    // also matches /v2/databases/options, which up reads first.
    cloud->server().enqueue("GET", "/v2/databases/{database_cluster_uuid}",
                            {plain_error(500), too_many, fault(Fault::hang), fault(Fault::cut_body)});
    cloud->server().enqueue("GET", "/v2/databases", {plain_error(502), fault(Fault::close_connection), too_many,
                                                     plain_error(503)});
    const auto started = std::chrono::steady_clock::now();
    auto env = provider().up("pr-7");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    EXPECT_TRUE(env.created);
    EXPECT_EQ(env.cluster.status, "online");
    EXPECT_EQ(cloud->clusters().size(), 1u);
    std::size_t posts = 0;
    for (const auto& r : cloud->server().requests()) posts += r.method == "POST" && r.path == "/v2/databases";
    EXPECT_EQ(posts, 1u);
    std::printf("[figures] DigitalOcean up through 8 faults: %zu requests, %.1fs real time\n",
                cloud->server().requests().size(), seconds);
}

// The create request's connection is cut: nothing says whether DigitalOcean acted. Either way a second up must
// end with one cluster (found by its tags), never two.
TEST_F(DigitalOceanFaults, CreateCutOffThenRerunNeverDuplicatesTheCluster) {
    for (Fault kind : {Fault::cut_body, Fault::close_connection, Fault::hang}) {
        cloud = nullptr;
        SetUp();
        cloud->server().enqueue("POST", "/v2/databases", {fault(kind)});
        try {
            provider().up("pr-8");
        } catch (const Error& e) {
            EXPECT_THAT(e.what(), HasSubstr("/v2/databases")) << "the error names the request";
            EXPECT_THAT(e.what(), Not(HasSubstr(cloud->token())));
        }
        auto env = provider().up("pr-8");
        EXPECT_EQ(env.cluster.status, "online");
        EXPECT_EQ(cloud->clusters().size(), 1u) << static_cast<int>(kind);
    }
    // The answer lost after DigitalOcean acted (a proxy's 502): the retried POST finds the name taken and up
    // adopts the tagged cluster.
    cloud = nullptr;
    SetUp();
    cloud->lose_answers("POST", 1, 502);
    provider().up("pr-9");
    EXPECT_EQ(cloud->clusters().size(), 1u);
}

// An API that never recovers: a bounded number of requests, then an error naming the status and the request.
TEST_F(DigitalOceanFaults, PersistentFailureGivesUpAfterBoundedRetriesWithAClearError) {
    cloud->fail_next(1000, 500);
    try {
        provider().up("pr-10");
        FAIL() << "up succeeded against an API answering 500";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("500"));
        EXPECT_THAT(e.what(), HasSubstr("/v2/"));
        EXPECT_THAT(e.what(), Not(HasSubstr(cloud->token())));
    }
    const auto sent = cloud->server().requests().size();
    EXPECT_LE(sent, 20u) << "retries are bounded";
    EXPECT_TRUE(cloud->clusters().empty());
    std::printf("[figures] DigitalOcean answering 500 forever: gave up after %zu requests\n", sent);
}


// TLS end to end through a real API client of ece: DigitalOcean with a certificate for another host, or a
// self-signed one, is refused even with the server's CA configured as trusted; no request reaches the API, no
// cluster is made, nothing is retried into a duplicate.
TEST(DigitalOceanTls, WrongHostOrSelfSignedCertificateIsRefused) {
    for (auto certificate : {test::ServerCertificate::wrong_host, test::ServerCertificate::self_signed}) {
        test::FakeDigitalOceanOptions options;
        options.server.certificate = certificate;
        test::FakeDigitalOcean cloud(options);
        digitalocean::ApiOptions api_options;
        api_options.base_url = cloud.api_url();
        api_options.token = cloud.token();
        api_options.http.ca_file = cloud.ca_file();
        api_options.http.proxy_from_environment = false;
        api_options.clock = {[] { return std::chrono::system_clock::now(); }, [](std::chrono::milliseconds) {}};
        digitalocean::Api api(api_options);
        test::TempDir ca_dir;
        digitalocean::ProviderConfig config;
        config.project = "reliability";
        config.ca_dir = ca_dir.path();
        digitalocean::Provider provider(api, config, cost::load_catalogue(std::filesystem::path(ECE_SOURCE_DIR) / "data/prices.json"));
        try {
            provider.up("pr-1");
            ADD_FAILURE() << "a bad certificate was accepted";
        } catch (const Error& e) {
            EXPECT_THAT(e.what(), testing::AnyOf(HasSubstr("mismatch"), HasSubstr("self-signed"))) << e.what();
            EXPECT_THAT(e.what(), Not(HasSubstr(cloud.token())));
        }
        EXPECT_TRUE(cloud.server().requests().empty());
        EXPECT_TRUE(cloud.clusters().empty());
    }
}

}  // namespace
}  // namespace ece::reliability
