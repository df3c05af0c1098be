#include "pg/lock.hpp"

#include "core/error.hpp"
#include "pg/connect.hpp"
#include "pg_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace std::chrono_literals;
using ece::pg::AdvisoryLock;

namespace {

bool holds(pqxx::connection& conn, const std::string& name) {
    pqxx::nontransaction tx(conn);
    return tx.exec_params1("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                           "AND ((classid::bigint << 32) | objid::bigint) = $1",
                           AdvisoryLock::key_for(name))[0]
               .as<int>() == 1;
}

}  // namespace

TEST(AdvisoryLock, SecondHolderTimesOutWithAConflict) {
    auto name = "env:" + ece::test::unique_name("lock");
    auto first = ece::pg::connect(ece::test::admin_url(), "lock holder");
    auto second = ece::pg::connect(ece::test::admin_url(), "lock waiter");
    {
        AdvisoryLock held(first, name);
        EXPECT_TRUE(holds(first, name));
        auto started = std::chrono::steady_clock::now();
        try {
            AdvisoryLock blocked(second, name, 300ms);
            FAIL() << "took a lock that is held";
        } catch (const ece::Error& e) {
            EXPECT_EQ(e.kind(), ece::ErrorKind::conflict);
            EXPECT_THAT(e.what(), testing::HasSubstr("another ece job holds the lock for " + name));
        }
        EXPECT_GE(std::chrono::steady_clock::now() - started, 250ms);
    }
    EXPECT_FALSE(holds(first, name));
    AdvisoryLock now_free(second, name, 1s);
    EXPECT_TRUE(holds(second, name));
    // The session's lock_timeout is back to what it was.
    pqxx::nontransaction tx(second);
    EXPECT_EQ(tx.exec1("SHOW lock_timeout")[0].as<std::string>(), "0");
}

TEST(AdvisoryLock, WaiterGetsTheLockWhenReleased) {
    auto name = "env:" + ece::test::unique_name("wait");
    auto first = ece::pg::connect(ece::test::admin_url(), "lock holder");
    auto second = ece::pg::connect(ece::test::admin_url(), "lock waiter");
    auto held = std::make_unique<AdvisoryLock>(first, name);
    std::atomic<bool> released{false};
    std::thread releaser([&] {
        std::this_thread::sleep_for(200ms);
        released = true;
        held.reset();
    });
    AdvisoryLock waited(second, name, 10s);
    EXPECT_TRUE(released);
    releaser.join();
    EXPECT_TRUE(holds(second, name));
}

TEST(AdvisoryLock, DifferentNamesDoNotConflict) {
    auto conn_a = ece::pg::connect(ece::test::admin_url(), "a");
    auto conn_b = ece::pg::connect(ece::test::admin_url(), "b");
    AdvisoryLock a(conn_a, "env:" + ece::test::unique_name("a"), 1s);
    AdvisoryLock b(conn_b, "env:" + ece::test::unique_name("b"), 1s);
    EXPECT_NE(a.key(), b.key());
    EXPECT_EQ(AdvisoryLock::key_for("env:main"), AdvisoryLock::key_for("env:main"));
}
