// ece-dbt build against a real PostgreSQL with real dbt (ece::test::real_dbt()): production is built
// into schema analytics from small raw tables and its manifest stored in the catalog; a branch of the example project
// is then built into an environment's schema, deferring everything it did not change to production.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include <boost/json/parse.hpp>

#include "catalog/migrate.hpp"
#include "core/secrets.hpp"
#include "dbt/build.hpp"
#include "dbt/catalog.hpp"
#include "dbt/gzip.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "process/process.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using ece::test::fixture;
using ece::test::read_file;
using ece::test::TempDir;
using testing::HasSubstr;

const fs::path source_dir = ECE_SOURCE_DIR;
const fs::path fake_dbt = source_dir / "tests/dbt/fake_dbt_dumps_environment";
const fs::path fake_dbt_other_nodes = source_dir / "tests/dbt/fake_dbt_runs_other_nodes";
const fs::path demo_project = source_dir / "examples/ece_demo";

const char* const raw_data = ece::test::demo_raw_data_sql;

// The example project's models, seeds and tests (what a full build runs).
const std::set<std::string> all_relations = {"distinct_patients", "distinct_providers", "female_patients",
                                             "male_patients",     "observed_diagnoses", "patients_by_sex",
                                             "sex_codes",         "stg_diagnoses",      "stg_patients"};

fs::path copy_project(const fs::path& where) {
    fs::copy(demo_project, where, fs::copy_options::recursive);
    fs::remove_all(where / "target");
    return where;
}

