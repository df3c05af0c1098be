#pragma once
// A fresh database per test with a unique prefix and production role (roles are cluster-wide), and helpers that
// act over a real connection as an environment's role.
#include "core/error.hpp"
#include "env/environments.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace ece::env::testing_support {

inline std::string unique_prefix() {
    std::string prefix = test::unique_name("e");
    prefix.resize(std::min(prefix.size(), max_prefix_bytes - 1));
    return prefix + "_";
}

class EnvTest : public ::testing::Test {
protected:
    EnvTest() : url(test::fresh_database("env")) {
        config.environments.prefix = unique_prefix();
        config.production.role = test::unique_name("prod");
        config.production.schemas = {"analytics"};
        config.environments.connection_limit = 3;
        config.environments.statement_timeout = std::chrono::milliseconds(1500);
    }

    Settings settings() const { return Settings{url, config, /*embedded=*/true, std::chrono::seconds(60)}; }

    // Runs sql as the database's superuser.
    void admin_exec(const std::string& sql) const {
        auto conn = pg::connect(url, "test admin");
        pqxx::nontransaction tx(conn);
        tx.exec(sql);
    }
    std::string admin_value(const std::string& sql) const {
        auto conn = pg::connect(url, "test admin");
        pqxx::nontransaction tx(conn);
        auto r = tx.exec(sql);
        return r.empty() || r[0][0].is_null() ? std::string("<null>") : r[0][0].as<std::string>();
    }

    std::string url;
    config::Config config;
};

// nullopt when sql succeeds as the credentials' role, else the error message.
inline std::optional<std::string> attempt(const Credentials& as, const std::string& sql) {
    try {
        auto conn = pg::connect(as.url(), "test as environment");
        pqxx::work tx(conn);
        tx.exec(sql);
        tx.commit();
        return std::nullopt;
    } catch (const std::exception& e) {
        return std::string(e.what());
    }
}

inline std::string value_as(const Credentials& as, const std::string& sql) {
    auto conn = pg::connect(as.url(), "test as environment");
    pqxx::work tx(conn);
    return tx.exec1(sql)[0].as<std::string>();
}

}  // namespace ece::env::testing_support
