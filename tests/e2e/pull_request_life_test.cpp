// A pull request's whole life, through the real `ece` binary as GitHub Actions runs it (GITHUB_EVENT_PATH with
// payloads made from GitHub's real webhook examples, INPUT_* variables, GITHUB_OUTPUT), against a real PostgreSQL
// and FakeGitHub, with the example dbt project and real dbt:
//   #1 opened -> synchronize -> merged (published); #2 opened -> closed unmerged; #3 expired -> gc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <pqxx/pqxx>

#include "config/config.hpp"
#include "core/random.hpp"
#include "core/secrets.hpp"
#include "example_data.hpp"
#include "env/environments.hpp"
#include "fake_github.hpp"
#include "github/permissions.hpp"
#include "lifecycle/permissions.hpp"
#include "action_run.hpp"
#include "webhook_events.hpp"
#include "fork_artifact_support.hpp"
#include "lifecycle/lifecycle.hpp"
#include "lifecycle/production.hpp"
#include "pg_support.hpp"
#include "process/process.hpp"
#include "support.hpp"

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
namespace json = boost::json;
using ece::test::FakeGitHub;

namespace {

const fs::path source_dir = ECE_SOURCE_DIR;

void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::trunc) << text;
}

void replace_in(const fs::path& file, const std::string& from, const std::string& to) {
    auto text = ece::test::read_file(file);
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from << " not in " << file;
    text.replace(at, from.size(), to);
    write(file, text);
}

std::string sha_of(char c) { return std::string(40, c); }

// The changes the pull requests make to the example project.
void change_a(const fs::path& ws) {  // stg_patients gets a column
    replace_in(ws / "models/staging/stg_patients.sql", "    birth_year\n",
               "    birth_year,\n    (birth_year / 10) * 10 as birth_decade\n");
}
void change_b(const fs::path& ws) {  // observed_diagnoses gets the chapter
    replace_in(ws / "models/marts/observed_diagnoses.sql", "select distinct i.code as dx_code",
               "select distinct i.code as dx_code, i.chapter");
}
void change_c(const fs::path& ws) {  // distinct_providers gets the state
    replace_in(ws / "models/marts/distinct_providers.sql", "select distinct p.npi", "select distinct p.npi, p.state");
}

class PullRequestLife : public ::testing::Test {
protected:
    void SetUp() override {
        admin_url_ = ece::test::fresh_database("e2e");
        ece::register_secret(admin_url_);
        prefix_ = "e2e" + ece::random_hex(4) + "_";  // 8 hex digits
        production_role_ = prefix_ + "prod";
        github_.add_pull({.number = 1, .head_ref = "feature/decades", .head_sha = sha_of('1')});
        github_.add_pull({.number = 2, .head_ref = "feature/states", .head_sha = sha_of('4')});
        github_.add_pull({.number = 3, .head_ref = "feature/old", .head_sha = sha_of('6')});
    }

    // The repository as checked out for one run: the example project (with ece.yml) plus the changes given.
    fs::path workspace(const std::string& name, const std::vector<void (*)(const fs::path&)>& changes) {
        const fs::path ws = dir_ / name;
        fs::create_directories(ws);
        for (const auto& entry : fs::directory_iterator(source_dir / "examples/ece_demo")) {
            const auto file = entry.path().filename().string();
            if (file == "target" || file == "data" || file == "ece.yml") continue;
            fs::copy(entry.path(), ws / file, fs::copy_options::recursive);
        }
        fs::copy(ece::test::example_data(), ws / "data", fs::copy_options::recursive);  // not a link: dbt refuses those
        write(ws / "ece.yml", "project: ece_demo\n"
                              "production: {schemas: [analytics], role: " + production_role_ + ", raw_schema: raw}\n"
                              "environments: {prefix: " + prefix_ + ", ttl: 72h}\n"
                              "stage:\n  tables:\n"
                              "    - {name: patients, path: data/patients.csv, primary_key: [patid]}\n"
                              "    - {name: icd10, path: data/icd10.csv, primary_key: [code]}\n"
                              "    - {name: providers, path: data/providers.csv, primary_key: [npi]}\n"
                              "    - {name: diagnoses, path: data/diagnoses.csv}\n");
        for (auto change : changes) change(ws);
        return ws;
    }

