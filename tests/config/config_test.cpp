#include "config/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.hpp"
#include "support.hpp"

namespace ece::config {
namespace {

std::filesystem::path write(const test::TempDir& dir, const std::string& text) {
    auto path = dir / "ece.yml";
    std::ofstream(path) << text;
    return path;
}

std::string error_of(const std::filesystem::path& file) {
    try {
        load(file);
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

TEST(Config, DefaultsWhenNoFile) {
    test::TempDir dir;
    auto c = load_or_default(dir.path());
    EXPECT_EQ(c.environments.provider, "postgres");
    EXPECT_EQ(c.environments.ttl, std::chrono::hours(72));
    EXPECT_TRUE(c.file.empty());
}

TEST(Config, ReadsEverySection) {
    test::TempDir dir;
    auto file = write(dir, R"(project: demo
production:
  schemas: [analytics, marts]
  role: prod_owner
environments:
  prefix: pr_
  ttl: 48h
  connection_limit: 5
  statement_timeout: 10min
dbt:
  project_dir: examples/ece_demo
  threads: 8
stage:
  tables:
    - name: patients
      path: data/patients.csv.gz
      primary_key: patid
      columns: {birth_year: integer}
      csv: {delimiter: "|", header: false, null: NA}
publish:
  keep_archives: 5
  on_stale: strict
digitalocean:
  size: db-s-4vcpu-8gb
)");
    auto c = load(file);
    EXPECT_EQ(c.project, "demo");
    EXPECT_THAT(c.production.schemas, testing::ElementsAre("analytics", "marts"));
    EXPECT_EQ(c.environments.prefix, "pr_");
    EXPECT_EQ(c.environments.ttl, std::chrono::hours(48));
    EXPECT_EQ(c.environments.statement_timeout, std::chrono::minutes(10));
    EXPECT_EQ(c.dbt.threads, 8);
    ASSERT_EQ(c.stage.tables.size(), 1u);
    const auto& t = c.stage.tables[0];
    EXPECT_EQ(t.source, "data/patients.csv.gz");
    EXPECT_THAT(t.primary_key, testing::ElementsAre("patid"));
    EXPECT_EQ(t.column_types.at("birth_year"), "integer");
    EXPECT_EQ(t.csv.delimiter, '|');
    EXPECT_FALSE(t.csv.header);
    EXPECT_EQ(t.csv.null_string, "NA");
    EXPECT_EQ(t.line, 15);
    EXPECT_EQ(c.publish.keep_archives, 5);
    EXPECT_EQ(c.publish.on_stale, "strict");
    EXPECT_EQ(c.digitalocean.size, "db-s-4vcpu-8gb");
    EXPECT_EQ(c.root, dir.path());
}

TEST(Config, UnknownKeyNamesItsLine) {
    test::TempDir dir;
    auto file = write(dir, "environments:\n  prefix: pr_\n  tll: 3h\n");
    auto message = error_of(file);
    EXPECT_THAT(message, testing::HasSubstr("ece.yml:3: environments.tll: unknown key"));
    EXPECT_THAT(message, testing::HasSubstr("ttl"));
}

TEST(Config, BadValuesNameKeyAndLine) {
    test::TempDir dir;
    EXPECT_THAT(error_of(write(dir, "environments:\n  ttl: 3 weeks\n")),
                testing::HasSubstr("ece.yml:2: environments.ttl: invalid duration"));
    EXPECT_THAT(error_of(write(dir, "dbt:\n  threads: -1\n")), testing::HasSubstr("ece.yml:2: dbt.threads: expected a whole number"));
    EXPECT_THAT(error_of(write(dir, "environments:\n  provider: aws\n")),
                testing::HasSubstr("expected one of postgres, digitalocean"));
    EXPECT_THAT(error_of(write(dir, "stage:\n  tables:\n    - path: x.csv\n")), testing::HasSubstr("needs a name"));
    EXPECT_THAT(error_of(write(dir, "project: [unclosed\n")), testing::HasSubstr("ece.yml:"));
}

TEST(Config, DiffSection) {
    test::TempDir dir;
    auto config = config::load(write(dir, "diff:\n  enabled: false\n  model_budget: 30s\n  budget: 2m\n  examples: 5\n"
                                          "  value_width: 60\n  work_mem: 64MB\n  sensitive_columns: [email, orders.card]\n"));
    EXPECT_FALSE(config.diff.enabled);
    EXPECT_EQ(config.diff.model_budget, std::chrono::seconds(30));
    EXPECT_EQ(config.diff.budget, std::chrono::minutes(2));
    EXPECT_EQ(config.diff.examples, 5);
    EXPECT_EQ(config.diff.value_width, 60);
    EXPECT_EQ(config.diff.work_mem, "64MB");
    EXPECT_THAT(config.diff.sensitive_columns, testing::ElementsAre("email", "orders.card"));
    EXPECT_THAT(error_of(write(dir, "diff:\n  work_mem: 1GB'; DROP\n")), testing::HasSubstr("ece.yml:2: diff.work_mem: expected a size"));
    EXPECT_THAT(error_of(write(dir, "diff:\n  examples: 100\n")), testing::HasSubstr("diff.examples: expected a whole number"));
}

TEST(Config, DbtVarsBecomeOneJsonText) {
    test::TempDir dir;
    auto config = config::load(write(dir, "dbt:\n  vars:\n    zendesk_schema: analytics\n    n: 3\n    on: true\n"
                                          "    quoted: '3'\n    list: [a, 1.5]\n    none: ~\n    nested: {x: \"$(rm -rf /)\"}\n"));
    EXPECT_EQ(config.dbt.vars, R"j({"zendesk_schema":"analytics","n":3,"on":true,"quoted":"3","list":["a",1.5E0],)j"
                               R"j("none":null,"nested":{"x":"$(rm -rf /)"}})j");
    EXPECT_TRUE(config::load(write(dir, "dbt:\n  threads: 2\n")).dbt.vars.empty());
    EXPECT_THAT(error_of(write(dir, "dbt:\n  vars: zendesk_schema=analytics\n")),
                testing::HasSubstr("ece.yml:2: dbt.vars: expected a mapping of dbt vars"));
    EXPECT_THAT(error_of(write(dir, "dbt:\n  vars: [a, b]\n")), testing::HasSubstr("ece.yml:2: dbt.vars: expected a mapping"));
}

TEST(Config, DbtExclude) {
    test::TempDir dir;
    EXPECT_THAT(config::load(write(dir, "dbt:\n  exclude: ['tag:skip+', 'tag:temporary_skip+']\n")).dbt.exclude,
                testing::ElementsAre("tag:skip+", "tag:temporary_skip+"));
    EXPECT_THAT(error_of(write(dir, "dbt:\n  exclude: {tag: skip}\n")), testing::HasSubstr("ece.yml:2: dbt.exclude: expected a list"));
}

TEST(Config, Durations) {
    EXPECT_EQ(parse_duration("72h"), std::chrono::hours(72));
    EXPECT_EQ(parse_duration("500ms"), std::chrono::milliseconds(500));
    EXPECT_EQ(parse_duration("3d"), std::chrono::hours(72));
    EXPECT_EQ(parse_duration("90"), std::chrono::seconds(90));
    EXPECT_THROW(parse_duration("h"), Error);
    EXPECT_THROW(parse_duration("5y"), Error);
}

}  // namespace
}  // namespace ece::config