void replace_in_file(const fs::path& file, const std::string& from, const std::string& to) {
    std::string text = read_file(file);
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from << " not in " << file;
    text.replace(at, from.size(), to);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

// body_change scenario: a column added to stg_patients.
void apply_body_change(const fs::path& project) {
    replace_in_file(project / "models/staging/stg_patients.sql", "    birth_year\n",
                    "    birth_year,\n    (birth_year / 10) * 10 as birth_decade\n");
}

std::set<std::string> relations_in(pqxx::connection& conn, const std::string& schema) {
    pqxx::read_transaction tx(conn);
    std::set<std::string> names;
    for (const auto& row :
         tx.exec_params("SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema))
        names.insert(row[0].as<std::string>());
    return names;
}

std::set<std::string> model_names(const std::vector<std::string>& ids) {
    std::set<std::string> names;
    for (const auto& id : ids)
        if (id.rfind("test.", 0) != 0) names.insert(id.substr(id.rfind('.') + 1));
    return names;
}

std::vector<std::string> expected_selection(const std::string& scenario, const std::string& selector) {
    const auto expected = boost::json::parse(read_file(fixture("dbt/scenarios/" + scenario + "/expected.json")));
    std::vector<std::string> ids;
    for (const auto& id : expected.at(selector).as_array()) ids.emplace_back(id.as_string().c_str());
    return ids;
}

// One database with production built by real dbt and its manifest in the catalog, shared by the suite.
struct Production {
    std::string url;  // admin URL of the database
    ece::pg::ConnectionFacts admin;
    std::unique_ptr<TempDir> dir;
    fs::path manifest;
    std::int64_t stored_id = 0;
};

// A database with the raw tables and an empty production schema, for tests whose dbt is a fake.
Production without_production() {
    Production prod;
    prod.url = ece::test::fresh_database("dbtbuild");
    prod.admin = ece::pg::parse_url(prod.url);
    auto conn = ece::pg::connect(prod.url, "test setup");
    pqxx::work tx(conn);
    tx.exec(raw_data);
    tx.exec("CREATE SCHEMA analytics");
    tx.commit();
    return prod;
}

Production build_production(bool store_manifest) {
    Production prod;
    prod.url = ece::test::fresh_database("dbtbuild");
    prod.admin = ece::pg::parse_url(prod.url);
    prod.dir = std::make_unique<TempDir>();
    {
        auto conn = ece::pg::connect(prod.url, "test setup");
        pqxx::work tx(conn);
        tx.exec(raw_data);
        tx.commit();
    }
    const fs::path project = copy_project(*prod.dir / "production");
    const ece::dbt::BuildTarget target{prod.admin.host, prod.admin.port, prod.admin.dbname, prod.admin.user,
                                       prod.admin.password, "analytics", "analytics", "production", "prodsha", ""};
    std::ofstream(*prod.dir / "profiles.yml") << ece::dbt::profiles_yml(target, 1);
    ece::process::Command build;
    build.argv = {ece::test::real_dbt().string(), "build", "--project-dir", project.string(), "--profiles-dir",
                  prod.dir->path().string(), "--profile", "ece", "--target", "ece"};
    build.env = ece::dbt::dbt_environment(target, prod.dir->path(), "raw");
    build.timeout = std::chrono::minutes(10);  // real dbt: seconds when idle, minutes on a loaded machine
    const auto result = ece::process::run(build);
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    prod.manifest = project / "target/manifest.json";
    if (store_manifest) {
        auto conn = ece::pg::connect(prod.url, "test setup");
        prod.stored_id = ece::dbt::store_production_manifest(conn, prod.manifest, "prodsha", "test production build");
    }
    return prod;
}

// An environment as ece-env makes one: a login role owning its base schema, and <base>_raw with the staged data
// (here: views on raw); read access to production for --defer.
ece::dbt::BuildTarget make_environment(const Production& prod, const std::string& name) {
    const std::string role = ece::test::unique_name("ece_env");
    const std::string password = "pw-" + ece::test::unique_name("secret");
    ece::register_secret(password);
    const std::string q_role = ece::pg::quote_ident(role);
    const std::string q_raw = ece::pg::quote_ident(role + "_raw");
    auto conn = ece::pg::connect(prod.url, "test setup");
    pqxx::work tx(conn);
    tx.exec("CREATE ROLE " + q_role + " LOGIN PASSWORD " + tx.quote(password));
    tx.exec("CREATE SCHEMA " + q_role + " AUTHORIZATION " + q_role);
    tx.exec("CREATE SCHEMA " + q_raw);
    for (const char* table : {"patients", "diagnoses", "providers", "icd10"})
        tx.exec("CREATE VIEW " + q_raw + "." + table + " AS SELECT * FROM raw." + table);
    tx.exec("GRANT USAGE ON SCHEMA " + q_raw + ", analytics TO " + q_role);
    tx.exec("GRANT SELECT ON ALL TABLES IN SCHEMA " + q_raw + ", analytics TO " + q_role);
    tx.commit();
    return {prod.admin.host, prod.admin.port, prod.admin.dbname, role, password, role, "analytics", name,
            "branchsha", ""};
}

struct CommandResult {
    int exit_code;
    std::string output;
};

// The real ece-dbt binary, with ece's environment plus extra variables.
CommandResult run_ece_dbt(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
    ece::process::Command command;
    command.argv = {ECE_DBT_BINARY};
    command.argv.insert(command.argv.end(), args.begin(), args.end());
    command.env = env;
    command.inherit_env = true;
    command.timeout = std::chrono::minutes(3);
    const auto result = ece::process::run(command);
    return {result.exit_code, result.out + result.err};
}

// ece-dbt plan --project-dir runs real dbt (parse), so it lives here with the other real-dbt tests, not with
// plan_command_test.cpp's unit tests (the image's quick tests run those without dbt's Python packages).
TEST(PlanCommandLive, ProjectDirParsesWithItsOwnProfileWithoutABranch) {
    // No profiles.yml anywhere the user's dbt would look: ece writes the profile dbt parses with, as build does,
    // and the raw schema it parses with stands for production's, so the unchanged project plans nothing.
    TempDir dir;
    const auto project = dir / "ece_demo";
    fs::copy(fixture("dbt/ece_demo"), project, fs::copy_options::recursive);
    fs::permissions(project, fs::perms::owner_all, fs::perm_options::add);
    for (const auto& entry : fs::recursive_directory_iterator(project))
        fs::permissions(entry.path(), fs::perms::owner_write, fs::perm_options::add);
    const auto r = run_ece_dbt({"plan", "--project-dir", project.string(), "--dbt", ece::test::real_dbt().string(),
                                "--state", fixture("dbt/scenarios/base").string(), "--format", "json", "--out",
                                (dir / "plan.json").string()},
                               {});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto plan = boost::json::parse(read_file(dir / "plan.json")).as_object();
    EXPECT_EQ(plan.at("selected").as_array().size(), 0u) << r.output;
    EXPECT_TRUE(fs::exists(project / "target" / "partial_parse.msgpack"));
}

std::string target_url(const ece::dbt::BuildTarget& target) {
    return ece::pg::make_url({target.host, target.port, target.user, target.password, target.dbname, {}});
}

class DbtBuild : public testing::Test {
protected:
    static void SetUpTestSuite() { production = new Production(build_production(true)); }
    static void TearDownTestSuite() {
        delete production;
        production = nullptr;
    }
    static Production* production;
};
Production* DbtBuild::production = nullptr;

TEST_F(DbtBuild, BuildsExactlyThePlanDeferringTheRestToProduction) {
    TempDir dir;
    const fs::path project = copy_project(dir / "project");
    apply_body_change(project);
    const auto target = make_environment(*production, "pr-1");
    std::vector<std::string> log;
    ece::dbt::BuildOptions options;
    options.project_dir = project;
    options.dbt = ece::test::real_dbt();
    options.on_log_line = [&](std::string_view line) { log.emplace_back(line); };
    // ece.yml's dbt.vars reach dbt as one argument, shell text and all (the project reads no var).
    options.vars = R"({"unused": "$(touch /tmp/ece-owned); x"})";
    options.exclude = {"sex_codes"};
    auto catalog = ece::pg::connect(production->url, "test catalog");

    const auto report = ece::dbt::run_build(catalog, target, options);

    ASSERT_EQ(report.status, "success") << report.message << testing::PrintToString(log);
    EXPECT_EQ(report.dbt_exit_code, 0);
    EXPECT_THAT(report.plan.state_source, HasSubstr("catalog: ece.state_manifests #"));
    EXPECT_FALSE(report.plan.full_build);
    // The plan is dbt's own state:modified+ for this change, and dbt ran exactly it.
    EXPECT_EQ(report.planned, expected_selection("body_change", "state:modified+"));
    ASSERT_TRUE(report.run_results);
    std::vector<std::string> ran;
    for (const auto& r : report.run_results->results) ran.push_back(r.unique_id);
    std::sort(ran.begin(), ran.end());
    EXPECT_EQ(ran, report.planned);
    EXPECT_TRUE(report.not_run.empty());
    EXPECT_TRUE(report.unplanned.empty());
    EXPECT_THAT(report.dbt_command, testing::Contains("--defer"));
    EXPECT_THAT(report.dbt_command, testing::Contains("ece_demo.staging.stg_patients"));
    const auto vars = std::find(report.dbt_command.begin(), report.dbt_command.end(), "--vars");
    ASSERT_NE(vars, report.dbt_command.end());
    ASSERT_NE(vars + 1, report.dbt_command.end());
    EXPECT_EQ(*(vars + 1), options.vars);
    // ece.yml's dbt.exclude: out of the plan (sex_codes is not in it anyway) and given to dbt as --exclude.
    EXPECT_THAT(report.dbt_command, testing::Contains("--exclude"));
    EXPECT_THAT(report.dbt_command, testing::Contains("sex_codes"));
    EXPECT_THAT(log, testing::Contains(HasSubstr("Done. PASS=11")));
    // The password reached dbt only through its environment: nothing dbt wrote or printed holds it.
    for (const char* artifact : {"manifest.json", "run_results.json"})
        EXPECT_THAT(ece::test::find_secrets(read_file(project / "target" / artifact), {target.password}),
                    testing::IsEmpty())
            << artifact;
    EXPECT_THAT(ece::test::find_secrets(testing::PrintToString(log), {target.password}), testing::IsEmpty());

    // Relations exist in the environment only for the planned models; patients_by_sex read sex_codes from
    // production through --defer.
    const std::set<std::string> planned_relations = model_names(report.planned);
    EXPECT_EQ(relations_in(catalog, target.schema), planned_relations);
    EXPECT_EQ(relations_in(catalog, "analytics"), all_relations);
    {
        pqxx::read_transaction tx(catalog);
        EXPECT_EQ(tx.exec1("SELECT count(birth_decade) FROM " + ece::pg::quote_ident(target.schema) + ".stg_patients")[0]
                      .as<int>(),
                  5);
        EXPECT_EQ(tx.exec1("SELECT sum(patients) FROM " + ece::pg::quote_ident(target.schema) + ".patients_by_sex")[0]
                      .as<int>(),
                  5);
        // dbt read the staged data through ECE_RAW_SCHEMA: the environment's <base>_raw, not production's raw.
        const auto view = tx.exec_params1("SELECT pg_get_viewdef(to_regclass($1))",
                                          ece::pg::quote_ident(target.schema) + ".stg_patients")[0]
                              .as<std::string>();
        EXPECT_THAT(view, HasSubstr(target.schema + "_raw.patients"));
    }

    // Recorded: the build with plan and run results, and the built nodes at the branch's checksums.
    const auto build = ece::dbt::latest_build(catalog, "pr-1");
    ASSERT_TRUE(build);
    EXPECT_EQ(build->id, report.build_id);
    EXPECT_EQ(build->status, "success");
    EXPECT_EQ(build->sha, "branchsha");
    EXPECT_EQ(build->dbt_exit_code, 0);
    EXPECT_TRUE(build->finished_at);
    ASSERT_TRUE(build->run_results_json);
    EXPECT_EQ(boost::json::parse(*build->run_results_json).at("results").as_array().size(), 11u);
    EXPECT_EQ(boost::json::parse(build->plan_json).at("selected").as_array().size(), 11u);

    const auto branch = ece::dbt::load_manifest(project / "target/manifest.json");
    const auto nodes = ece::dbt::built_nodes(catalog, "pr-1");
    std::set<std::string> recorded;
    for (const auto& node : nodes) {
        recorded.insert(node.relation);
        const auto* manifest_node = branch.find(node.unique_id);
        ASSERT_NE(manifest_node, nullptr) << node.unique_id;
        EXPECT_EQ(node.checksum, manifest_node->checksum) << node.unique_id;
        EXPECT_EQ(node.schema, target.schema);
        EXPECT_EQ(node.build_id, report.build_id);
        EXPECT_EQ(node.sha, "branchsha");
        EXPECT_EQ(node.resource_type, "model");
    }
    EXPECT_EQ(recorded, planned_relations);
    const auto stg = std::find_if(nodes.begin(), nodes.end(),
                                  [](const auto& n) { return n.unique_id == "model.ece_demo.stg_patients"; });
    ASSERT_NE(stg, nodes.end());
    EXPECT_EQ(stg->materialized, "view");
    // The branch's checksum, not production's.
    const auto prod_manifest = ece::dbt::load_manifest(production->manifest);
    EXPECT_NE(stg->checksum, prod_manifest.find("model.ece_demo.stg_patients")->checksum);
}

// An environment that cannot read production (a DigitalOcean cluster of its own) builds everything, although
// production's state is there to compare with.
TEST_F(DbtBuild, FullBuildReasonBuildsEverythingWithoutDeferDespiteProductionState) {
    TempDir dir;
    const fs::path project = copy_project(dir / "project");
    apply_body_change(project);
    const auto target = make_environment(*production, "pr-own-cluster");
    ece::dbt::BuildOptions options;
    options.project_dir = project;
    options.dbt = ece::test::real_dbt();
    options.full_build_reason = "environment pr-own-cluster is a digitalocean cluster of its own";
    auto catalog = ece::pg::connect(production->url, "test catalog");

    const auto report = ece::dbt::run_build(catalog, target, options);

    ASSERT_EQ(report.status, "success") << report.message;
    EXPECT_TRUE(report.plan.full_build);
    EXPECT_EQ(report.plan.full_build_reason, *options.full_build_reason);
    EXPECT_THAT(report.dbt_command, testing::Not(testing::Contains("--defer")));
    EXPECT_EQ(report.planned.size(), 19u);
}

TEST_F(DbtBuild, FailingTestExitsNonZeroWithResultsRecorded) {
    TempDir dir;
    const fs::path project = copy_project(dir / "project");
    // Every patient twice: unique_distinct_patients_patid fails.
    replace_in_file(project / "models/marts/distinct_patients.sql", "select distinct patid\nfrom {{ ref('stg_patients') }}",
                    "select patid from {{ ref('stg_patients') }}\nunion all\nselect patid from {{ ref('stg_patients') }}");
    const auto target = make_environment(*production, "pr-fail");
    const auto r = run_ece_dbt({"build", "--branch", "fail", "--environment", "pr-fail", "--project-dir",
                                project.string(), "--dbt", ece::test::real_dbt().string(), "--schema", target.schema,
                                "--database-url", production->url, "--sha", "failsha"},
                               {{"ECE_DBT_TARGET_URL", target_url(target)}, {"GITHUB_ACTIONS", "true"}});
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr("::group::dbt build for pr-fail"));
    EXPECT_THAT(r.output, HasSubstr("::endgroup::"));
    EXPECT_THAT(r.output, HasSubstr(": failed"));
    EXPECT_THAT(r.output, HasSubstr("test.ece_demo.unique_distinct_patients_patid"));
    EXPECT_THAT(ece::test::find_secrets(r.output, {target.password, production->admin.password}), testing::IsEmpty());

    auto catalog = ece::pg::connect(production->url, "test catalog");
    const auto build = ece::dbt::latest_build(catalog, "pr-fail");
    ASSERT_TRUE(build);
    EXPECT_EQ(build->status, "failed");
    EXPECT_EQ(build->dbt_exit_code, 1);
    ASSERT_TRUE(build->run_results_json);
    const auto results = ece::dbt::parse_run_results(*build->run_results_json);
    ASSERT_NE(results.find("test.ece_demo.unique_distinct_patients_patid.c39071927c"), nullptr);
    EXPECT_EQ(results.find("test.ece_demo.unique_distinct_patients_patid.c39071927c")->status, "fail");
    // The model itself was built, and is recorded.
    const auto nodes = ece::dbt::built_nodes(catalog, "pr-fail");
    ASSERT_EQ(nodes.size(), 1u);
    EXPECT_EQ(nodes[0].unique_id, "model.ece_demo.distinct_patients");
    EXPECT_EQ(nodes[0].sha, "failsha");
}

TEST_F(DbtBuild, NothingToBuildRecordsAnEmptyBuild) {
    TempDir dir;
    const fs::path project = copy_project(dir / "project");
    const auto target = make_environment(*production, "pr-same");
    ece::dbt::BuildOptions options;
    options.project_dir = project;
    options.dbt = ece::test::real_dbt();
    auto catalog = ece::pg::connect(production->url, "test catalog");
    const auto report = ece::dbt::run_build(catalog, target, options);
    EXPECT_EQ(report.status, "nothing_to_build");
    EXPECT_TRUE(report.ok());
    EXPECT_TRUE(report.dbt_command.empty());
    EXPECT_THAT(report.message, HasSubstr("nothing to build"));
    const auto build = ece::dbt::latest_build(catalog, "pr-same");
    ASSERT_TRUE(build);
    EXPECT_EQ(build->status, "nothing_to_build");
    EXPECT_FALSE(build->run_results_json);
    EXPECT_TRUE(ece::dbt::built_nodes(catalog, "pr-same").empty());
    EXPECT_TRUE(relations_in(catalog, target.schema).empty());
}

TEST(DbtBuildFake, DbtGetsAScrubbedEnvironmentAndNoWrittenPassword) {
    const Production prod = without_production();
    const Production* production = &prod;
    TempDir dir;
    const auto target = make_environment(*production, "pr-env");
    const std::string planted_token = "ghs_planted" + ece::test::unique_name("token");
    const fs::path dump = dir / "target";
    const auto r = run_ece_dbt(
        {"build", "--branch", "env", "--environment", "pr-env", "--project-dir", dir.path().string(), "--dbt",
         fake_dbt.string(), "--manifest",
         fixture("dbt/scenarios/body_change/manifest.json").string(), "--state",
         fixture("dbt/scenarios/base").string(), "--schema", target.schema, "--target-path", dump.string()},
        {{"ECE_DBT_TARGET_URL", target_url(target)},
         {"GITHUB_TOKEN", planted_token},
         {"ECE_DATABASE_URL", production->url},
         {"PGPASSWORD", production->admin.password}});
    // The fake writes no run_results.json: the build is recorded as failed.
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr("fake dbt (not dbt): dumped the environment"));

    const std::string environment = read_file(dump / "environment.txt");
    std::set<std::string> names;
    std::map<std::string, std::string> values;
    std::istringstream lines(environment);
    for (std::string line; std::getline(lines, line);) {
        const auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        names.insert(line.substr(0, eq));
        values[line.substr(0, eq)] = line.substr(eq + 1);
    }
    names.erase("PWD");  // bash sets these itself
    names.erase("SHLVL");
    names.erase("_");
    EXPECT_EQ(names, (std::set<std::string>{"PATH", "HOME", "LANG", "PYTHONUNBUFFERED", "DBT_ENV_SECRET_ECE_PASSWORD",
                                            "ECE_RAW_SCHEMA", "DBT_PROFILES_DIR", "DBT_SEND_ANONYMOUS_USAGE_STATS",
                                            "DBT_VERSION_CHECK", "DBT_USE_COLORS"}));
    EXPECT_EQ(values["DBT_ENV_SECRET_ECE_PASSWORD"], target.password);
    EXPECT_EQ(values["ECE_RAW_SCHEMA"], target.schema + "_raw");
    EXPECT_THAT(ece::test::find_secrets(environment, {planted_token, production->url, production->admin.password}),
                testing::IsEmpty());
    // profiles.yml reads the password from the environment; it was in a private directory, readable by us only.
    const std::string profiles = read_file(dump / "profiles.yml");
    EXPECT_THAT(profiles, HasSubstr("env_var('DBT_ENV_SECRET_ECE_PASSWORD')"));
    EXPECT_THAT(profiles, HasSubstr(target.user));
    EXPECT_THAT(ece::test::find_secrets(profiles, {target.password}), testing::IsEmpty());
    EXPECT_EQ(read_file(dump / "profiles_dir_mode.txt"), "700\n");
    EXPECT_EQ(read_file(dump / "profiles_file_mode.txt"), "600\n");
    EXPECT_FALSE(fs::exists(values["HOME"])) << "the private directory is removed after the build";
    EXPECT_THAT(ece::test::find_secrets(r.output, {planted_token, target.password, production->admin.password}),
                testing::IsEmpty());
}

TEST(DbtBuildFake, OtherNodesThanPlannedIsAMismatch) {
    const Production prod = without_production();
    const Production* production = &prod;
    TempDir dir;
    const auto target = make_environment(*production, "pr-mismatch");
    ece::dbt::BuildOptions options;
    options.dbt = fake_dbt_other_nodes;
    options.branch_manifest = fixture("dbt/scenarios/body_change/manifest.json");
    options.state_dir = fixture("dbt/scenarios/base");
    options.target_path = dir / "target";
    options.project_dir = dir.path();  // the fake reads no project (dbt works on a copy of it)
    auto catalog = ece::pg::connect(production->url, "test catalog");
    const auto report = ece::dbt::run_build(catalog, target, options);
    EXPECT_EQ(report.status, "mismatch");
    EXPECT_FALSE(report.ok());
    EXPECT_EQ(report.dbt_exit_code, 0);
    EXPECT_EQ(report.not_run, expected_selection("body_change", "state:modified+"));
    EXPECT_EQ(report.unplanned, std::vector<std::string>{"model.ece_demo.sex_codes_elsewhere"});
    EXPECT_THAT(report.message, HasSubstr("run but not planned: model.ece_demo.sex_codes_elsewhere"));
    EXPECT_THAT(report.message, HasSubstr("planned but not run: model.ece_demo.distinct_patients"));
    const auto build = ece::dbt::latest_build(catalog, "pr-mismatch");
    ASSERT_TRUE(build);
    EXPECT_EQ(build->status, "mismatch");
    EXPECT_EQ(build->message, report.message);
    EXPECT_TRUE(build->run_results_json);
    EXPECT_TRUE(ece::dbt::built_nodes(catalog, "pr-mismatch").empty()) << "a node the branch does not have";
}

TEST(DbtPlan, WithoutStateUsesTheCatalogsProductionManifest) {
    // Real dbt's production manifest of the scenarios, stored as publish stores it.
    const std::string url = ece::test::fresh_database("dbtplan");
    std::int64_t stored_id = 0;
    {
        auto conn = ece::pg::connect(url, "test setup");
        stored_id = ece::dbt::store_production_manifest(conn, fixture("dbt/scenarios/base/manifest.json"), "prodsha",
                                                        "publish of pr-0");
    }
    const auto r = run_ece_dbt({"plan", "--branch", "b", "--manifest",
                                fixture("dbt/scenarios/body_change/manifest.json").string(), "--database-url", url,
                                "--format", "json"},
                               {});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto plan = boost::json::parse(r.output).as_object();
    const std::string source = plan.at("state_source").as_string().c_str();
    EXPECT_THAT(source, HasSubstr("catalog: ece.state_manifests #" + std::to_string(stored_id)));
    EXPECT_THAT(source, HasSubstr("sha prodsha"));
    EXPECT_THAT(source, HasSubstr("publish of pr-0"));
    EXPECT_EQ(plan.at("full_build"), false);
    std::vector<std::string> selected;
    for (const auto& node : plan.at("selected").as_array()) selected.emplace_back(node.at("unique_id").as_string().c_str());
    EXPECT_EQ(selected, expected_selection("body_change", "state:modified+"));
}

TEST(DbtBuildFull, NoProductionStateBuildsEverythingWithoutDefer) {
    const Production empty = build_production(false);
    TempDir dir;
    const fs::path project = copy_project(dir / "project");
    const auto target = make_environment(empty, "pr-full");
    ece::dbt::BuildOptions options;
    options.project_dir = project;
    options.dbt = ece::test::real_dbt();
    auto catalog = ece::pg::connect(empty.url, "test catalog");
    const auto report = ece::dbt::run_build(catalog, target, options);
    ASSERT_EQ(report.status, "success") << report.message;
    EXPECT_TRUE(report.plan.full_build);
    EXPECT_THAT(report.plan.full_build_reason, HasSubstr("none in the catalog"));
    EXPECT_THAT(report.dbt_command, testing::Not(testing::Contains("--defer")));
    EXPECT_THAT(report.dbt_command, testing::Not(testing::Contains("--select")));
    EXPECT_EQ(report.planned.size(), 19u);
    EXPECT_TRUE(report.not_run.empty());
    EXPECT_TRUE(report.unplanned.empty());
    EXPECT_EQ(relations_in(catalog, target.schema), all_relations);
    EXPECT_EQ(ece::dbt::built_nodes(catalog, "pr-full").size(), all_relations.size());

    // The plan command says the same without a production manifest.
    const auto r = run_ece_dbt({"plan", "--branch", "b", "--manifest", (project / "target/manifest.json").string(),
                                "--database-url", empty.url, "--format", "json"},
                               {});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto plan = boost::json::parse(r.output).as_object();
    EXPECT_EQ(plan.at("full_build"), true);
    EXPECT_THAT(std::string(plan.at("full_build_reason").as_string().c_str()), HasSubstr("none in the catalog"));
}

TEST(DbtCatalog, ManifestsRoundTripGzippedAndTheNewestWins) {
    const std::string url = ece::test::fresh_database("dbtcatalog");
    auto conn = ece::pg::connect(url, "test");
    EXPECT_FALSE(ece::dbt::load_production_manifest(conn));
    const fs::path base = fixture("dbt/scenarios/base/manifest.json");
    const fs::path changed = fixture("dbt/scenarios/body_change/manifest.json");
    const auto first = ece::dbt::store_production_manifest(conn, base, "sha1", "publish of pr-1");
    const auto second = ece::dbt::store_production_manifest(conn, changed, "sha2", "publish of pr-2");
    EXPECT_GT(second, first);
    const auto stored = ece::dbt::load_production_manifest_json(conn);
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->id, second);
    EXPECT_EQ(stored->sha, "sha2");
    EXPECT_EQ(stored->source, "publish of pr-2");
    EXPECT_EQ(stored->json, read_file(changed));
    const auto manifest = ece::dbt::load_production_manifest(conn);
    ASSERT_TRUE(manifest);
    EXPECT_EQ(static_cast<std::int64_t>(manifest->nodes.size()), stored->node_count);
    {
        pqxx::read_transaction tx(conn);
        const auto sizes = tx.exec_params1("SELECT octet_length(manifest), substr(manifest, 1, 2) = '\\x1f8b'::bytea"
                                           " FROM ece.state_manifests WHERE id = $1",
                                           second);
        EXPECT_LT(sizes[0].as<std::size_t>(), read_file(changed).size() / 4);
        EXPECT_TRUE(sizes[1].as<bool>()) << "gzip magic";
    }
    // A malformed manifest is refused before anything is stored.
    EXPECT_THROW(ece::dbt::store_production_manifest_json(conn, "{\"metadata\": ", "sha3", "x"), ece::Error);
    EXPECT_EQ(ece::dbt::load_production_manifest_json(conn)->id, second);
}

