// Publishing while others read and hold locks: readers never fail, lock waits are bounded and retried.
#include "publish_fixture.hpp"

#include "core/error.hpp"
#include "pg/lock.hpp"

#include <gmock/gmock.h>

#include <atomic>
#include <mutex>
#include <thread>

using ece::test::PublishTest;
using testing::HasSubstr;
using namespace std::chrono_literals;
namespace publish = ece::publish;

TEST_F(PublishTest, ReadersSeeTheOldOrTheNewVersionNeverAnErrorOrAnEmptyTable) {
    make_production(100);
    std::atomic<bool> stop{false};
    std::atomic<long> reads{0};
    std::vector<std::string> failures;
    std::mutex failures_mutex;
    // Each query has exactly two acceptable answers: the old version's and the new one's.
    auto reader_loop = [&](const std::string& query, long old_rows, long new_rows) {
        try {
            auto reader_conn = ece::pg::connect(url, "reader");
            while (!stop) {
                try {
                    pqxx::nontransaction tx(reader_conn);
                    auto n = tx.exec1(query)[0].as<long>();
                    if (n != old_rows && n != new_rows) {
                        std::lock_guard lock(failures_mutex);
                        failures.push_back(query + " returned " + std::to_string(n));
                    }
                    ++reads;
                } catch (const std::exception& e) {
                    std::lock_guard lock(failures_mutex);
                    failures.push_back(query + ": " + e.what());
                }
            }
        } catch (const std::exception& e) {
            std::lock_guard lock(failures_mutex);
            failures.push_back(std::string("reader connection: ") + e.what());
        }
    };
    std::vector<std::thread> readers;
    readers.emplace_back(reader_loop, "SELECT count(*) FROM analytics.orders", 100, 200);
    readers.emplace_back(reader_loop, "SELECT n FROM analytics.order_count", 100, 200);
    readers.emplace_back(reader_loop, "SELECT count(*) FROM analytics.customers WHERE id > 0", 50, 100);

    auto o = options();
    o.lock_retries = 20;
    int operations = 0, retried = 0;
    for (int i = 0; i < 10; ++i) {
        make_environment(200);
        auto published = publish::publish(conn, input(), o);
        EXPECT_EQ(count(prod, "orders"), 200);
        auto rolled = publish::rollback(conn, published.id, o);
        EXPECT_EQ(count(prod, "orders"), 100);
        operations += 2;
        retried += (published.attempts > 1) + (rolled.attempts > 1);
    }
    stop = true;
    for (auto& t : readers) t.join();

    EXPECT_EQ(operations, 20);
    EXPECT_GT(reads.load(), 100) << "the readers hardly ran";
    EXPECT_TRUE(failures.empty()) << failures.size() << " failed reads, first: " << failures.front();
    RecordProperty("reads", static_cast<int>(reads.load()));
    RecordProperty("retried_swaps", retried);
}

TEST_F(PublishTest, LockHeldByALongTransactionIsRetriedThenSucceeds) {
    make_production(100);
    make_environment(200);
    auto holder = ece::pg::connect(url, "long transaction");
    pqxx::work long_tx(holder);
    long_tx.exec("SELECT count(*) FROM analytics.orders");  // AccessShareLock until commit
    std::thread release([&] {
        std::this_thread::sleep_for(1200ms);
        long_tx.commit();
    });
    auto o = options();
    o.lock_timeout = 200ms;
    o.lock_retries = 30;
    auto started = std::chrono::steady_clock::now();
    auto result = publish::publish(conn, input(), o);
    release.join();
    EXPECT_GT(result.attempts, 1);
    EXPECT_GE(std::chrono::steady_clock::now() - started, 1000ms);
    EXPECT_EQ(count(prod, "orders"), 200);
    EXPECT_EQ(publish::list_publishes(conn)[0].status, "published");
}

TEST_F(PublishTest, LockHeldThroughAllRetriesGivesAClearConflictAndChangesNothing) {
    make_production(100);
    make_environment(200);
    auto before = snapshot({prod, env});
    auto holder = ece::pg::connect(url, "long transaction");
    pqxx::work long_tx(holder);
    long_tx.exec("SELECT count(*) FROM analytics.customers");
    auto o = options();
    o.lock_timeout = 100ms;
    o.lock_retries = 2;
    try {
        publish::publish(conn, input(), o);
        FAIL() << "published through a held lock";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("stayed locked by other sessions"));
        EXPECT_THAT(e.what(), HasSubstr("3 attempts of lock_timeout 100 ms"));
    }
    long_tx.commit();
    EXPECT_EQ(snapshot({prod, env}), before);
    auto records = publish::list_publishes(conn);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].status, "failed");
}

TEST_F(PublishTest, OnePublishAtATimePerDatabase) {
    make_production();
    make_environment();
    auto other = ece::pg::connect(url, "other publish");
    ece::pg::AdvisoryLock held(other, "publish");
    auto o = options();
    o.advisory_lock_timeout = 200ms;
    try {
        publish::publish(conn, input(), o);
        FAIL() << "published while another publish held the lock";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("publish"));
    }
    EXPECT_EQ(count(prod, "orders"), 100);
}
