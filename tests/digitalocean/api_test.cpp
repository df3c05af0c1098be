// The API client against the fake DigitalOcean: waiting, errors (401, 422, 429, 5xx), CA certificate, options.
#include "do_fixture.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"

#include <gmock/gmock.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <sys/stat.h>

namespace ece::test {
namespace {

using digitalocean::Api;
using digitalocean::ClusterSpec;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::Not;

class ApiTest : public DigitalOceanTest {
protected:
    ClusterSpec spec(const std::string& name, const std::string& size = "db-s-1vcpu-2gb") {
        return {.name = name, .engine = "pg", .version = "16", .size = size, .region = "fra1", .num_nodes = 1,
                .tags = {"ece", "ece-env:pr-1"}};
    }
};

TEST_F(ApiTest, ClusterStartsCreatingAndIsOnlineAfterSeveralPolls) {
    Api api(api_options());
    auto created = api.create_cluster(spec("ece-x-pr-1"));
    EXPECT_EQ(created.status, "creating");
    std::vector<std::string> seen;
    auto online = api.wait_until_online(created.id, {}, [&](const digitalocean::Cluster& c) { seen.push_back(c.status); });
    EXPECT_EQ(online.status, "online");
    EXPECT_THAT(seen, testing::ElementsAre("creating", "creating", "creating", "online"));
    // Intervals grow: 5 s, 7.5 s, 11.25 s, with nothing really slept.
    auto sleeps = clock_.sleeps();
    ASSERT_EQ(sleeps.size(), 3u);
    EXPECT_LT(sleeps[0], sleeps[1]);
    EXPECT_LT(sleeps[1], sleeps[2]);
    EXPECT_EQ(requests("GET", "/v2/databases/{database_cluster_uuid}").size(), 4u);
}

TEST_F(ApiTest, WaitingGivesUpAtTheDeadlineNamingClusterAndStatus) {
    cloud_->never_online("ece-x-stuck");
    Api api(api_options());
    auto created = api.create_cluster(spec("ece-x-stuck"));
    auto start = clock_.now();
    try {
        api.wait_until_online(created.id, {.timeout = std::chrono::minutes(10)});
        FAIL() << "expected a deadline error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::network);
        EXPECT_THAT(e.message(), HasSubstr("ece-x-stuck"));
        EXPECT_THAT(e.message(), HasSubstr("not online after 10 min"));
        EXPECT_THAT(e.message(), HasSubstr("status: creating"));
    }
    EXPECT_GE(clock_.now() - start, std::chrono::minutes(10));
    EXPECT_LE(clock_.now() - start, std::chrono::minutes(11)) << "the last sleep must not overshoot the deadline";
}

TEST_F(ApiTest, WaitingRidesOutAnApiOutageLongerThanTheClientsRetries) {
    Api api(api_options());
    auto created = api.create_cluster(spec("ece-x-pr-2"));
    cloud_->fail_next(7, 503);  // more than lib/http's 5 attempts of one poll
    auto online = api.wait_until_online(created.id);
    EXPECT_EQ(online.status, "online");
}

TEST_F(ApiTest, WaitingStopsAtOnceWhenTheClusterIsGone) {
    Api api(api_options());
    auto created = api.create_cluster(spec("ece-x-pr-3"));
    api.delete_cluster(created.id);
    EXPECT_THAT([&] { api.wait_until_online(created.id); },
                testing::ThrowsMessage<Error>(HasSubstr("does not exist")));
    EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(ApiTest, RejectedTokenIsAClearAuthErrorWithoutTheToken) {
    std::string bad_token = "dop_v1_ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    Api api(api_options(bad_token));
    try {
        api.list_clusters(std::string("ece"));
        FAIL() << "expected 401";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::auth);
        EXPECT_EQ(e.where().http_status, 401);
        EXPECT_THAT(e.message(), HasSubstr("DIGITALOCEAN_TOKEN is invalid, expired or revoked"));
        EXPECT_THAT(e.message(), HasSubstr("Unable to authenticate you."));
        EXPECT_THAT(find_secrets(e.what(), {bad_token}), IsEmpty());
    }
    EXPECT_EQ(cloud_->server().requests().size(), 1u) << "401 is not retried";
}

TEST_F(ApiTest, ExpiredTokenIsAnAuthError) {
    Api api(api_options());
    api.list_clusters();
    cloud_->expire_token();
    try {
        api.list_clusters();
        FAIL() << "expected 401";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::auth);
        EXPECT_THAT(find_secrets(e.what(), {cloud_->token()}), IsEmpty());
    }
}

TEST_F(ApiTest, TokenComesFromTheEnvironmentAndIsMasked) {
    ::setenv("ECE_TEST_DO_TOKEN", "dop_v1_fromtheenvironment0123456789", 1);
    auto token = digitalocean::token_from_environment("ECE_TEST_DO_TOKEN");
    EXPECT_EQ(token, "dop_v1_fromtheenvironment0123456789");
    EXPECT_EQ(mask_secrets("token " + token), "token ***");
    ::unsetenv("ECE_TEST_DO_TOKEN");
    try {
        digitalocean::token_from_environment("ECE_TEST_DO_TOKEN");
        FAIL() << "expected an error for a missing token";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::auth);
        EXPECT_THAT(e.message(), HasSubstr("set ECE_TEST_DO_TOKEN"));
    }
}