TEST(DbtCatalog, ARetiredPublishedManifestIsSkippedUntilRestored) {
    const std::string url = ece::test::fresh_database("dbtcatalog");
    auto conn = ece::pg::connect(url, "test");
    const fs::path base = fixture("dbt/scenarios/base/manifest.json");
    const fs::path changed = fixture("dbt/scenarios/body_change/manifest.json");
    auto in_transaction = [&](auto change) {
        pqxx::work tx(conn);
        const auto result = change(tx);
        tx.commit();
        return result;
    };
    ece::dbt::migrate_catalog(conn);
    const auto first = in_transaction([&](auto& tx) {
        return ece::dbt::store_published_manifest(tx, ece::dbt::prepare_manifest(base), "sha1", 41);
    });
    const auto second = in_transaction([&](auto& tx) {
        return ece::dbt::store_published_manifest(tx, ece::dbt::prepare_manifest(changed), "sha2", 42);
    });
    EXPECT_EQ(ece::dbt::load_production_manifest_json(conn)->source, "publish #42");
    // A manifest that does not load is refused before any transaction, naming the file.
    ece::test::TempDir dir;
    const fs::path broken = dir / "broken-manifest.json";
    { std::ofstream(broken) << "{\"metadata\": "; }
    try {
        ece::dbt::prepare_manifest(broken);
        ADD_FAILURE() << "a broken manifest was prepared";
    } catch (const ece::Error& e) {
        EXPECT_THAT(e.what(), testing::HasSubstr("broken-manifest.json"));
    }

    EXPECT_EQ(in_transaction([](auto& tx) { return ece::dbt::retire_published_manifests(tx, 42, "rollback #43"); }), 1u);
    const auto after_rollback = ece::dbt::load_production_manifest_json(conn);
    ASSERT_TRUE(after_rollback);
    EXPECT_EQ(after_rollback->id, first);
    EXPECT_EQ(after_rollback->json, read_file(base));
    // Retiring twice changes nothing; a publish that stored no manifest has none to retire.
    EXPECT_EQ(in_transaction([](auto& tx) { return ece::dbt::retire_published_manifests(tx, 42, "rollback #44"); }), 0u);
    EXPECT_EQ(in_transaction([](auto& tx) { return ece::dbt::retire_published_manifests(tx, 7, "rollback #44"); }), 0u);

    EXPECT_EQ(in_transaction([](auto& tx) { return ece::dbt::restore_published_manifests(tx, 42); }), 1u);
    EXPECT_EQ(ece::dbt::load_production_manifest_json(conn)->id, second);

    // Every manifest retired: no production state, as before the first publish.
    in_transaction([](auto& tx) {
        return ece::dbt::retire_published_manifests(tx, 41, "r") + ece::dbt::retire_published_manifests(tx, 42, "r");
    });
    EXPECT_FALSE(ece::dbt::load_production_manifest_json(conn));
}

