#include "catalog/migrate.hpp"

#include "core/error.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

using ece::catalog::Migration;
using ece::catalog::migrate;
using testing::HasSubstr;

namespace {

const std::vector<Migration> stage_v1 = {
    {1, "staged files", "CREATE TABLE ece.staged_files (id serial PRIMARY KEY, path text NOT NULL)"},
};
const std::vector<Migration> stage_v2 = {
    stage_v1[0],
    {2, "file sizes", "ALTER TABLE ece.staged_files ADD COLUMN bytes bigint; CREATE INDEX ON ece.staged_files (path)"},
};

int count(pqxx::connection& conn, const std::string& sql) {
    pqxx::nontransaction tx(conn);
    return tx.exec1(sql)[0].as<int>();
}

}  // namespace

TEST(Migrate, HasTableSaysWhetherAnAreasTableWasMadeHere) {
    auto conn = ece::pg::connect(ece::test::fresh_database("migrate"), "catalog test");
    EXPECT_FALSE(ece::catalog::has_table(conn, "ece.staged_files"));
    migrate(conn, "stage", stage_v1);
    EXPECT_TRUE(ece::catalog::has_table(conn, "ece.staged_files"));
    EXPECT_FALSE(ece::catalog::has_table(conn, "ece.builds"));
    pqxx::read_transaction tx(conn);
    EXPECT_TRUE(ece::catalog::has_table(tx, "ece.migrations"));
}

TEST(Migrate, AppliesOnceAndIsIdempotent) {
    auto conn = ece::pg::connect(ece::test::fresh_database("migrate"), "catalog test");
    EXPECT_EQ(ece::catalog::current_version(conn, "stage"), 0);
    migrate(conn, "stage", stage_v1);
    migrate(conn, "stage", stage_v1);
    EXPECT_EQ(ece::catalog::current_version(conn, "stage"), 1);
    EXPECT_EQ(count(conn, "SELECT count(*) FROM ece.migrations"), 1);
    migrate(conn, "stage", stage_v2);
    migrate(conn, "stage", stage_v2);
    EXPECT_EQ(ece::catalog::current_version(conn, "stage"), 2);
    EXPECT_EQ(count(conn, "SELECT count(*) FROM ece.migrations WHERE area = 'stage'"), 2);
    EXPECT_EQ(count(conn, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ece' "
                          "AND table_name = 'staged_files' AND column_name = 'bytes'"),
              1);
    pqxx::nontransaction tx(conn);
    EXPECT_EQ(tx.exec1("SELECT name FROM ece.migrations WHERE area = 'stage' AND version = 2")[0].as<std::string>(),
              "file sizes");
}

TEST(Migrate, AreasAreIndependent) {
    auto conn = ece::pg::connect(ece::test::fresh_database("areas"), "catalog test");
    migrate(conn, "stage", stage_v1);
    migrate(conn, "env", {{1, "environments", "CREATE TABLE ece.environments (branch text PRIMARY KEY)"}});
    EXPECT_EQ(ece::catalog::current_version(conn, "stage"), 1);
    EXPECT_EQ(ece::catalog::current_version(conn, "env"), 1);
    EXPECT_EQ(count(conn, "SELECT count(*) FROM ece.migrations"), 2);
}

TEST(Migrate, ConcurrentMigrationsApplyEachVersionOnce) {
    auto url = ece::test::fresh_database("concurrent");
    constexpr int workers = 4;
    std::vector<std::string> errors(workers);
    std::vector<std::thread> threads;
    for (int i = 0; i < workers; ++i) {
        threads.emplace_back([&, i] {
            try {
                auto conn = ece::pg::connect(url, "concurrent migrate");
                migrate(conn, "stage", stage_v2);  // CREATE TABLE without IF NOT EXISTS: a second run would fail
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) EXPECT_EQ(e, "");
    auto conn = ece::pg::connect(url, "check");
    EXPECT_EQ(count(conn, "SELECT count(*) FROM ece.migrations"), 2);
}

TEST(Migrate, FailedMigrationRollsBackAndNamesAreaAndVersion) {
    auto conn = ece::pg::connect(ece::test::fresh_database("failing"), "catalog test");
    std::vector<Migration> broken = {
        stage_v1[0],
        {2, "half done", "CREATE TABLE ece.half_done (x int); SELECT no_such_column FROM ece.half_done"},
    };
    try {
        migrate(conn, "stage", broken);
        FAIL() << "a broken migration succeeded";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::database);
        EXPECT_THAT(e.what(), HasSubstr("catalog migration stage v2 (half done) failed"));
        EXPECT_THAT(e.what(), HasSubstr("no_such_column"));
        EXPECT_EQ(e.where().field, "stage v2");
    }
    EXPECT_EQ(ece::catalog::current_version(conn, "stage"), 1);
    EXPECT_EQ(count(conn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'ece' AND tablename = 'half_done'"), 0);
    // Fixed in a later build: the next run applies it.
    broken[1].sql = "CREATE TABLE ece.half_done (x int)";
    migrate(conn, "stage", broken);
    EXPECT_EQ(ece::catalog::current_version(conn, "stage"), 2);
}

TEST(Migrate, RefusesADatabaseNewerThanTheCode) {
    auto conn = ece::pg::connect(ece::test::fresh_database("newer"), "catalog test");
    migrate(conn, "stage", stage_v2);
    try {
        migrate(conn, "stage", stage_v1);
        FAIL();
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("newer than this ece"));
    }
}

TEST(Migrate, RejectsMalformedLists) {
    auto conn = ece::pg::connect(ece::test::fresh_database("malformed"), "catalog test");
    EXPECT_THROW(migrate(conn, "stage", {{2, "b", "SELECT 1"}, {1, "a", "SELECT 1"}}), ece::Error);
    EXPECT_THROW(migrate(conn, "stage", {{1, "a", "SELECT 1"}, {1, "a", "SELECT 1"}}), ece::Error);
    EXPECT_THROW(migrate(conn, "", stage_v1), ece::Error);
}

TEST(Migrate, MissingPrivilegeIsAnAuthError) {
    auto db = ece::test::fresh_database("noprivs");
    auto role = ece::test::unique_name("catalog_weak");
    {
        auto admin = ece::pg::connect(db, "setup");
        pqxx::nontransaction tx(admin);
        tx.exec("CREATE ROLE " + ece::pg::quote_ident(role) + " LOGIN PASSWORD 'weak-Password-987'");
    }
    auto facts = ece::pg::parse_url(db);
    facts.user = role;
    facts.password = "weak-Password-987";
    {
        auto weak = ece::pg::connect(ece::pg::make_url(facts), "weak");
        try {
            migrate(weak, "stage", stage_v1);
            FAIL();
        } catch (const ece::Error& e) {
            EXPECT_EQ(e.kind(), ece::ErrorKind::auth);
            EXPECT_THAT(e.what(), HasSubstr("permission denied for database"));
        }
    }
    auto admin = ece::pg::connect(db, "cleanup");
    pqxx::nontransaction(admin).exec("DROP ROLE " + ece::pg::quote_ident(role));
}
