#include "pg/embedded.hpp"

#include "core/error.hpp"
#include "pg/connect.hpp"
#include "process/process.hpp"
#include "support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using ece::pg::EmbeddedOptions;
using ece::pg::EmbeddedServer;

namespace {

// Stops and removes the cluster even when an assertion fails.
struct ClusterGuard {
    fs::path dir;
    ~ClusterGuard() {
        try {
            ece::pg::destroy_embedded(dir);
        } catch (...) {
        }
    }
};

mode_t mode_of(const fs::path& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_mode & 07777;
}

uid_t owner_of(const fs::path& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_uid;
}

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

bool answers(const std::string& url) {
    try {
        auto conn = ece::pg::connect(url, "embedded test", std::chrono::seconds(3));
        pqxx::nontransaction tx(conn);
        return tx.exec1("SELECT 1")[0].as<int>() == 1;
    } catch (const ece::Error&) {
        return false;
    }
}

const EmbeddedOptions fast{.durable = false};

}  // namespace

TEST(Embedded, StartsReusesStopsAndRestarts) {
    ece::test::TempDir tmp;
    auto dir = tmp / "pg";
    ClusterGuard guard{dir};

    auto t0 = Clock::now();
    auto first = ece::pg::ensure_embedded(dir, fast);
    auto cold_ms = ms_since(t0);
    EXPECT_TRUE(first.started_now);
    EXPECT_GT(first.port, 0);
    EXPECT_TRUE(answers(first.admin_url));

    auto t1 = Clock::now();
    auto again = ece::pg::ensure_embedded(dir, fast);
    auto reuse_ms = ms_since(t1);
    EXPECT_FALSE(again.started_now);
    EXPECT_EQ(again.port, first.port);
    EXPECT_EQ(again.admin_url, first.admin_url);
    std::cout << "[timing] cold start " << cold_ms << " ms, reuse " << reuse_ms << " ms\n";

    {
        auto conn = ece::pg::connect(first.admin_url, "embedded checks");
        pqxx::nontransaction tx(conn);
        EXPECT_EQ(tx.exec1("SHOW listen_addresses")[0].as<std::string>(), "127.0.0.1");
        EXPECT_EQ(tx.exec1("SHOW server_encoding")[0].as<std::string>(), "UTF8");
        EXPECT_EQ(tx.exec1("SHOW unix_socket_permissions")[0].as<std::string>(), "0700");
        EXPECT_EQ(tx.exec1("SELECT current_setting('server_version_num')::int / 10000")[0].as<int>(), 15);
    }
    EXPECT_EQ(mode_of(first.server_root / "data"), 0700u);
    EXPECT_EQ(mode_of(first.server_root / "run"), 0700u);
    EXPECT_EQ(mode_of(dir / "admin-password"), 0600u);
    if (ece::process::running_as_root()) {
        EXPECT_NE(owner_of(first.server_root / "data"), 0u);
    }

    // Password authentication for everyone: no password, no entry.
    auto facts = ece::pg::parse_url(first.admin_url);
    facts.password.clear();
    EXPECT_FALSE(answers(ece::pg::make_url(facts)));

    auto t2 = Clock::now();
    ece::pg::stop_embedded(dir);
    auto stop_ms = ms_since(t2);
    EXPECT_FALSE(answers(first.admin_url));
    ece::pg::stop_embedded(dir);  // stopping a stopped cluster is fine

    auto t3 = Clock::now();
    auto restarted = ece::pg::ensure_embedded(dir, fast);
    auto warm_ms = ms_since(t3);
    EXPECT_TRUE(restarted.started_now);
    // The previous port is reused only while free: a parallel test process may take it meanwhile, so the port
    // is not asserted here.
    EXPECT_TRUE(answers(restarted.admin_url));
    std::cout << "[timing] stop " << stop_ms << " ms, start of an existing cluster " << warm_ms << " ms\n";
}

TEST(Embedded, ConcurrentCallersShareOneServer) {
    ece::test::TempDir tmp;
    auto dir = tmp / "pg";
    ClusterGuard guard{dir};
    std::vector<EmbeddedServer> results(3);
    std::vector<std::string> errors(3);
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
        threads.emplace_back([&, i] {
            try {
                results[i] = ece::pg::ensure_embedded(dir, fast);
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    }
    for (auto& t : threads) t.join();
    int started = 0;
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(errors[i], "");
        EXPECT_EQ(results[i].port, results[0].port);
        started += results[i].started_now ? 1 : 0;
    }
    EXPECT_EQ(started, 1);
    EXPECT_TRUE(answers(results[0].admin_url));
}

TEST(Embedded, AsRootMovesOutOfADirectoryTheServerUserCannotReach) {
    if (!ece::process::running_as_root()) GTEST_SKIP() << "needs root";
    ece::test::TempDir tmp;
    auto hidden = tmp / "root-only";
    fs::create_directories(hidden);
    ::chmod(hidden.c_str(), 0700);  // like /root
    auto dir = hidden / "pg";
    ClusterGuard guard{dir};
    auto server = ece::pg::ensure_embedded(dir, fast);
    EXPECT_NE(server.server_root, dir);
    EXPECT_EQ(fs::path(ece::test::read_file(dir / "location")).parent_path(), server.server_root.parent_path());
    EXPECT_TRUE(answers(server.admin_url));
    auto root = server.server_root;
    ece::pg::destroy_embedded(dir);
    EXPECT_FALSE(fs::exists(root));
    EXPECT_FALSE(fs::exists(dir));
}

TEST(ResolveAdminUrl, FlagThenEnvironment) {
    ::setenv("ECE_DATABASE_URL", "postgresql://env-user@db.example:5433/prod", 1);
    EXPECT_EQ(ece::pg::resolve_admin_url(std::string("postgresql://flag@127.0.0.1/x")), "postgresql://flag@127.0.0.1/x");
    EXPECT_EQ(ece::pg::resolve_admin_url(std::nullopt), "postgresql://env-user@db.example:5433/prod");
    ::unsetenv("ECE_DATABASE_URL");
}

TEST(FindServerBindir, FindsInitdb) {
    auto bindir = ece::pg::find_server_bindir();
    EXPECT_TRUE(fs::exists(bindir / "initdb"));
    EXPECT_TRUE(fs::exists(bindir / "pg_ctl"));
}