    // Production as main has it, built in-process (there is no production pipeline in a test).
    void build_production() {
        const auto ws = workspace("main", {});
        ece::env::Environments envs(settings(ws));
        ece::lifecycle::Options options;
        options.admin_url = admin_url_;
        options.project_dir = ws;
        options.dbt = ece::test::real_dbt().string();
        options.work_dir = ws / ".ece/work";
        std::ostringstream log_text;
        ece::lifecycle::Log log(log_text, false);
        const auto built = ece::lifecycle::build_production(envs, options, sha_of('a'), log);
        ASSERT_TRUE(built.build.ok()) << log_text.str();
    }

    ece::env::Settings settings(const fs::path& ws) {
        ece::env::Settings s;
        s.admin_url = admin_url_;
        s.config = ece::config::load(ws / "ece.yml");
        return s;
    }

    // A webhook payload from GitHub's own examples, pointed at this repository and pull request.
    fs::path pull_request_event(const std::string& action, int number, const std::string& head_ref,
                                const std::string& head_sha, bool merged = false, const std::string& merge_sha = "") {
        const fs::path file = dir_ / ("event-" + std::to_string(++events_) + ".json");
        write(file, ece::test::pull_request_event_json({.action = action, .number = number, .head_ref = head_ref,
                                                        .head_sha = head_sha, .merged = merged, .merge_sha = merge_sha}));
        return file;
    }

    fs::path push_event(const std::string& after) {
        auto payload = json::parse(ece::test::read_file(ece::test::fixture("real/github/webhooks/push.json")));
        auto& o = payload.as_object();
        o["ref"] = "refs/heads/main";
        o["after"] = after;
        o["repository"].as_object()["full_name"] = "octo-org/warehouse";
        o["repository"].as_object()["default_branch"] = "main";
        const fs::path file = dir_ / ("event-" + std::to_string(++events_) + ".json");
        write(file, json::serialize(payload));
        return file;
    }

    // The fork-safe workflow's workflow_run event: the unprivileged run of a fork's pull request finished (forks'
    // runs carry no pull request numbers).
    fs::path workflow_run_event(const std::string& head_branch, const std::string& head_sha) {
        json::object run{{"event", "pull_request"}, {"conclusion", "success"}, {"head_sha", head_sha},
                         {"head_branch", head_branch}, {"head_repository", {{"full_name", "someone/warehouse"}}},
                         {"pull_requests", json::array()}};
        json::object payload{{"action", "completed"}, {"workflow_run", run},
                             {"repository", {{"full_name", "octo-org/warehouse"}, {"default_branch", "main"}}}};
        const fs::path file = dir_ / ("event-" + std::to_string(++events_) + ".json");
        write(file, json::serialize(payload));
        return file;
    }

    // What build-manifest of workflows/preview-fork-safe.yml uploads, made from a fork's checkout: the project as
    // project.tar.gz, `dbt parse`'s manifest (real dbt's, with a dummy profile: no database) and
    // pull-request.json. Written into <trusted workspace>/.ece-fork, where the privileged job downloads it.
    fs::path fork_artifact(const fs::path& fork, const fs::path& trusted, int number, const std::string& head_sha) {
        write(dir_ / "parse-profiles/profiles.yml",
              "ece_demo:\n  target: parse\n  outputs:\n    parse: {type: postgres, host: localhost, port: 5432, user: parse,"
              " password: parse, dbname: parse, schema: parse, threads: 1}\n");
        ece::process::Command parse;
        parse.argv = {ece::test::real_dbt().string(), "parse", "--project-dir", fork.string(),
                      "--profiles-dir", (dir_ / "parse-profiles").string(), "--target-path", (fork / "target").string()};
        parse.cwd = fork;
        parse.timeout = std::chrono::minutes(10);
        const auto parsed = ece::process::run(parse);
        EXPECT_EQ(parsed.exit_code, 0) << parsed.out << parsed.err;
        const fs::path artifact = trusted / ".ece-fork";
        fs::create_directories(artifact);
        fs::copy_file(fork / "target/manifest.json", artifact / "manifest.json", fs::copy_options::overwrite_existing);
        fs::remove_all(fork / "target");
        fs::remove_all(fork / "data");  // the test's copy of the generated data; a fork's checkout has none
        ece::test::write_tar_gz(artifact / "project.tar.gz", ece::test::members_of(fork));
        write(artifact / "pull-request.json", ece::test::pull_request_json(number, head_sha));
        return artifact;
    }

