// Real public dbt projects (../shared/fixtures/dbt/projects, their hub packages vendored as `local:` packages) through
// the `ece` binary as the container action runs it, against FakeGitHub and a real PostgreSQL with real dbt: production
// built from the seeds; a pull request with the fixture's realistic change (_expected/<dir>/change.diff) opened, its
// plan compared with what real dbt's `dbt ls --select state:modified+ --state <production>` lists; synchronized with
// a second push; merged while a reader queries production; rolled back with ece-publish; a second pull request closed
// unmerged. One row of data per project.
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

#include <atomic>
#include <fstream>
#include <map>
#include <thread>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

using testing::HasSubstr;

// One public project: where it is, how ece.yml configures it, and where its change shows in production.
struct Project {
    std::string dir{};              // under fixtures/dbt/projects, and _expected/<dir>
    std::string dbt_project{};      // the dbt project's subdirectory
    std::string profile{};          // its profile name (dbt ls's profiles.yml)
    std::string dbt_extra{};        // more keys of ece.yml's dbt mapping
    std::vector<std::string> ls_args{};  // for dbt ls: what dbt_extra tells ece (--vars, --exclude)
    std::string select_input{};     // the action's select input (built too); dbt ls selects it as well
    std::string production_schemas{};
    std::size_t dbt_ls_count{};     // _expected/<dir>/modified_plus.json, plus what select_input selects
    std::string changed_file{};     // the change's file, edited again by the synchronize push
    std::string check_schema{}, check_table{}, check_column{};  // the change in production after the merge
    std::string history_table{};    // in check_schema: a stateful node whose rows must survive the publish
    std::string comment_has{};      // in the pull request's comment
    std::string raw_schema{};       // set: the raw data the sources read, loaded there first (real dbt seed)
};

void PrintTo(const Project& p, std::ostream* os) { *os << p.dir; }

bool buildable(const std::string& id) {
    return id.rfind("model.", 0) == 0 || id.rfind("test.", 0) == 0 || id.rfind("seed.", 0) == 0 ||
           id.rfind("snapshot.", 0) == 0 || id.rfind("unit_test.", 0) == 0;
}

std::set<std::string> buildable_of(const std::set<std::string>& ids) {
    std::set<std::string> out;
    for (const auto& id : ids)
        if (buildable(id)) out.insert(id);
    return out;
}

void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::trunc) << text;
}

std::string sha_of(char c) { return std::string(40, c); }

class PublicProject : public testing::TestWithParam<Project> {
protected:
    void SetUp() override {
        admin_url_ = ece::test::fresh_database("public");
        ece::register_secret(admin_url_);
        prefix_ = ece::test::unique_name("pub") + "_";
        github_.add_pull({.number = 1, .head_ref = "feature/new-col", .head_sha = sha_of('1')});
        github_.add_pull({.number = 2, .head_ref = "feature/abandoned", .head_sha = sha_of('5')});
    }

    // A checkout of the repository (the package at the top, the dbt project in integration_tests/, the vendored
    // packages in vendor/), writable (the fixtures are read-only), with ece.yml; `changed`: the fixture's patch.
    fs::path checkout(const std::string& name, bool changed) {
        const auto& p = GetParam();
        const fs::path ws = dir_ / name;
        fs::copy(ece::test::fixture("dbt/projects/" + p.dir), ws, fs::copy_options::recursive);
        for (const auto& entry : fs::recursive_directory_iterator(ws))
            fs::permissions(entry.path(), fs::perms::owner_write, fs::perm_options::add);
        fs::permissions(ws, fs::perms::owner_write, fs::perm_options::add);
        // A checkout is a git repository: ece's dbt sandbox copies from its top, so the project's `local: ../`
        // packages (the package under test, vendor/) resolve in the copy.
        ece::process::Command init;
        init.argv = {"git", "init", "-q", ws.string()};
        const auto initialised = ece::process::run(init);
        EXPECT_EQ(initialised.exit_code, 0) << initialised.err;
        write(ws / "ece.yml", "project: " + p.dir + "\n"
                              "production: {schemas: [" + p.production_schemas + "], role: " + prefix_ + "prod, raw_schema: raw}\n"
                              "environments: {prefix: " + prefix_ + ", ttl: 72h}\n"
                              "dbt: {project_dir: " + p.dbt_project + ", executable: '" + ece::test::real_dbt().string() +
                              "'" + p.dbt_extra + "}\n");
        if (changed) {
            ece::process::Command patch;
            patch.argv = {"patch", "-p1", "-i",
                          ece::test::fixture("dbt/projects/_expected/" + p.dir + "/change.diff").string()};
            patch.cwd = ws;
            const auto patched = ece::process::run(patch);
            EXPECT_EQ(patched.exit_code, 0) << patched.out << patched.err;
        }
        return ws;
    }

