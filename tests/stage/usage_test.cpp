// stage::record_view_usage: after staged-data views move outside ece-stage (as a publish moves them), the usage
// catalog follows them, so that gc keeps every content table a view reads and drops the ones none reads.
#include "stage/usage.hpp"

#include "core/error.hpp"
#include "pg/connect.hpp"
#include "pg_support.hpp"
#include "stage/stage.hpp"
#include "support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace ece::stage {
namespace {

using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class StageUsage : public ::testing::Test {
protected:
    StageUsage() : url(test::fresh_database("usage")), conn(pg::connect(url, "usage test")) {}

    TableDecl write(const std::string& file, const std::string& content) {
        std::ofstream(dir / file, std::ios::binary) << content;
        return parse_table_flag("patients=" + (dir / file).string());
    }
    void sql(const std::string& text) { ece::test::execute(conn, text); }
    std::string scalar(const std::string& text) { return ece::test::scalar(conn, text); }
    std::string usage_of(const std::string& environment) {
        return scalar("SELECT max(schema_name || '.' || view_name || ' -> ' || content_table) FROM ece.staged_usage "
                      "WHERE environment = '" + environment + "'");
    }

    test::TempDir dir;
    std::string url;
    pqxx::connection conn;
    Environment production{.name = "production", .raw_schema = "raw", .owner_role = {}, .production = true};
    Environment pr{.name = "pr-1", .raw_schema = "ece_pr_1_raw"};
};

TEST_F(StageUsage, GcKeepsWhatMovedViewsReadAndDropsWhatNoneReads) {
    const auto old_content = stage_tables(url, production, {write("v1.csv", "patid,sex\n1,F\n2,M\n")})[0].content_table;
    const auto new_content = stage_tables(url, pr, {write("v2.csv", "patid,sex\n1,F\n2,M\n3,F\n")})[0].content_table;
    ASSERT_NE(old_content, new_content);

    // What a publish does in its swap: production's view to an archive, the environment's into production.
    {
        pqxx::work tx(conn);
        tx.exec0("CREATE SCHEMA ece_archive_1; ALTER VIEW raw.patients SET SCHEMA ece_archive_1; "
                 "ALTER VIEW ece_pr_1_raw.patients SET SCHEMA raw");
        record_view_usage(tx, production_usage_name, "raw");
        record_view_usage(tx, archive_usage_name("ece_archive_1"), "ece_archive_1");
        tx.commit();
    }
    EXPECT_EQ(usage_of("production"), "raw.patients -> " + new_content);
    EXPECT_EQ(usage_of("archive:ece_archive_1"), "ece_archive_1.patients -> " + old_content);

    sql("DROP SCHEMA ece_pr_1_raw CASCADE");  // the environment goes
    EXPECT_THAT(gc(conn), IsEmpty());
    EXPECT_EQ(scalar("SELECT count(*) FROM raw.patients"), "3");
    EXPECT_EQ(scalar("SELECT count(*) FROM ece_archive_1.patients"), "2");
    EXPECT_EQ(usage_of("pr-1"), "");  // forgotten: its view moved away

    sql("DROP SCHEMA ece_archive_1 CASCADE");  // the archive is pruned
    EXPECT_THAT(gc(conn), UnorderedElementsAre(old_content));
    EXPECT_EQ(scalar("SELECT count(*) FROM raw.patients"), "3");
    EXPECT_EQ(usage_of("production"), "raw.patients -> " + new_content);
}

TEST_F(StageUsage, ViewsThatReadNoContentTableAndADatabaseWithoutStagingRecordNothing) {
    sql("CREATE SCHEMA raw; CREATE VIEW raw.answer AS SELECT 42 AS n");
    {
        pqxx::work tx(conn);
        EXPECT_NO_THROW(record_view_usage(tx, production_usage_name, "raw"));  // no ece.staged_usage yet
        tx.commit();
    }
    EXPECT_EQ(scalar("SELECT to_regclass('ece.staged_usage')"), "");
    stage_tables(url, production, {write("v1.csv", "patid,sex\n1,F\n")});
    {
        pqxx::work tx(conn);
        record_view_usage(tx, "elsewhere", "raw");
        tx.commit();
    }
    EXPECT_EQ(scalar("SELECT string_agg(environment || ':' || view_name, ',' ORDER BY environment) FROM ece.staged_usage"),
              "elsewhere:patients,production:patients");
}

}  // namespace
}  // namespace ece::stage