TEST(DbtCatalog, MigrationTwoTiesEarlierPublishedManifestsToTheirPublish) {
    const std::string url = ece::test::fresh_database("dbtcatalog");
    auto conn = ece::pg::connect(url, "test");
    // A catalog at dbt v1, as the previous ece left it, with a manifest a publish stored.
    ece::catalog::migrate(conn, "dbt", {});
    {
        pqxx::work tx(conn);
        tx.exec("CREATE TABLE ece.state_manifests (id bigserial PRIMARY KEY, sha text NOT NULL, source text NOT NULL,"
                " stored_at timestamptz NOT NULL DEFAULT now(), manifest bytea NOT NULL, node_count integer NOT NULL)");
        tx.exec("INSERT INTO ece.migrations (area, version, name) VALUES ('dbt', 1, 'as released')");
        tx.commit();
    }
    const fs::path base = fixture("dbt/scenarios/base/manifest.json");
    {
        pqxx::work tx(conn);
        tx.exec_params("INSERT INTO ece.state_manifests (sha, source, manifest, node_count) VALUES ($1, $2, $3, 1),"
                       " ('sha0', 'test production', $3, 1)",
                       "sha1", "publish #5", pqxx::binarystring(ece::dbt::gzip_compress(read_file(base))));
        tx.commit();
    }
    // Readable before the migration (the reader never migrates) ...
    EXPECT_EQ(ece::dbt::load_production_manifest_json(conn)->source, "test production");
    ece::dbt::migrate_catalog(conn);
    pqxx::work tx(conn);
    EXPECT_EQ(ece::dbt::retire_published_manifests(tx, 5, "rollback #6"), 1u);
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM ece.state_manifests WHERE publish_id IS NULL")[0].as<int>(), 1);
}