    // Raw data as a loader (Fivetran) would have put it, before anything of ece: the project's seeds loaded by
    // real dbt into the raw schema, readable by every role. Production and each environment read it alike.
    void load_raw(const fs::path& ws) {
        const auto& p = GetParam();
        const auto facts = ece::pg::parse_url(admin_url_);
        write(dir_ / "raw-profiles/profiles.yml",
              p.profile + ":\n  target: raw\n  outputs:\n    raw: {type: postgres, host: '" + facts.host + "', port: " +
                  facts.port + ", user: '" + facts.user + "', password: '" + facts.password + "', dbname: " + facts.dbname +
                  ", schema: " + p.raw_schema + ", threads: 4}\n");
        for (std::vector<std::string> command : {std::vector<std::string>{"deps"}, std::vector<std::string>{"seed"}}) {
            ece::process::Command dbt;
            dbt.argv = {ece::test::real_dbt().string(), command[0], "--profiles-dir", (dir_ / "raw-profiles").string()};
            if (command[0] == "seed") dbt.argv.insert(dbt.argv.end(), p.ls_args.begin(), p.ls_args.end());
            dbt.cwd = ws / p.dbt_project;
            dbt.env = {{"HOME", dir_.path().string()}, {"DBT_SEND_ANONYMOUS_USAGE_STATS", "false"}};
            dbt.timeout = std::chrono::minutes(3);
            const auto ran = ece::process::run(dbt);
            ASSERT_EQ(ran.exit_code, 0) << ran.out << ran.err;
        }
        pqxx::connection conn(admin_url_);
        pqxx::work tx(conn);
        tx.exec("GRANT USAGE ON SCHEMA " + tx.quote_name(p.raw_schema) + " TO PUBLIC");
        tx.exec("GRANT SELECT ON ALL TABLES IN SCHEMA " + tx.quote_name(p.raw_schema) + " TO PUBLIC");
        tx.commit();
        fs::remove_all(ws / p.dbt_project / "dbt_packages");  // the checkout as it was
        fs::remove_all(ws / p.dbt_project / "target");
        fs::remove(ws / p.dbt_project / "package-lock.yml");
    }

    void build_production(const fs::path& ws) {
        ece::env::Settings settings;
        settings.admin_url = admin_url_;
        settings.config = ece::config::load(ws / "ece.yml");
        ece::env::Environments envs(settings);
        ece::lifecycle::Options options;
        options.admin_url = admin_url_;
        options.project_dir = ws / GetParam().dbt_project;
        options.dbt = ece::test::real_dbt().string();
        options.work_dir = ws / ".ece/work";
        std::ostringstream log_text;
        ece::lifecycle::Log log(log_text, false);
        const auto built = ece::lifecycle::build_production(envs, options, sha_of('a'), log);
        ASSERT_TRUE(built.build.ok()) << log_text.str();
    }