TEST_F(ApiTest, RateLimitedRequestsAreRetried) {
    Api api(api_options());
    cloud_->rate_limit_next(2, clock_.epoch_seconds() + 30);
    EXPECT_THAT(api.list_clusters(), IsEmpty());
    EXPECT_EQ(cloud_->server().requests().size(), 3u);
    EXPECT_EQ(clock_.sleeps().size(), 2u);
}

TEST_F(ApiTest, RateLimitWaitsForRatelimitReset) {
    Api api(api_options());
    // lib/http reads DigitalOcean's ratelimit-reset (epoch seconds, no x-) and waits until the window turns over.
    cloud_->rate_limit_next(3, clock_.epoch_seconds() + 45);
    auto start = clock_.now();
    EXPECT_THAT(api.list_clusters(), IsEmpty());
    EXPECT_EQ(cloud_->server().requests().size(), 4u);
    EXPECT_GE(clock_.now() - start, std::chrono::seconds(45));
}

TEST_F(ApiTest, PersistentRateLimitIsANetworkErrorNamingTheLimit) {
    Api api(api_options());
    cloud_->rate_limit_next(1000, clock_.epoch_seconds() + 3600);  // an hour: beyond what ece waits
    try {
        api.list_clusters();
        FAIL() << "expected 429";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::network);
        EXPECT_EQ(e.where().http_status, 429);
        EXPECT_THAT(e.message(), HasSubstr("rate limit"));
    }
}

TEST_F(ApiTest, ServerErrorsAreRetried) {
    Api api(api_options());
    cloud_->fail_next(2, 503);
    auto created = api.create_cluster(spec("ece-x-pr-5"));
    EXPECT_EQ(created.status, "creating");
    EXPECT_EQ(requests("POST", "/v2/databases").size(), 3u);
    EXPECT_EQ(cloud_->clusters().size(), 1u);

    cloud_->fail_next(100, 500);
    try {
        api.get_cluster(created.id);
        FAIL() << "expected 500";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::network);
        EXPECT_EQ(e.where().http_status, 500);
        EXPECT_THAT(e.message(), HasSubstr("after retries"));
        EXPECT_THAT(e.message(), HasSubstr("reading database cluster " + created.id));
    }
}

TEST_F(ApiTest, ServerRefusingASizeNamesItAndQuotesDigitalOcean) {
    Api api(api_options());
    try {
        api.create_cluster(spec("ece-x-pr-6", "db-s-64vcpu-1tb"));
        FAIL() << "expected 422";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_EQ(e.where().http_status, 422);
        EXPECT_THAT(e.message(), HasSubstr("db-s-64vcpu-1tb"));
        EXPECT_THAT(e.message(), HasSubstr("invalid size slug"));
    }
    EXPECT_TRUE(cloud_->clusters().empty());
}

TEST_F(ApiTest, OptionsListTheSizesOfTheFixture) {
    Api api(api_options());
    auto pg = api.engine_options("pg");
    EXPECT_TRUE(pg.offers("db-s-1vcpu-1gb", 1));
    EXPECT_TRUE(pg.offers("db-s-2vcpu-4gb", 3));
    EXPECT_FALSE(pg.offers("db-s-1vcpu-1gb", 3)) << "the 1 GB size is single-node only";
    EXPECT_FALSE(pg.offers("db-s-64vcpu-1tb", 1));
    EXPECT_THAT(pg.regions, testing::Contains("fra1"));
    EXPECT_FALSE(pg.versions.empty());
}

TEST_F(ApiTest, CaCertificateIsWrittenAsPemReadableOnlyByTheOwner) {
    Api api(api_options());
    auto created = api.create_cluster(spec("ece-x-pr-7"));
    TempDir dir;
    auto file = api.write_ca_certificate(created.id, dir / "ca" / "cluster.pem");
    EXPECT_EQ(read_file(file), cloud_->ca_certificate_pem());
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    FILE* f = std::fopen(file.c_str(), "r");
    ASSERT_NE(f, nullptr);
    X509* certificate = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    EXPECT_NE(certificate, nullptr) << "OpenSSL must read it as a certificate";
    X509_free(certificate);
}

TEST_F(ApiTest, UserPasswordsAreRegisteredAsSecrets) {
    Api api(api_options());
    auto created = api.create_cluster(spec("ece-x-pr-8"));
    auto user = api.create_user(created.id, "ece_pr_8");
    ASSERT_FALSE(user.password.empty());
    EXPECT_EQ(mask_secrets("pw=" + user.password), "pw=***");
    auto again = api.find_user(created.id, "ece_pr_8");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->password, user.password);
    EXPECT_EQ(api.find_user(created.id, "nobody"), std::nullopt);
}

TEST_F(ApiTest, TagsAreCreatedThenAttachedAndDetached) {
    Api api(api_options());
    auto created = api.create_cluster(spec("ece-x-pr-9"));
    api.add_tag(created.id, "ece-env:production");
    EXPECT_TRUE(api.get_cluster(created.id).has_tag("ece-env:production"));
    api.remove_tag(created.id, "ece-env:pr-1");
    auto now = api.get_cluster(created.id);
    EXPECT_FALSE(now.has_tag("ece-env:pr-1"));
    EXPECT_EQ(now.tag_value("ece-env:"), "production");
    EXPECT_EQ(requests("POST", "/v2/tags").size(), 1u);
}

}  // namespace
}  // namespace ece::test
