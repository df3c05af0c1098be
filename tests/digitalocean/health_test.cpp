// The SELECT 1 health check against a real PostgreSQL (the shared test cluster; no TLS there, so sslmode=disable).
#include "core/error.hpp"
#include "digitalocean/health.hpp"
#include "pg/connect.hpp"
#include "pg_support.hpp"
#include "support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ece::test {
namespace {

digitalocean::EnvironmentConnection test_cluster_connection() {
    auto facts = pg::parse_url(admin_url());
    digitalocean::EnvironmentConnection c;
    c.host = facts.host.empty() ? "localhost" : facts.host;
    c.port = facts.port.empty() ? 5432 : std::stoi(facts.port);
    c.user = facts.user;
    c.password = facts.password;
    c.database = facts.dbname.empty() ? "postgres" : facts.dbname;
    c.sslmode = "disable";
    return c;
}

TEST(HealthCheck, AnsweringServerIsHealthy) {
    EXPECT_NO_THROW(digitalocean::select_one_health_check()(test_cluster_connection()));
}

TEST(HealthCheck, ServerThatDoesNotAnswerFailsWithAClearError) {
    auto c = test_cluster_connection();
    c.database = "no_such_database_" + unique_name("hc");
    try {
        digitalocean::select_one_health_check(std::chrono::seconds(5))(c);
        FAIL() << "expected the health check to fail";
    } catch (const Error& e) {
        EXPECT_THAT(e.message(), testing::HasSubstr("health check (SELECT 1)"));
        if (!c.password.empty()) {
            EXPECT_THAT(find_secrets(e.what(), {c.password}), testing::IsEmpty());
        }
    }
}

}  // namespace
}  // namespace ece::test
