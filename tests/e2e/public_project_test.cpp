// A real public dbt project through the `ece` binary as the container action runs it: dbt-project-evaluator
// (../shared/fixtures/dbt/projects/dbt_project_evaluator, its hub packages vendored as `local:` packages), production
// built from its seeds, then a pull request with the fixture's realistic change (a column in stg_model_4, declared in
// dim_model_7's enforced contract) opened -> merged, against FakeGitHub and a real PostgreSQL with real dbt. The plan
// is compared with what real dbt's `dbt ls --select state:modified+ --state <production>` lists, computed here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <pqxx/pqxx>

#include "action_run.hpp"
#include "core/secrets.hpp"
#include "dbt/catalog.hpp"
#include "env/environments.hpp"
#include "fake_github.hpp"
#include "lifecycle/lifecycle.hpp"
#include "lifecycle/production.hpp"
#include "pg/connect.hpp"
#include "pg_support.hpp"
#include "process/process.hpp"
#include "support.hpp"
#include "webhook_events.hpp"

#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

using testing::HasSubstr;

const std::string project_name = "dbt_project_evaluator_integration_tests";

void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::trunc) << text;
}

std::string sha_of(char c) { return std::string(40, c); }

class PublicProject : public testing::Test {
protected:
    void SetUp() override {
        admin_url_ = ece::test::fresh_database("public");
        ece::register_secret(admin_url_);
        prefix_ = ece::test::unique_name("pub") + "_";
        github_.add_pull({.number = 1, .head_ref = "feature/new-col", .head_sha = sha_of('1')});
    }

    // A checkout of the repository (the package at the top, the dbt project in integration_tests/, the vendored
    // packages in vendor/), writable (the fixtures are read-only), with ece.yml; `changed`: the fixture's patch.
    fs::path checkout(const std::string& name, bool changed) {
        const fs::path ws = dir_ / name;
        fs::copy(ece::test::fixture("dbt/projects/dbt_project_evaluator"), ws, fs::copy_options::recursive);
        for (const auto& entry : fs::recursive_directory_iterator(ws))
            fs::permissions(entry.path(), fs::perms::owner_write, fs::perm_options::add);
        fs::permissions(ws, fs::perms::owner_write, fs::perm_options::add);
        // A checkout is a git repository: ece's dbt sandbox copies from its top, so the project's `local: ../`
        // packages (the package under test, vendor/) resolve in the copy.
        ece::process::Command init;
        init.argv = {"git", "init", "-q", ws.string()};
        const auto initialised = ece::process::run(init);
        EXPECT_EQ(initialised.exit_code, 0) << initialised.err;
        write(ws / "ece.yml", "project: evaluator\n"
                              "production: {schemas: [analytics], role: " + prefix_ + "prod, raw_schema: raw}\n"
                              "environments: {prefix: " + prefix_ + ", ttl: 72h}\n"
                              "dbt: {project_dir: integration_tests, executable: '" + ece::test::real_dbt().string() + "'}\n");
        if (changed) {
            ece::process::Command patch;
            patch.argv = {"patch", "-p1", "-i",
                          ece::test::fixture("dbt/projects/_expected/dbt_project_evaluator/change.diff").string()};
            patch.cwd = ws;
            const auto patched = ece::process::run(patch);
            EXPECT_EQ(patched.exit_code, 0) << patched.out << patched.err;
        }
        return ws;
    }

    void build_production(const fs::path& ws) {
        ece::env::Settings settings;
        settings.admin_url = admin_url_;
        settings.config = ece::config::load(ws / "ece.yml");
        ece::env::Environments envs(settings);
        ece::lifecycle::Options options;
        options.admin_url = admin_url_;
        options.project_dir = ws / "integration_tests";
        options.dbt = ece::test::real_dbt().string();
        options.work_dir = ws / ".ece/work";
        std::ostringstream log_text;
        ece::lifecycle::Log log(log_text, false);
        const auto built = ece::lifecycle::build_production(envs, options, sha_of('a'), log);
        ASSERT_TRUE(built.build.ok()) << log_text.str();
        EXPECT_THAT(log_text.str(), HasSubstr("Installing ../vendor/dbt_utils"));  // dbt deps ran first
    }

