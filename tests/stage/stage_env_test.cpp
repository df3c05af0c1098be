// ece-stage with real environments (lib/env) and ece.yml, against the test cluster: who owns what, what an
// environment can read, what `ece-env down` + `ece-stage gc` leave behind, and the built ece-stage end to end.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.hpp"
#include "env/environments.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "process/process.hpp"
#include "stage/stage.hpp"
#include "support.hpp"

namespace ece::stage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string unique_prefix() {
    std::string prefix = test::unique_name("s");
    prefix.resize(std::min(prefix.size(), env::max_prefix_bytes - 1));
    return prefix + "_";
}

class StageEnv : public ::testing::Test {
protected:
    void SetUp() override {
        url_ = test::fresh_database("stage_env");
        config_.environments.prefix = unique_prefix();
        config_.production.role = test::unique_name("prod");
        config_.production.schemas = {"analytics"};
        conn_ = pg::connect_owned(url_, "stage env test");
    }
    env::Settings settings() const { return env::Settings{url_, config_, /*embedded=*/true, std::chrono::seconds(60)}; }
    env::UpResult up(const std::string& branch, std::optional<int> pr = std::nullopt) {
        return env::Environments(settings()).up({branch, pr, "", std::nullopt});
    }
    Environment environment(const std::string& branch, std::optional<int> pr = std::nullopt) {
        env::Environments envs(settings());
        return branch_environment(envs, branch, pr);
    }
    TableDecl write(const std::string& table, const std::string& file, const std::string& content) {
        auto path = dir_ / file;
        std::ofstream(path, std::ios::binary) << content;
        return TableDecl{.name = table, .source = path.string()};
    }
    std::string value(const std::string& sql) {
        pqxx::nontransaction tx(*conn_);
        auto r = tx.exec(sql);
        return r.empty() || r[0][0].is_null() ? "<null>" : r[0][0].as<std::string>();
    }
    std::vector<std::string> content_tables() { return test::content_tables(*conn_); }
    static std::string as_role(const env::Credentials& credentials, const std::string& sql) {
        auto conn = pg::connect(credentials.url(), "test as environment");
        pqxx::work tx(conn);
        return tx.exec1(sql)[0].as<std::string>();
    }

    test::TempDir dir_;
    std::string url_;
    config::Config config_;
    std::unique_ptr<pqxx::connection> conn_;
};

TEST_F(StageEnv, AnEnvironmentThatIsNotUpIsAClearError) {
    try {
        environment("feature/nowhere", 41);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("environment pr-41 is not up (never created); run ece-env up --branch "
                                        "feature/nowhere --pr 41 first"));
    }
    up("feature/gone");
    env::Environments envs(settings());
    envs.down(envs.identify("feature/gone", std::nullopt));
    try {
        environment("feature/gone");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("is not up (destroyed)"));
    }
}

TEST_F(StageEnv, RawSchemaAndViewsBelongToTheEnvironmentRoleWhichReadsThem) {
    auto result = up("feature/own", 12);
    auto env = environment("feature/own", 12);
    EXPECT_EQ(env.name, "pr-12");
    EXPECT_EQ(env.raw_schema, config_.environments.prefix + "pr_12_raw");
    EXPECT_EQ(env.owner_role, result.record.role_name);

    auto patients = write("patients", "p.csv", "patid,sex\n1,F\n2,M\n3,F\n");
    stage_tables(url_, env, {patients});
    EXPECT_EQ(value("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = '" + env.raw_schema + "'"),
              env.owner_role);
    EXPECT_EQ(value("SELECT viewowner FROM pg_views WHERE schemaname = '" + env.raw_schema + "' AND viewname = 'patients'"),
              env.owner_role);
    // The environment's own login reads its view (so dbt can), and the view reads the content table.
    EXPECT_EQ(as_role(result.credentials, "SELECT count(*) FROM " + pg::quote_ident(env.raw_schema) + ".patients WHERE sex = 'F'"),
              "2");
}