    fs::path schedule_event() {
        const fs::path file = dir_ / ("event-" + std::to_string(++events_) + ".json");
        write(file, R"({"schedule": "17 3 * * *", "repository": {"full_name": "octo-org/warehouse",
                        "default_branch": "main"}})");
        return file;
    }

    using Run = ece::test::ActionResult;

    // The ece binary as the container action runs it.
    Run ece(const std::string& event_name, const fs::path& event, const fs::path& ws, const std::string& sha,
            std::map<std::string, std::string> inputs = {}, std::map<std::string, std::string> env = {}) {
        auto run = ece::test::run_action({.binary = ECE_BIN, .workspace = ws, .files = dir_.path(),
                                          .event_name = event_name, .event = event, .sha = sha,
                                          .api_url = github_.api_url(), .token = github_.token(),
                                          .database_url = admin_url_, .ca_file = github_.ca_file(),
                                          .inputs = std::move(inputs), .env = std::move(env)});
        all_logs_ += run.printed;
        expect_calls_within_the_chains_permissions(run.outputs["step"]);
        return run;
    }

    // Every request this run made to GitHub needs only what lifecycle/permissions.hpp says its chain may need: the
    // permissions the workflows grant (tests/workflows) are derived from those calls.
    void expect_calls_within_the_chains_permissions(const std::string& step) {
        const auto requests = github_.requests();
        if (step.empty() || step == "ignore") {
            requests_seen_ = requests.size();
            return;
        }
        const auto allowed = ece::lifecycle::github_permissions(step);
        for (std::size_t i = requests_seen_; i < requests.size(); ++i) {
            const auto& [method, target] = requests[i];
            const auto needed = ece::github::permission_for(method, target);
            EXPECT_TRUE(ece::github::covers(allowed, needed))
                << step << " made " << method << " " << target << " (needs " << ece::github::describe(needed)
                << "), beyond " << ece::github::describe(allowed);
        }
        requests_seen_ = requests.size();
    }

    // --- what the database holds -----------------------------------------------------------------------------
    pqxx::connection db() { return pqxx::connection(admin_url_); }

    std::set<std::string> schemas_like(const std::string& prefix) {
        auto conn = db();
        return ece::test::schemas_starting_with(conn, prefix);
    }
    bool role_exists(const std::string& role) {
        auto conn = db();
        pqxx::read_transaction tx(conn);
        return tx.exec_params1("SELECT count(*) FROM pg_roles WHERE rolname = $1", role)[0].as<int>() == 1;
    }
    std::set<std::string> columns(const std::string& schema, const std::string& table) {
        auto conn = db();
        return ece::test::column_names(conn, schema, table);
    }
    std::set<std::string> built_models(const std::string& environment) {
        auto conn = db();
        pqxx::read_transaction tx(conn);
        std::set<std::string> out;
        for (const auto& r : tx.exec_params("SELECT unique_id FROM ece.built_nodes WHERE environment = $1", environment))
            out.insert(r[0].as<std::string>());
        return out;
    }
    std::set<std::string> content_tables() {
        auto conn = db();
        pqxx::read_transaction tx(conn);
        std::set<std::string> out;
        for (const auto& r : tx.exec("SELECT tablename FROM pg_tables WHERE schemaname = 'ece_content'"))
            out.insert(r[0].as<std::string>());
        return out;
    }
    std::optional<ece::env::Record> record(const std::string& branch, int pr) {
        const auto ws = dir_ / "main";
        ece::env::Environments envs(settings(ws));
        return envs.find(envs.identify(branch, pr));
    }

    ece::test::TempDir dir_;
    FakeGitHub github_;
    std::string admin_url_, prefix_, production_role_;
    int events_ = 0;
    std::size_t requests_seen_ = 0;
    std::string all_logs_;
};


const std::set<std::string> change_a_models = {
    "model.ece_demo.stg_patients", "model.ece_demo.distinct_patients", "model.ece_demo.female_patients",
    "model.ece_demo.male_patients", "model.ece_demo.patients_by_sex"};