TEST(DbtCatalog, BuiltNodesAreReplacedOnlyForRebuiltNodes) {
    const std::string url = ece::test::fresh_database("dbtcatalog");
    auto conn = ece::pg::connect(url, "test");
    auto node = [](const std::string& id, const std::string& checksum) {
        return ece::dbt::BuiltNode{"", id, "model", checksum, "ece_pr_1", id.substr(id.rfind('.') + 1), "table", 0, ""};
    };
    const auto first = ece::dbt::record_build(conn, {"pr-1", "sha1", "state:modified+", "{}"},
                                              {"success", 0, std::string("{\"results\": []}"), "",
                                               {node("model.p.a", "a1"), node("model.p.b", "b1")}});
    const auto second = ece::dbt::record_build(conn, {"pr-1", "sha2", "state:modified+", "{}"},
                                               {"success", 0, std::string("{\"results\": []}"), "",
                                                {node("model.p.b", "b2")}});
    ece::dbt::record_build(conn, {"pr-2", "sha9", "state:modified+", "{}"},
                           {"success", 0, std::nullopt, "", {node("model.p.a", "other")}});
    const auto nodes = ece::dbt::built_nodes(conn, "pr-1");
    ASSERT_EQ(nodes.size(), 2u);
    EXPECT_EQ(nodes[0].unique_id, "model.p.a");
    EXPECT_EQ(nodes[0].checksum, "a1");
    EXPECT_EQ(nodes[0].build_id, first);
    EXPECT_EQ(nodes[0].sha, "sha1");
    EXPECT_EQ(nodes[1].unique_id, "model.p.b");
    EXPECT_EQ(nodes[1].checksum, "b2");
    EXPECT_EQ(nodes[1].build_id, second);
    EXPECT_EQ(nodes[1].sha, "sha2");
    EXPECT_EQ(nodes[1].environment, "pr-1");
    EXPECT_EQ(ece::dbt::latest_build(conn, "pr-1")->id, second);
    ece::dbt::forget_built_nodes(conn, "pr-1");
    EXPECT_TRUE(ece::dbt::built_nodes(conn, "pr-1").empty());
    EXPECT_EQ(ece::dbt::built_nodes(conn, "pr-2").size(), 1u);
    EXPECT_TRUE(ece::dbt::latest_build(conn, "pr-1")) << "builds stay as history";
}