TEST_F(StageEnv, DownThenGcDropsTheContentTablesOnlyThatEnvironmentUsed) {
    up("feature/a");
    auto b_up = up("feature/b");
    auto a = environment("feature/a"), b = environment("feature/b");
    auto shared = write("patients", "p.csv", "patid\n1\n2\n");
    auto only_a = write("codes", "codes_a.csv", "code\nA00\n");
    auto only_b = write("codes", "codes_b.csv", "code\nB00\nB01\n");
    auto staged_a = stage_tables(url_, a, {shared, only_a});
    auto staged_b = stage_tables(url_, b, {shared, only_b});
    ASSERT_EQ(content_tables().size(), 3u);
    EXPECT_THAT(gc(*conn_), IsEmpty());

    env::Environments envs(settings());
    envs.down(envs.identify("feature/a", std::nullopt));
    EXPECT_EQ(value("SELECT count(*) FROM pg_namespace WHERE nspname = '" + a.raw_schema + "'"), "0");
    auto dropped = gc(*conn_);
    EXPECT_THAT(dropped, ElementsAre(staged_a[1].content_table));
    EXPECT_THAT(content_tables(), ::testing::UnorderedElementsAre(staged_b[0].content_table, staged_b[1].content_table));
    EXPECT_EQ(value("SELECT count(*) FROM ece.staged_usage WHERE environment = 'feature/a'"), "0");
    EXPECT_EQ(as_role(b_up.credentials, "SELECT count(*) FROM " + pg::quote_ident(b.raw_schema) + ".codes"), "2");
    EXPECT_EQ(as_role(b_up.credentials, "SELECT count(*) FROM " + pg::quote_ident(b.raw_schema) + ".patients"), "2");

    envs.down(envs.identify("feature/b", std::nullopt));
    EXPECT_EQ(gc(*conn_).size(), 2u);
    EXPECT_THAT(content_tables(), IsEmpty());
}

TEST_F(StageEnv, ProductionViewsBelongToTheProductionRole) {
    up("main");  // creates the production role on the embedded-like test server
    auto prod = production_environment(config_);
    EXPECT_EQ(prod.raw_schema, "raw");
    auto t = write("patients", "p.csv", "patid\n1\n");
    stage_tables(url_, prod, {t});
    EXPECT_EQ(value("SELECT viewowner FROM pg_views WHERE schemaname = 'raw' AND viewname = 'patients'"),
              config_.production.role);
    EXPECT_EQ(value("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'raw'"), config_.production.role);
    EXPECT_EQ(value("SELECT has_table_privilege('" + config_.production.role + "', 'raw.patients', 'SELECT')"), "t");
}

TEST_F(StageEnv, ProductionWithoutItsRoleIsAClearError) {
    auto t = write("patients", "p.csv", "patid\n1\n");
    try {
        stage_tables(url_, production_environment(config_), {t});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("role " + config_.production.role + ", owner of production's staged tables, "
                                        "does not exist"));
    }
}

// The built ece-stage with an ece.yml in another directory than the current one.
class StageCli : public StageEnv {
protected:
    void SetUp() override {
        StageEnv::SetUp();
        std::filesystem::create_directories(dir_ / "project" / "data");
        std::ofstream(dir_ / "project" / "data" / "patients.csv") << "patid,birth_year,sex\n1,1950,F\n2,1960,M\n";
    }
    void write_config(const std::string& tables) {
        std::ofstream(dir_ / "project" / "ece.yml")
            << "project: stage\nproduction:\n  role: " << config_.production.role
            << "\n  schemas: [analytics]\nenvironments:\n  prefix: " << config_.environments.prefix
            << "\nstage:\n  parallel_streams: 1\n  tables:\n" << tables;
    }
    process::Result run(std::vector<std::string> args) {
        std::vector<std::string> argv = {ECE_STAGE_BINARY, "--database-url", url_, "--config",
                                         (dir_ / "project" / "ece.yml").string()};
        argv.insert(argv.end(), args.begin(), args.end());
        process::Command command{argv};
        command.cwd = dir_.path();
        command.timeout = std::chrono::seconds(60);
        return process::run(command);
    }
};