    ece::test::ActionResult ece(const fs::path& ws, const ece::test::PullRequestEventSpec& spec, const std::string& sha) {
        const fs::path event = dir_ / ("event-" + spec.action + ".json");
        write(event, ece::test::pull_request_event_json(spec));
        return ece::test::run_action({.binary = ECE_BIN, .workspace = ws, .files = dir_.path(),
                                      .event_name = "pull_request", .event = event, .sha = sha,
                                      .api_url = github_.api_url(), .token = github_.token(),
                                      .database_url = admin_url_, .ca_file = github_.ca_file(),
                                      .inputs = {{"PROJECT-DIR", "integration_tests"}}, .timeout = std::chrono::minutes(5)});
    }

    // What real dbt selects: `dbt ls --select state:modified+ --state <production's stored manifest>` in the pull
    // request's project.
    std::set<std::string> dbt_ls_state_modified(const fs::path& project) {
        const fs::path state = dir_ / "production-state";
        {
            auto conn = ece::pg::connect(admin_url_, "test: production manifest");
            const auto stored = ece::dbt::load_production_manifest_json(conn);
            EXPECT_TRUE(stored);
            if (!stored) return {};
            write(state / "manifest.json", stored->json);
        }
        write(dir_ / "ls-profiles/profiles.yml",
              "integration_tests:\n  target: pr\n  outputs:\n    pr: {type: postgres, host: localhost, port: 5432, "
              "user: ls, password: ls, dbname: " + ece::pg::parse_url(admin_url_).dbname + ", schema: " + prefix_ +
                  "pr_1, threads: 1}\n");  // a source's database is the target's: the same as production's
        // ece installed the packages in its sandbox's copy, not in the checkout: dbt ls needs them here too.
        ece::process::Command deps;
        deps.argv = {ece::test::real_dbt().string(), "deps", "--profiles-dir", (dir_ / "ls-profiles").string()};
        deps.cwd = project;
        deps.env = {{"HOME", dir_.path().string()}, {"DBT_SEND_ANONYMOUS_USAGE_STATS", "false"}};
        deps.timeout = std::chrono::minutes(3);
        const auto installed = ece::process::run(deps);
        EXPECT_EQ(installed.exit_code, 0) << installed.out << installed.err;
        ece::process::Command ls;
        ls.argv = {ece::test::real_dbt().string(), "--quiet", "ls", "--select", "state:modified+", "--state",
                   state.string(), "--output", "json", "--output-keys", "unique_id", "--profiles-dir",
                   (dir_ / "ls-profiles").string(), "--target-path", (dir_ / "ls-target").string()};
        ls.cwd = project;
        ls.env = {{"HOME", dir_.path().string()}, {"DBT_SEND_ANONYMOUS_USAGE_STATS", "false"}, {"DBT_USE_COLORS", "false"}};
        ls.timeout = std::chrono::minutes(3);
        const auto listed = ece::process::run(ls);
        EXPECT_EQ(listed.exit_code, 0) << listed.out << listed.err;
        std::set<std::string> ids;
        std::istringstream lines(listed.out);
        for (std::string line; std::getline(lines, line);)
            if (line.rfind("{", 0) == 0) ids.insert(json::value_to<std::string>(json::parse(line).at("unique_id")));
        return ids;
    }

    std::set<std::string> planned(const std::string& environment) {
        auto conn = ece::pg::connect(admin_url_, "test: the plan");
        const auto build = ece::dbt::latest_build(conn, environment);
        EXPECT_TRUE(build);
        std::set<std::string> ids;
        if (!build) return ids;
        const auto plan = json::parse(build->plan_json);
        for (const auto& node : plan.at("selected").as_array())
            ids.insert(json::value_to<std::string>(node.at("unique_id")));
        return ids;
    }