TEST(DbtProfiles, PasswordOnlyThroughEnvVarAndQuotedValues) {
    const ece::dbt::BuildTarget target{"db.example", "6543", "my db", "role\"x", "s3cret-pw", "ece_pr_1",
                                       "analytics", "pr-1", "sha", "require", "/ca dir/cluster-ca.pem"};
    const std::string yml = ece::dbt::profiles_yml(target, 8);
    EXPECT_THAT(yml, HasSubstr("sslrootcert: \"/ca dir/cluster-ca.pem\""));
    EXPECT_THAT(yml, testing::Not(HasSubstr("s3cret-pw")));
    EXPECT_THAT(yml, HasSubstr("password: \"{{ env_var('DBT_ENV_SECRET_ECE_PASSWORD') }}\""));
    EXPECT_THAT(yml, HasSubstr("port: 6543"));
    EXPECT_THAT(yml, HasSubstr("dbname: \"my db\""));
    EXPECT_THAT(yml, HasSubstr("user: \"role\\\"x\""));
    EXPECT_THAT(yml, HasSubstr("schema: \"ece_pr_1\""));
    EXPECT_THAT(yml, HasSubstr("sslmode: \"require\""));
    EXPECT_THAT(yml, HasSubstr("threads: 8"));
}

TEST(DbtGzip, RoundTripAndTruncation) {
    std::string data;
    for (int i = 0; i < 100000; ++i) data += "node " + std::to_string(i) + "\n";
    const std::string packed = ece::dbt::gzip_compress(data);
    EXPECT_LT(packed.size(), data.size() / 3);
    EXPECT_EQ(ece::dbt::gzip_decompress(packed, "test"), data);
    EXPECT_EQ(ece::dbt::gzip_decompress(ece::dbt::gzip_compress(""), "test"), "");
    EXPECT_THROW(ece::dbt::gzip_decompress(packed.substr(0, packed.size() / 2), "test"), ece::Error);
    EXPECT_THROW(ece::dbt::gzip_decompress("not gzip at all", "test"), ece::Error);
}

}  // namespace