    ece::test::ActionResult ece(const fs::path& ws, const ece::test::PullRequestEventSpec& spec, const std::string& sha) {
        const fs::path event = dir_ / ("event-" + spec.action + ".json");
        write(event, ece::test::pull_request_event_json(spec));
        return ece::test::run_action({.binary = ECE_BIN, .workspace = ws, .files = dir_.path(),
                                      .event_name = "pull_request", .event = event, .sha = sha,
                                      .api_url = github_.api_url(), .token = github_.token(),
                                      .database_url = admin_url_, .ca_file = github_.ca_file(),
                                      .inputs = inputs(), .timeout = std::chrono::minutes(5)});
    }

    std::map<std::string, std::string> inputs() const {
        std::map<std::string, std::string> in{{"PROJECT-DIR", GetParam().dbt_project}};
        if (!GetParam().select_input.empty()) in["SELECT"] = GetParam().select_input;
        return in;
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
              GetParam().profile + ":\n  target: pr\n  outputs:\n    pr: {type: postgres, host: localhost, port: 5432, "
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
        ls.argv = {ece::test::real_dbt().string(), "--quiet", "ls", "--state", state.string(), "--output", "json",
                   "--output-keys", "unique_id", "--profiles-dir", (dir_ / "ls-profiles").string(),
                   "--target-path", (dir_ / "ls-target").string(), "--select", "state:modified+"};
        if (!GetParam().select_input.empty()) ls.argv.push_back(GetParam().select_input);
        ls.argv.insert(ls.argv.end(), GetParam().ls_args.begin(), GetParam().ls_args.end());
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
        return ece::test::column_names(conn, schema, table);
    }

    std::set<std::string> schemas_like(const std::string& prefix) {
        pqxx::connection conn(admin_url_);
        return ece::test::schemas_starting_with(conn, prefix);
    }

    bool role_exists(const std::string& role) {
        pqxx::connection conn(admin_url_);
        pqxx::read_transaction tx(conn);
        return tx.exec_params1("SELECT count(*) FROM pg_roles WHERE rolname = $1", role)[0].as<int>() == 1;
    }

    // The rows of a table in these columns as text, ordered: a stateful node's history (a change may add columns).
    std::vector<std::string> rows(const std::string& schema, const std::string& table, const std::set<std::string>& in) {
        pqxx::connection conn(admin_url_);
        pqxx::read_transaction tx(conn);
        std::string list;
        for (const auto& column : in) list += (list.empty() ? "" : ", ") + tx.quote_name(column);
        std::vector<std::string> out;
        const auto name = tx.quote_name(schema) + "." + tx.quote_name(table);
        for (const auto& r : tx.exec("SELECT row(" + list + ")::text FROM " + name + " ORDER BY 1"))
            out.push_back(r[0].as<std::string>());
        return out;
    }

    // `ece-publish --rollback` as an operator runs it in the checkout: the latest publish swapped back.
    ece::process::Result rollback(const fs::path& ws) {
        ece::process::Command command;
        command.argv = {ECE_PUBLISH_BIN, "--rollback", "--database-url", admin_url_, "--config",
                        (ws / "ece.yml").string()};
        command.cwd = ws;
        command.timeout = std::chrono::minutes(2);
        return ece::process::run(command);
    }

    ece::test::TempDir dir_;
    ece::test::FakeGitHub github_;
    std::string admin_url_, prefix_;
};