    std::set<std::string> columns(const std::string& schema, const std::string& table) {
        pqxx::connection conn(admin_url_);
        pqxx::read_transaction tx(conn);
        std::set<std::string> out;
        for (const auto& r : tx.exec_params("SELECT column_name FROM information_schema.columns"
                                            " WHERE table_schema = $1 AND table_name = $2", schema, table))
            out.insert(r[0].as<std::string>());
        return out;
    }

    std::set<std::string> schemas_like(const std::string& prefix) {
        pqxx::connection conn(admin_url_);
        pqxx::read_transaction tx(conn);
        std::set<std::string> out;
        for (const auto& r : tx.exec_params("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)", prefix))
            out.insert(r[0].as<std::string>());
        return out;
    }

    ece::test::TempDir dir_;
    ece::test::FakeGitHub github_;
    std::string admin_url_, prefix_;
};

TEST_F(PublicProject, ProjectEvaluatorPlansWhatDbtSelectsAndPublishesTheChange) {
    build_production(checkout("main", false));
    // The project's own models are ephemeral (the evaluator's integration tests); dim_model_7, with an enforced
    // contract, is its table: the change's new column reaches it.
    EXPECT_EQ(columns("analytics", "dim_model_7"), (std::set<std::string>{"id"}));

    // opened: dbt deps, then the plan, which is dbt's own state:modified+ for the nodes ece builds.
    const auto pr = checkout("pr-1", true);
    auto run = ece(pr, {.action = "opened", .number = 1, .head_ref = "feature/new-col", .head_sha = sha_of('1')},
                   sha_of('1'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_THAT(run.log, HasSubstr("dbt-core 1.9.1, postgres 1.9.0"));
    EXPECT_THAT(run.log, HasSubstr("Installing ../vendor/dbt_utils"));
    const auto by_dbt = dbt_ls_state_modified(pr / "integration_tests");
    EXPECT_EQ(by_dbt.size(), 11u) << testing::PrintToString(by_dbt);  // _expected/dbt_project_evaluator/modified_plus.json
    std::set<std::string> buildable_by_dbt;
    for (const auto& id : by_dbt)
        if (id.rfind("model.", 0) == 0 || id.rfind("test.", 0) == 0 || id.rfind("seed.", 0) == 0 ||
            id.rfind("snapshot.", 0) == 0)
            buildable_by_dbt.insert(id);
    auto by_ece = planned("pr-1");
    std::set<std::string> buildable_by_ece;
    for (const auto& id : by_ece)
        if (id.rfind("model.", 0) == 0 || id.rfind("test.", 0) == 0 || id.rfind("seed.", 0) == 0 ||
            id.rfind("snapshot.", 0) == 0)
            buildable_by_ece.insert(id);
    EXPECT_EQ(buildable_by_ece, buildable_by_dbt);
    EXPECT_EQ(by_ece, by_dbt) << "ece's plan lists other node kinds than dbt ls (exposures, metrics, semantic models)";
    EXPECT_EQ(columns(prefix_ + "pr_1", "dim_model_7"), (std::set<std::string>{"id", "new_col"}));
    ASSERT_EQ(github_.comments(1).size(), 1u);
    EXPECT_THAT(github_.comments(1)[0].body, HasSubstr("dbt-core 1.9.1"));
    EXPECT_THAT(github_.comments(1)[0].body, HasSubstr("5 pass, 1 success"));  // the tests of the ephemeral models ran
    EXPECT_THAT(github_.comments(1)[0].body, HasSubstr("| no row differs | added `new_col` |"));

    // merged: production serves the change, the environment is gone.
    run = ece(pr, {.action = "closed", .number = 1, .head_ref = "feature/new-col", .head_sha = sha_of('1'),
                   .merged = true, .merge_sha = sha_of('2')},
              sha_of('2'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_EQ(run.outputs["step"], "publish");
    EXPECT_EQ(columns("analytics", "dim_model_7"), (std::set<std::string>{"id", "new_col"}));
    EXPECT_TRUE(schemas_like(prefix_ + "pr_1").empty());
}

}  // namespace