TEST_F(PullRequestLife, OpenedSynchronizedMergedThenAnotherClosedAndAnExpiredOneCollected) {
    build_production();
    const auto production_content = content_tables();
    ASSERT_FALSE(production_content.empty());
    const std::string base = prefix_ + "pr_1";

    // #1 opened: environment created, data staged, only stg_patients and its descendants built, one comment.
    auto ws = workspace("pr1-opened", {change_a});
    auto run = ece("pull_request", pull_request_event("opened", 1, "feature/decades",
                                                      sha_of('1')), ws, sha_of('1'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_THAT(run.log, testing::HasSubstr("::group::env up"));
    EXPECT_THAT(run.log, testing::HasSubstr("::add-mask::"));  // the environment's password, before its URL output
    EXPECT_THAT(run.log, testing::HasSubstr("dbt-core 1.9.1, postgres 1.9.0"));  // which dbt runs, from dbt --version
    EXPECT_EQ(run.outputs["step"], "preview");
    EXPECT_EQ(run.outputs["env-name"], "pr-1");
    EXPECT_EQ(run.outputs["schema"], base);
    EXPECT_EQ(run.outputs["selected-count"], "11");  // 5 models + their 6 tests
    EXPECT_THAT(run.outputs["comment-url"], testing::Not(testing::IsEmpty()));
    auto created = record("feature/decades", 1);
    ASSERT_TRUE(created);
    EXPECT_EQ(created->status, ece::env::Status::ready);
    EXPECT_EQ(schemas_like(base), (std::set<std::string>{base, base + "_raw"}));
    EXPECT_EQ(columns(base + "_raw", "patients"), (std::set<std::string>{"patid", "sex", "birth_year"}));
    EXPECT_EQ(built_models("pr-1"), change_a_models);
    EXPECT_THAT(columns(base, "stg_patients"), testing::Contains("birth_decade"));
    auto comments = github_.comments(1);
    ASSERT_EQ(comments.size(), 1u);
    EXPECT_THAT(comments[0].body, testing::HasSubstr("ready"));
    EXPECT_THAT(comments[0].body, testing::HasSubstr("<!-- ece:env=pr-1 "));
    const auto first_comment = comments[0].id;

    // synchronize with another change: the same comment updated, the environment repaired (not recreated).
    ws = workspace("pr1-sync", {change_a, change_b});
    run = ece("pull_request", pull_request_event("synchronize", 1, "feature/decades",
                                                 sha_of('2')), ws, sha_of('2'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_THAT(run.log, testing::HasSubstr("repaired pr-1"));
    auto repaired = record("feature/decades", 1);
    ASSERT_TRUE(repaired);
    EXPECT_EQ(repaired->created_at, created->created_at);
    EXPECT_EQ(repaired->head_sha, sha_of('2'));
    comments = github_.comments(1);
    ASSERT_EQ(comments.size(), 1u);
    EXPECT_EQ(comments[0].id, first_comment);
    EXPECT_THAT(comments[0].body, testing::HasSubstr(sha_of('2').substr(0, 7)));
    auto after_sync = change_a_models;
    after_sync.insert("model.ece_demo.observed_diagnoses");
    EXPECT_EQ(built_models("pr-1"), after_sync);

    // merged: production serves the new models, the publish is recorded, the environment is gone.
    ws = workspace("pr1-merged", {change_a, change_b});
    run = ece("pull_request", pull_request_event("closed", 1, "feature/decades",
                                                 sha_of('2'), true, sha_of('3')), ws, sha_of('3'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_EQ(run.outputs["step"], "publish");
    EXPECT_THAT(columns("analytics", "stg_patients"), testing::Contains("birth_decade"));
    EXPECT_THAT(columns("analytics", "observed_diagnoses"), testing::Contains("chapter"));
    {
        auto conn = db();
        pqxx::read_transaction tx(conn);
        EXPECT_EQ(tx.exec1("SELECT count(*) FROM ece.publishes WHERE environment = 'pr-1' AND status = 'published'")[0]
                      .as<int>(), 1);
        EXPECT_EQ(tx.exec1("SELECT sha FROM ece.state_manifests ORDER BY id DESC LIMIT 1")[0].as<std::string>(),
                  sha_of('3'));
    }
    EXPECT_TRUE(schemas_like(base).empty());
    EXPECT_FALSE(role_exists(base));
    EXPECT_EQ(record("feature/decades", 1)->status, ece::env::Status::destroyed);
    comments = github_.comments(1);
    ASSERT_EQ(comments.size(), 1u);
    EXPECT_THAT(comments[0].body, testing::HasSubstr("published"));

    // The push to main of the same merge (the publish workflow): the pull request is found from the commit, and
    // nothing is published twice.
    github_.add_pull({.number = 1, .state = "closed", .merged = true, .head_ref = "feature/decades",
                      .head_sha = sha_of('2'), .merge_commit_sha = sha_of('3')});
    github_.link_commit(sha_of('3'), 1);
    run = ece("push", push_event(sha_of('3')), ws, sha_of('3'), {{"COMMAND", "publish"}});
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_THAT(run.log, testing::HasSubstr("pull request #1 holds commit"));
    EXPECT_THAT(run.log, testing::HasSubstr("was published already"));
    {
        auto conn = db();
        pqxx::read_transaction tx(conn);
        EXPECT_EQ(tx.exec1("SELECT count(*) FROM ece.publishes WHERE environment = 'pr-1'")[0].as<int>(), 1);
    }
    ASSERT_EQ(github_.comments(1).size(), 1u);
    EXPECT_THAT(github_.comments(1)[0].body, testing::HasSubstr("published"));

    // GitHub shows each environment as a transient deployment with its statuses.
    std::vector<std::string> states;
    for (const auto& d : github_.deployments()) {
        if (d.environment != "ece/pr-1") continue;
        EXPECT_TRUE(d.transient_environment);
        for (const auto& s : d.statuses) states.push_back(s.state);
    }
    // Opened: in_progress, success; synchronize: in_progress, success, and ece marks the first inactive (GitHub's
    // auto_inactive skips transient environments); merged: inactive, retiring the second; the push of the merge:
    // inactive. Nothing of pr-1 looks live afterwards.
    EXPECT_THAT(states, testing::ElementsAre("in_progress", "success", "inactive", "in_progress", "success", "inactive",
                                             "inactive", "inactive"));

    // #2 opened, then closed without merging: nothing of it is left.
    const std::string base2 = prefix_ + "pr_2";
    ws = workspace("pr2-opened", {change_a, change_b, change_c});
    run = ece("pull_request", pull_request_event("opened", 2, "feature/states",
                                                 sha_of('4')), ws, sha_of('4'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_EQ(built_models("pr-2"), (std::set<std::string>{"model.ece_demo.distinct_providers"}));
    run = ece("pull_request", pull_request_event("closed", 2, "feature/states",
                                                 sha_of('4')), ws, sha_of('4'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_EQ(run.outputs["step"], "destroy");
    EXPECT_TRUE(schemas_like(base2).empty());
    EXPECT_FALSE(role_exists(base2));
    EXPECT_TRUE(built_models("pr-2").empty());
    EXPECT_EQ(content_tables(), production_content);
    {
        auto conn = db();
        pqxx::read_transaction tx(conn);
        EXPECT_EQ(tx.exec1("SELECT count(*) FROM ece.staged_usage WHERE environment = 'pr-2'")[0].as<int>(), 0);
    }
    ASSERT_EQ(github_.comments(2).size(), 1u);
    EXPECT_THAT(github_.comments(2)[0].body, testing::HasSubstr("destroyed"));

    // #3 with a one-second lifetime: the nightly gc removes it once expired.
    const std::string base3 = prefix_ + "pr_3";
    ws = workspace("pr3-opened", {change_a, change_b, change_c});
    run = ece("pull_request", pull_request_event("opened", 3, "feature/old", sha_of('6')),
              ws, sha_of('6'), {{"TTL", "1s"}});
    ASSERT_EQ(run.exit_code, 0) << run.log;
    ASSERT_FALSE(schemas_like(base3).empty());
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    run = ece("schedule", schedule_event(), ws, sha_of('6'));
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_EQ(run.outputs["step"], "gc");
    EXPECT_THAT(run.log, testing::HasSubstr("removed pr-3"));
    EXPECT_TRUE(schemas_like(base3).empty());
    EXPECT_FALSE(role_exists(base3));

    // Nothing printed or posted holds a secret.
    EXPECT_THAT(ece::test::find_secrets(all_logs_, {admin_url_, github_.token()}), testing::IsEmpty());
    for (int pr : {1, 2, 3})
        for (const auto& c : github_.comments(pr))
            EXPECT_THAT(ece::test::find_secrets(c.body, {admin_url_, github_.token()}), testing::IsEmpty());
}

// workflows/preview-fork-safe.yml's privileged half through the real binary: the artifact of a fork's pull request is
// built as the environment's own role with nothing of ece's credentials in dbt's environment; artifacts whose pull
// request GitHub does not confirm, or whose project climbs out of its folder, are refused with nothing created.
TEST_F(PullRequestLife, AForksArtifactIsBuiltAsTheEnvironmentAndHostileOnesAreRefused) {
    build_production();
    // A wrapper in front of real dbt that records its environment (a test's wrapper, named as such), chosen by the
    // trusted ece.yml's dbt.executable; as root, ece runs it as ece-dbt, so its records folder is open to others.
    const fs::path records = dir_ / "dbt-records";
    fs::create_directories(records);
    fs::permissions(records, fs::perms::all);
    const fs::path wrapper = ece::test::dbt_wrapper(dir_ / "wrapper", "env > '" + (records / "dbt-env").string() + "'");
    const std::map<std::string, std::string> privileged = {{"GITHUB_TOKEN", github_.token()},
                                                           {"DATABASE_URL", admin_url_}};
    const std::map<std::string, std::string> fork_inputs = {{"COMMAND", "preview"}, {"FORK-ARTIFACT", ".ece-fork"}};

    github_.add_pull({.number = 5, .head_ref = "patch-1", .head_sha = sha_of('5')});
    auto trusted = workspace("fork-base", {});
    std::ofstream(trusted / "ece.yml", std::ios::app) << "dbt: {executable: '" << wrapper.string() << "'}\n";
    fork_artifact(workspace("fork-5", {change_a}), trusted, 5, sha_of('5'));
    auto run = ece("workflow_run", workflow_run_event("patch-1", sha_of('5')), trusted, sha_of('5'), fork_inputs,
                   privileged);
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_THAT(run.log, testing::HasSubstr("pull request #5 at " + sha_of('5') + " (checked with GitHub)"));
    EXPECT_EQ(run.outputs["env-name"], "pr-5");
    EXPECT_EQ(built_models("pr-5"), change_a_models);  // the fork's change, planned from its manifest
    EXPECT_THAT(columns(prefix_ + "pr_5", "stg_patients"), testing::Contains("birth_decade"));
    ASSERT_EQ(github_.comments(5).size(), 1u);
    EXPECT_THAT(github_.comments(5)[0].body, testing::HasSubstr("ready"));
    const auto dbt_env = ece::test::read_file(records / "dbt-env");
    EXPECT_THAT(dbt_env, testing::HasSubstr("DBT_ENV_SECRET_ECE_PASSWORD="));
    EXPECT_THAT(dbt_env, testing::Not(testing::HasSubstr("GITHUB_TOKEN")));
    EXPECT_THAT(dbt_env, testing::Not(testing::HasSubstr("DATABASE_URL")));
    EXPECT_THAT(dbt_env, testing::Not(testing::HasSubstr("INPUT_")));
    EXPECT_THAT(ece::test::find_secrets(dbt_env, {admin_url_, github_.token()}), testing::IsEmpty());

    // Pull request 6 on GitHub is at another commit than the artifact and the run claim: refused.
    github_.add_pull({.number = 6, .head_ref = "patch-2", .head_sha = sha_of('7')});
    fork_artifact(workspace("fork-6", {change_b}), trusted, 6, sha_of('8'));
    run = ece("workflow_run", workflow_run_event("patch-2", sha_of('8')), trusted, sha_of('8'), fork_inputs, privileged);
    EXPECT_NE(run.exit_code, 0);
    EXPECT_THAT(run.log, testing::HasSubstr("::error::fork artifact failed"));
    EXPECT_THAT(run.log, testing::HasSubstr("on GitHub the head of pull request #6 is " + sha_of('7')));
    EXPECT_TRUE(schemas_like(prefix_ + "pr_6").empty());
    EXPECT_FALSE(record("patch-2", 6));
    EXPECT_TRUE(github_.comments(6).empty());

    // Pull request 7's artifact climbs out of its folder: refused, nothing written outside.
    github_.add_pull({.number = 7, .head_ref = "patch-3", .head_sha = sha_of('9')});
    const auto artifact = fork_artifact(workspace("fork-7", {change_c}), trusted, 7, sha_of('9'));
    auto members = ece::test::members_of(workspace("fork-7b", {change_c}));
    members.push_back({ece::test::TarMember::file, "../../../escaped.sql", "select 'owned'"});
    ece::test::write_tar_gz(artifact / "project.tar.gz", members);
    run = ece("workflow_run", workflow_run_event("patch-3", sha_of('9')), trusted, sha_of('9'), fork_inputs, privileged);
    EXPECT_NE(run.exit_code, 0);
    EXPECT_THAT(run.log, testing::HasSubstr("climbs out of the project"));
    EXPECT_TRUE(schemas_like(prefix_ + "pr_7").empty());
    EXPECT_TRUE(github_.comments(7).empty());
    EXPECT_FALSE(fs::exists(trusted / ".ece/escaped.sql"));
    EXPECT_FALSE(fs::exists(trusted / "escaped.sql"));

    EXPECT_THAT(ece::test::find_secrets(all_logs_, {admin_url_, github_.token()}), testing::IsEmpty());
}

// The environment-name and dbt-target inputs through the real binary: a hostile name is the environment of every
// step (its schema slugged), and the user's own target lends its threads and keepalives but never its connection.
TEST_F(PullRequestLife, AnExplicitEnvironmentNameAndADbtTargetAreUsedFromUpToDestroy) {
    build_production();
    const std::string name = "Team Preview/ü'; DROP SCHEMA analytics; --";
    const std::string profiles = "ece_demo:\n  target: dev\n  outputs:\n"
                                 "    ci: {type: postgres, host: elsewhere.invalid, port: 1, user: someone, password: x,"
                                 " dbname: prod, schema: analytics, threads: 2, keepalives_idle: 5}\n";
    auto ws = workspace("named", {change_a});
    write(ws / "profiles.yml", profiles);
    const std::map<std::string, std::string> inputs = {{"ENVIRONMENT-NAME", name}, {"DBT-TARGET", "ci"}};
    auto run = ece("pull_request", pull_request_event("opened", 1, "feature/decades",
                                                      sha_of('1')), ws, sha_of('1'), inputs);
    ASSERT_EQ(run.exit_code, 0) << run.log;
    ece::env::Environments envs(settings(ws));
    const auto id = envs.identify(name, std::nullopt);
    EXPECT_EQ(run.outputs["env-name"], name);
    EXPECT_EQ(run.outputs["schema"], id.base_schema);
    EXPECT_EQ(built_models(name), change_a_models);
    EXPECT_THAT(columns(id.base_schema, "stg_patients"), testing::Contains("birth_decade"));
    EXPECT_FALSE(record("feature/decades", 1));  // no pr-1 beside it
    EXPECT_THAT(run.log, testing::HasSubstr("Concurrency: 2 threads"));
    EXPECT_THAT(run.log, testing::HasSubstr("'host', 'port', 'user', 'password', 'dbname', 'schema' of " +
                                            (ws / "profiles.yml").string() + " ignored"));
    EXPECT_THAT(columns("analytics", "stg_patients"), testing::Not(testing::Contains("birth_decade")));
    ASSERT_EQ(github_.comments(1).size(), 1u);
    EXPECT_THAT(github_.comments(1)[0].body, testing::HasSubstr("ready"));
    std::set<std::string> deployment_environments;
    for (const auto& d : github_.deployments()) deployment_environments.insert(d.environment);
    EXPECT_EQ(deployment_environments, (std::set<std::string>{"ece/" + name}));

    run = ece("pull_request", pull_request_event("closed", 1, "feature/decades",
                                                 sha_of('1')), ws, sha_of('1'), inputs);
    ASSERT_EQ(run.exit_code, 0) << run.log;
    EXPECT_TRUE(schemas_like(id.base_schema).empty());
    EXPECT_FALSE(role_exists(id.role));
    EXPECT_EQ(envs.find(id)->status, ece::env::Status::destroyed);

    // A target profiles.yml lacks: refused before anything is created.
    run = ece("pull_request", pull_request_event("opened", 2, "feature/states",
                                                 sha_of('4')), ws, sha_of('4'), {{"DBT-TARGET", "nope"}});
    EXPECT_NE(run.exit_code, 0);
    EXPECT_THAT(run.log, testing::HasSubstr((ws / "profiles.yml").string()));
    EXPECT_THAT(run.log, testing::HasSubstr("no target 'nope'"));
    EXPECT_TRUE(schemas_like(prefix_ + "pr_2").empty());
    EXPECT_TRUE(github_.comments(2).empty());
}

}  // namespace