namespace {

// Which nodes start from production's table (dbt/stateful.hpp), and which config asks for a full refresh or
// refuses one (dbt's own full_refresh: false wins, as it does over dbt's --full-refresh).
TEST(StatefulNodes, SnapshotsAndIncrementalModelsAreStatefulMetaAsksForAFullRefreshDbtsFalseRefusesIt) {
    const auto m = ece::dbt::parse_manifest(R"({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
 "nodes": {
  "model.p.inc": {"resource_type": "model", "name": "inc", "config": {"materialized": "incremental"},
    "unrendered_config": {"meta": {"ece": {"full_refresh": true}}}},
  "model.p.kept": {"resource_type": "model", "name": "kept", "config": {"materialized": "incremental"},
    "unrendered_config": {"full_refresh": false, "meta": {"ece": {"full_refresh": true}}}},
  "model.p.other_meta": {"resource_type": "model", "name": "other_meta", "config": {"materialized": "incremental"},
    "unrendered_config": {"meta": {"ece": {"full_refresh": "yes"}, "owner": "x"}}},
  "snapshot.p.snap": {"resource_type": "snapshot", "name": "snap", "config": {"materialized": "snapshot"}},
  "model.p.table": {"resource_type": "model", "name": "table", "config": {"materialized": "table"}},
  "seed.p.seed": {"resource_type": "seed", "name": "seed", "config": {"materialized": "seed"}}}})");
    const auto node = [&](const char* id) { return *m.find(id); };
    EXPECT_TRUE(ece::dbt::is_stateful(node("model.p.inc")));
    EXPECT_TRUE(ece::dbt::is_stateful(node("snapshot.p.snap")));
    EXPECT_FALSE(ece::dbt::is_stateful(node("model.p.table")));
    EXPECT_FALSE(ece::dbt::is_stateful(node("seed.p.seed")));
    EXPECT_TRUE(ece::dbt::asks_full_refresh(node("model.p.inc")));
    EXPECT_FALSE(ece::dbt::refuses_full_refresh(node("model.p.inc")));
    EXPECT_TRUE(ece::dbt::refuses_full_refresh(node("model.p.kept")));
    EXPECT_FALSE(ece::dbt::asks_full_refresh(node("model.p.other_meta"))) << "only a boolean true asks";
    EXPECT_FALSE(ece::dbt::asks_full_refresh(node("snapshot.p.snap")));
}

}  // namespace