TEST_P(PublicProject, PullRequestLifePlansWhatDbtSelectsAndPublishesTheChange) {
    const auto& p = GetParam();
    const auto started = std::chrono::steady_clock::now();
    const auto main = checkout("main", false);
    if (!p.raw_schema.empty()) {
        ASSERT_NO_FATAL_FAILURE(load_raw(main));
    }
    build_production(main);
    const auto columns_before = columns(p.check_schema, p.check_table);
    ASSERT_FALSE(columns_before.empty()) << p.check_schema << "." << p.check_table << " is not in production";
    EXPECT_FALSE(columns_before.contains(p.check_column));
    const auto history_columns = p.history_table.empty() ? std::set<std::string>{} : columns(p.check_schema, p.history_table);
    const auto history_before = p.history_table.empty() ? std::vector<std::string>{}
                                                        : rows(p.check_schema, p.history_table, history_columns);
    if (!p.history_table.empty()) { EXPECT_FALSE(history_before.empty()) << p.history_table; }

    // opened: dbt deps, then the plan, which is dbt's own state:modified+ for the nodes ece builds.
    const auto pr = checkout("pr-1", true);
    auto run = ece(pr, {.action = "opened", .number = 1, .head_ref = "feature/new-col", .head_sha = sha_of('1')},
                   sha_of('1'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_THAT(run.log, HasSubstr("dbt-core 1.9.1, postgres 1.9.0"));
    const auto by_dbt = dbt_ls_state_modified(pr / p.dbt_project);
    EXPECT_EQ(by_dbt.size(), p.dbt_ls_count) << testing::PrintToString(by_dbt);
    const auto by_ece = planned("pr-1");
    EXPECT_EQ(buildable_of(by_ece), buildable_of(by_dbt));
    ASSERT_EQ(github_.comments(1).size(), 1u);
    const auto first_comment = github_.comments(1)[0].id;
    EXPECT_THAT(github_.comments(1)[0].body, HasSubstr("dbt-core 1.9.1"));
    if (!p.comment_has.empty()) { EXPECT_THAT(github_.comments(1)[0].body, HasSubstr(p.comment_has)); }

    // synchronize: a second push, the change plus a trivial edit of the same file; the same comment, updated.
    std::ofstream(pr / p.changed_file, std::ios::app) << "\n-- reviewed\n";
    run = ece(pr, {.action = "synchronize", .number = 1, .head_ref = "feature/new-col", .head_sha = sha_of('3')},
              sha_of('3'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_EQ(buildable_of(planned("pr-1")), buildable_of(by_ece));
    ASSERT_EQ(github_.comments(1).size(), 1u);
    EXPECT_EQ(github_.comments(1)[0].id, first_comment);
    EXPECT_THAT(github_.comments(1)[0].body, HasSubstr(sha_of('3').substr(0, 7)));

    // merged, while a reader queries production: production serves the change, history intact, the reader never
    // failed, the environment is gone.
    std::atomic<bool> stop{false};
    std::atomic<int> reads{0};
    std::string reader_error;
    std::thread reader([&] {
        try {
            pqxx::connection conn(admin_url_);
            while (!stop) {
                pqxx::read_transaction tx(conn);
                tx.exec("SELECT count(*) FROM " + tx.quote_name(p.check_schema) + "." + tx.quote_name(p.check_table));
                ++reads;
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        } catch (const std::exception& e) {
            reader_error = e.what();
        }
    });
    run = ece(pr, {.action = "closed", .number = 1, .head_ref = "feature/new-col", .head_sha = sha_of('3'),
                   .merged = true, .merge_sha = sha_of('4')},
              sha_of('4'));
    stop = true;
    reader.join();
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_EQ(run.outputs["step"], "publish");
    EXPECT_EQ(reader_error, "");
    EXPECT_GT(reads.load(), 0);
    EXPECT_TRUE(columns(p.check_schema, p.check_table).contains(p.check_column));
    if (!p.history_table.empty()) {
        const auto history_after = rows(p.check_schema, p.history_table, history_columns);
        for (const auto& row : history_before) EXPECT_THAT(history_after, testing::Contains(row)) << p.history_table;
    }
    EXPECT_TRUE(schemas_like(prefix_ + "pr_1").empty());
    EXPECT_FALSE(role_exists(prefix_ + "pr_1"));

    // rollback: production as before the merge.
    const auto rolled_back = rollback(pr);
    ASSERT_EQ(rolled_back.exit_code, 0) << rolled_back.out << rolled_back.err;
    EXPECT_EQ(columns(p.check_schema, p.check_table), columns_before);
    if (!p.history_table.empty()) { EXPECT_EQ(rows(p.check_schema, p.history_table, history_columns), history_before); }

    // A second pull request (main as it is) closed unmerged leaves nothing behind.
    const auto abandoned = checkout("pr-2", false);
    run = ece(abandoned, {.action = "opened", .number = 2, .head_ref = "feature/abandoned", .head_sha = sha_of('5')},
              sha_of('5'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    run = ece(abandoned, {.action = "closed", .number = 2, .head_ref = "feature/abandoned", .head_sha = sha_of('5')},
              sha_of('5'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_EQ(run.outputs["step"], "destroy");
    EXPECT_TRUE(schemas_like(prefix_ + "pr_2").empty());
    EXPECT_FALSE(role_exists(prefix_ + "pr_2"));
    std::cout << p.dir << ": " << std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count()
              << " s\n";
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, PublicProject,
    testing::Values(
        // Its own models are ephemeral; dim_model_7 (an enforced contract) is the table the new column reaches.
        Project{.dir = "dbt_project_evaluator", .dbt_project = "integration_tests", .profile = "integration_tests",
                .production_schemas = "analytics", .dbt_ls_count = 11, .changed_file = "integration_tests/models/staging/stg_model_4.sql",
                .check_schema = "analytics", .check_table = "dim_model_7", .check_column = "new_col",
                .comment_has = "| no row differs | added `new_col` |"},
        // my_snapshot: a legacy check snapshot (target_schema=target.schema) whose rows must survive the publish.
        // The on-run-end hook uploads into the package's tables in the target schema: a user builds them too with
        // the action's select input (docs/dbt.md, "Hooks that write"), as the package's own docs ask of a slim CI.
        Project{.dir = "dbt_artifacts", .dbt_project = "integration_test_project", .profile = "dbt_artifacts",
                .select_input = "dbt_artifacts.sources", .production_schemas = "analytics",
                .dbt_ls_count = 22,  // modified_plus.json's 11 and the 11 upload tables .changed_file = "integration_test_project/models/non_incremental.sql",
                .check_schema = "analytics", .check_table = "non_incremental", .check_column = "colour",
                .history_table = "my_snapshot"},
        // Some models and unit tests are for other warehouses (tagged skip): ece.yml's dbt.exclude leaves them out
        // of every build and plan, as the project's own CI does with --exclude.
        Project{.dir = "dbt_audit_helper", .dbt_project = "integration_tests", .profile = "integration_tests",
                .dbt_extra = ", exclude: ['tag:skip+', 'tag:temporary_skip+']",
                .ls_args = {"--exclude", "tag:skip+", "tag:temporary_skip+"}, .production_schemas = "analytics",
                .dbt_ls_count = 19, .changed_file = "integration_tests/models/unit_test_placeholder_models/unit_test_model_a.sql",
                .check_schema = "analytics", .check_table = "unit_test_model_a", .check_column = "col4"},
        // Its sources read the raw Zendesk tables from var zendesk_schema (so ece.yml's dbt.vars names it for every
        // dbt command); a single dbt build cannot make them from its seeds (the DAG has no seed-to-source edge), so
        // they are loaded first, as Fivetran would. Its models land in <schema>_zendesk_dev.
        Project{.dir = "dbt_zendesk", .dbt_project = "integration_tests", .profile = "integration_tests",
                .dbt_extra = ", vars: {zendesk_schema: zendesk_raw}",
                .ls_args = {"--vars", "{zendesk_schema: zendesk_raw}"},
                .production_schemas = "analytics, analytics_zendesk_dev", .dbt_ls_count = 41,
                .changed_file = "models/staging/stg_zendesk__ticket.sql", .check_schema = "analytics_zendesk_dev",
                .check_table = "stg_zendesk__ticket", .check_column = "status_normalized", .raw_schema = "zendesk_raw"}),
    [](const testing::TestParamInfo<Project>& info) { return info.param.dir; });

}  // namespace
