// Secrets: every binary's main paths run with a known admin URL and password, GitHub tokens and production
// passwords planted in the environment; stdout, stderr and every file written under the working tree (the project's
// target/, profiles, plans, what each dbt that ece started could see of its environment, copied back from dbt's target) are scanned with the
// shared scanner ece::test::find_secrets. Error paths too: their messages are where a URL slips in most easily.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "harness.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "support.hpp"

namespace ece::reliability {
namespace {

using testing::IsEmpty;

// Real dbt behind a wrapper that writes the environment it was started with to <target>/dbt-environment-<pid> (dbt's
// --target-path, whose files ece copies back to the project's target/), so the test can scan what every dbt ece
// starts could see.
fs::path reporting_dbt_in(const fs::path& dir) {
    return test::dbt_wrapper(dir, R"(target="$PWD/target" previous=""
for arg in "$@"; do
    [ "$previous" = "--target-path" ] && target="$arg"
    previous="$arg"
done
mkdir -p "$target" && { echo "== dbt $*"; env; } > "$target/dbt-environment-$$")");
}

struct Scanned {
    std::string what;
    std::vector<std::string> found;
};

TEST(Secrets, NoBinaryPrintsOrWritesAPlantedSecret) {
    test::TempDir dir;
    const std::string url = test::fresh_database("secrets");
    const std::string admin_password = pg::parse_url(url).password;
    const std::string production_role = create_production_role(url, "secprod");
    const std::string prefix = unique_env_prefix("sec");
    write_ece_yml(dir / "ece.yml", production_role, prefix);
    write_demo_csv(dir / "data", 200, 0);
    const std::string token = "ghp_PLANTED" + test::unique_name("tok");
    const std::string runtime_token = "ACTIONS_PLANTED_" + test::unique_name("rt");
    const std::string production_password = "prod-PLANTED-" + test::unique_name("pw");
    // Never anywhere: not in output, not in a file, not in the environment of a dbt ece starts.
    const std::vector<std::string> never = {url, admin_password, token, runtime_token};
    const std::map<std::string, std::string> env{{"ECE_DATABASE_URL", url},       {"PGPASSWORD", admin_password},
                                                 {"GITHUB_TOKEN", token},         {"ACTIONS_RUNTIME_TOKEN", runtime_token},
                                                 {"ECE_PROD_PASSWORD", production_password},
                                                 {"TMPDIR", (dir / "tmp").string()}};
    fs::create_directories(dir / "tmp");
    std::vector<std::string> stage_prod{ece_stage_binary, "load", "--prod"};
    for (auto& f : demo_table_flags(dir / "data")) stage_prod.push_back(f);
    ASSERT_EQ(run(stage_prod, env, dir.path()).exit_code, 0);
    build_production(url, dir.path());
    // The branch's project with the user's own profile (for dbt parse in ece-dbt plan): its password from the
    // environment, as dbt users write it.
    const fs::path project = copy_demo_project(dir / "branch", true);
    std::ofstream(project / "profiles.yml")
        << "ece_demo:\n  target: prod\n  outputs:\n    prod:\n      type: postgres\n      host: 127.0.0.1\n"
           "      port: 5432\n      user: "
        << production_role << "\n      password: \"{{ env_var('ECE_PROD_PASSWORD') }}\"\n      dbname: d\n"
        << "      schema: analytics\n      threads: 1\n";

    const std::string config = (dir / "ece.yml").string();
    const fs::path reporting_dbt = reporting_dbt_in(dir / "reporting-dbt");
    const std::string csv = "patients=" + (dir / "data/patients.csv").string();
    std::ofstream(dir / "bad.csv") << "a,b\n1,2,3\n";
    struct Case {
        std::vector<std::string> argv;
        bool must_succeed = true;
        std::map<std::string, std::string> extra{};
    };
    const std::vector<Case> cases{
        {{ece_env_binary, "--config", config, "up", "--branch", "feature/s", "--pr", "5"}},
        {{ece_env_binary, "--config", config, "hints", "--pr", "5"}},
        {{ece_env_binary, "--config", config, "profiles", "--pr", "5", "--out", (dir / "profiles").string()}},
        {{ece_env_binary, "--config", config, "list"}},
        {{ece_env_binary, "--config", config, "--format", "json", "list"}},
        {{ece_stage_binary, "load", "--branch", "feature/s", "--pr", "5", "--table", csv}},
        {{ece_stage_binary, "status"}},
        {{ece_dbt_binary, "plan", "--branch", "feature/s", "--project-dir", project.string(), "--dbt",
          reporting_dbt.string(), "--format", "json", "--out", (dir / "plan.json").string()}},
        {{ece_dbt_binary, "plan", "--branch", "feature/s", "--manifest", (project / "target/manifest.json").string()}},
        {{ece_dbt_binary, "build", "--config", config, "--branch", "feature/s", "--pr", "5", "--project-dir",
          project.string(), "--dbt", reporting_dbt.string(), "--sha", "s1"}},
        {{ece_dbt_binary, "build", "--config", config, "--branch", "feature/s", "--pr", "5", "--project-dir",
          project.string(), "--dbt", reporting_dbt.string(), "--sha", "s2"},
         true,
         {{"GITHUB_ACTIONS", "true"}, {"GITHUB_STEP_SUMMARY", (dir / "summary.md").string()}}},
        {{ece_comment_binary, "--config", config, "--branch", "feature/s", "--pr", "5", "--dry-run", "--out",
          (dir / "comment.md").string()},
         true,
         {{"GITHUB_STEP_SUMMARY", (dir / "summary-comment.md").string()}}},
        {{ece_publish_binary, "--config", config, "--pr", "5", "--sha", "m1", "--manifest",
          (project / "target/manifest.json").string(), "--dry-run"}},
        {{ece_publish_binary, "--config", config, "list"}},
        // Error paths.
        {{ece_stage_binary, "load", "--branch", "feature/s", "--pr", "5", "--table", "bad=" + (dir / "bad.csv").string()},
         false},
        {{ece_env_binary, "--config", config, "up", "--branch", "x", "--database-url",
          "postgresql://postgres:" + admin_password + "@127.0.0.1:1/postgres?connect_timeout=2"},
         false},
        {{ece_dbt_binary, "build", "--config", config, "--branch", "nobody", "--pr", "77", "--project-dir",
          project.string(), "--dbt", reporting_dbt.string()},
         false},
        {{ece_stage_binary, "status", "--database-url", url + "?sslmode=require"}, false},
        {{ece_publish_binary, "--config", config, "--rollback", "999"}, false},
        {{ece_env_binary, "--config", config, "down", "--pr", "5"}},
        {{ece_env_binary, "--config", config, "down", "--pr", "5"}},
    };
    int commands = 0;
    for (const auto& c : cases) {
        auto case_env = env;
        for (const auto& [k, v] : c.extra) case_env[k] = v;
        auto r = run(c.argv, case_env, dir.path());
        std::string name;
        for (std::size_t i = 0; i < c.argv.size() && i < 6; ++i) name += fs::path(c.argv[i]).filename().string() + " ";
        ++commands;
        if (c.must_succeed) {
            EXPECT_EQ(r.exit_code, 0) << name << r.out << r.err;
        } else {
            EXPECT_NE(r.exit_code, 0) << name;
            EXPECT_THAT(r.err, testing::HasSubstr("error: ")) << name;
        }
        const std::string printed = r.out + r.err;
        EXPECT_THAT(test::find_secrets(printed, never), IsEmpty()) << name << printed;
        EXPECT_THAT(test::find_secrets(printed, {production_password}), IsEmpty()) << name;
        // No issued environment password (43 characters of base64url) in ece-env's output: none was asked for.
        if (c.argv[0] == ece_env_binary) {
            EXPECT_FALSE(std::regex_search(printed, std::regex("[A-Za-z0-9_-]{43}"))) << name << printed;
        }
    }
    // Every file written under the working tree, dbt's artifacts and the environments dbt saw included.
    int files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
        if (!entry.is_regular_file()) continue;
        ++files;
        const std::string text = test::read_file(entry.path());
        EXPECT_THAT(test::find_secrets(text, never), IsEmpty()) << entry.path();
        // The user's own production password reaches their dbt parse (their profile asks for it), nothing else.
        if (!entry.path().filename().string().starts_with("dbt-environment-")) {
            EXPECT_THAT(test::find_secrets(text, {production_password}), IsEmpty()) << entry.path();
        }
    }
    int environments = 0;
    for (const auto& entry : fs::directory_iterator(project / "target"))
        environments += entry.path().filename().string().starts_with("dbt-environment-");
    ASSERT_GE(environments, 2) << "no dbt was started";
    EXPECT_TRUE(fs::is_empty(dir / "tmp")) << "a private directory was left behind";
    std::printf("[figures] secrets: %d command runs, %d files scanned\n", commands, files);
}

}  // namespace
}  // namespace ece::reliability
