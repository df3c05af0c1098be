// The ece-publish binary end to end: --relations FILE, --rollback, list, exit codes, no secrets in the output.
#include "publish_fixture.hpp"

#include "pg/connect.hpp"
#include "process/process.hpp"
#include "support.hpp"

#include <gmock/gmock.h>

#include <boost/json.hpp>

#include <fstream>

using ece::test::PublishTest;
using testing::HasSubstr;

namespace {

ece::process::Result ece_publish(const std::vector<std::string>& args) {
    ece::process::Command command;
    command.argv = {ECE_PUBLISH_BIN};
    command.argv.insert(command.argv.end(), args.begin(), args.end());
    command.timeout = std::chrono::seconds(60);
    return ece::process::run(command);
}

}  // namespace

TEST_F(PublishTest, CommandLinePublishesFromARelationsFileListsAndRollsBack) {
    make_production(100);
    make_environment(200);
    ece::test::TempDir dir;
    {
        std::ofstream file(dir / "relations.json");
        file << R"({"production_role": ")" << prod_role << R"(", "relations": [
            {"environment_schema": "ece_pr_1", "name": "orders", "kind": "table", "production_schema": "analytics",
             "unique_id": "model.shop.orders", "checksum": "c1"},
            {"environment_schema": "ece_pr_1", "name": "customers", "kind": "table", "production_schema": "analytics"},
            {"environment_schema": "ece_pr_1", "name": "order_count", "kind": "view", "production_schema": "analytics"}
        ]})";
    }
    auto password = ece::pg::parse_url(url).password;

    auto dry = ece_publish({"--pr", "1", "--relations", (dir / "relations.json").string(), "--database-url", url,
                            "--dry-run"});
    EXPECT_EQ(dry.exit_code, 0) << dry.err;
    EXPECT_THAT(dry.out, HasSubstr("dry run: would publish 3 relations of environment pr-1"));
    EXPECT_EQ(count(prod, "orders"), 100);

    auto published = ece_publish({"--pr", "1", "--sha", "deadbeef", "--relations",
                                  (dir / "relations.json").string(), "--database-url", url, "--format", "json"});
    ASSERT_EQ(published.exit_code, 0) << published.err;
    auto json = boost::json::parse(published.out).as_object();
    EXPECT_EQ(json.at("outcome").as_string(), "published");
    EXPECT_EQ(json.at("relations").as_array().size(), 3u);
    EXPECT_EQ(count(prod, "orders"), 200);

    auto listed = ece_publish({"list", "--database-url", url});
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_THAT(listed.out, HasSubstr("publish  published  pr-1  pr 1  deadbeef  3 relations"));

    auto rolled = ece_publish({"--rollback", "--database-url", url});
    EXPECT_EQ(rolled.exit_code, 0) << rolled.err;
    EXPECT_THAT(rolled.out, HasSubstr("rolled back publish #1"));
    EXPECT_THAT(rolled.out, testing::ContainsRegex("analytics.orders \\(table\\), previous version in ece_archive_2_[0-9a-f]{12}"));
    EXPECT_EQ(count(prod, "orders"), 100);

    auto again = ece_publish({"--rollback", "1", "--database-url", url});
    EXPECT_EQ(again.exit_code, ece::exit_code::conflict);
    EXPECT_THAT(again.err, HasSubstr("rolled back already"));

    // From the catalog: pr-1 has no environment (any more) but was published: a no-op; pr-2 has neither.
    auto published_before = ece_publish({"--pr", "1", "--database-url", url});
    EXPECT_EQ(published_before.exit_code, 0) << published_before.err;
    EXPECT_THAT(published_before.out, HasSubstr("was published already as publish #1"));
    auto usage = ece_publish({"--pr", "2", "--database-url", url});
    EXPECT_EQ(usage.exit_code, ece::exit_code::usage);
    EXPECT_THAT(usage.err, HasSubstr("there is no environment pr-2"));

    for (const auto* output : {&dry, &published, &listed, &rolled, &again, &published_before, &usage}) {
        EXPECT_THAT(ece::test::find_secrets(output->out + output->err, {password, url}), testing::IsEmpty());
    }
}