TEST_F(StageCli, LoadsTheTablesOfEceYmlWithDeclaredTypesAndPrimaryKey) {
    write_config("    - name: patients\n      path: data/patients.csv\n      primary_key: patid\n"
                 "      columns: {birth_year: integer}\n");
    std::ofstream(dir_ / "extra.csv") << "code\nA00\n";
    up("feature/cli", 3);
    auto result = run({"load", "--branch", "feature/cli", "--pr", "3", "--table", "extra=extra.csv", "--type",
                       "extra.code=varchar(3)"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::string raw = config_.environments.prefix + "pr_3_raw";
    EXPECT_THAT(result.out, HasSubstr("ECE_RAW_SCHEMA=" + raw));
    EXPECT_EQ(value("SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) FROM "
                    "information_schema.columns WHERE table_schema = '" + raw + "' AND table_name = 'patients'"),
              "patid:bigint,birth_year:integer,sex:text");
    EXPECT_EQ(value("SELECT data_type FROM information_schema.columns WHERE table_schema = '" + raw +
                    "' AND table_name = 'extra'"),
              "character varying");
    EXPECT_EQ(value("SELECT count(*) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                    "WHERE c.contype = 'p' AND t.relname LIKE 'patients\\_%'"),
              "1");
    EXPECT_EQ(value("SELECT count(*) FROM " + pg::quote_ident(raw) + ".patients"), "2");

    auto status = run({"status"});
    ASSERT_EQ(status.exit_code, 0) << status.err;
    EXPECT_THAT(status.out, HasSubstr("used by pr-3 (" + raw + ".patients)"));
}

TEST_F(StageCli, DeclarationErrorsNameTheLineOfEceYml) {
    up("feature/bad");
    // Line 12: the second table's "- name" (the first table takes lines 10-11). Nothing is loaded, not even the first.
    write_config("    - name: patients\n      path: data/patients.csv\n    - name: missing\n      path: data/none.csv\n");
    auto missing = run({"load", "--branch", "feature/bad"});
    EXPECT_EQ(missing.exit_code, exit_code::input);
    EXPECT_THAT(missing.err, HasSubstr("ece.yml:12: table missing: source " + (dir_ / "project" / "data" / "none.csv").string() +
                                       ": cannot read file: No such file or directory"));

    write_config("    - name: patients\n      path: data/patients.csv\n      columns: {birth_yr: integer}\n");
    auto column = run({"load", "--branch", "feature/bad"});
    EXPECT_EQ(column.exit_code, exit_code::usage);
    EXPECT_THAT(column.err, HasSubstr("ece.yml:10: table patients: declared column \"birth_yr\" is not in the file"));

    write_config("    - name: patients\n      path: data/patients.csv\n      primary_key: [patid, visit]\n");
    auto key = run({"load", "--branch", "feature/bad"});
    EXPECT_EQ(key.exit_code, exit_code::usage);
    EXPECT_THAT(key.err, HasSubstr("ece.yml:10: table patients: primary key column \"visit\" is not in"));

    write_config("    - name: patients\n      path: data/patients.csv\n      columns: {sex: \"text; DROP TABLE x\"}\n");
    auto type = run({"load", "--branch", "feature/bad"});
    EXPECT_EQ(type.exit_code, exit_code::usage);
    EXPECT_THAT(type.err, HasSubstr("ece.yml:10: table patients: column sex: declared type"));
    EXPECT_THAT(content_tables(), IsEmpty());
}

TEST_F(StageCli, ABranchWithoutEnvironmentIsRefused) {
    write_config("    - name: patients\n      path: data/patients.csv\n");
    auto result = run({"load", "--branch", "feature/never"});
    EXPECT_EQ(result.exit_code, exit_code::conflict);
    EXPECT_THAT(result.err, HasSubstr("environment feature/never is not up"));
    EXPECT_THAT(content_tables(), IsEmpty());
}

}  // namespace
}  // namespace ece::stage
