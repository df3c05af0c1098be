// The built ece-env, end to end against the test cluster: exit codes, output, and no secret anywhere in it.
#include "env_fixture.hpp"

#include "process/process.hpp"
#include "support.hpp"

#include <boost/json.hpp>
#include <gmock/gmock.h>

#include <fstream>
#include <map>
#include <sstream>
#include <regex>

namespace ece::env {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

class Cli : public testing_support::EnvTest {
protected:
    void SetUp() override {
        admin_exec("CREATE ROLE " + pg::quote_ident(config.production.role) + " NOLOGIN; CREATE SCHEMA analytics"
                   " AUTHORIZATION " + pg::quote_ident(config.production.role));
        std::ofstream(dir / "ece.yml") << "project: e2e\nproduction:\n  role: " << config.production.role
                                       << "\n  schemas: [analytics]\nenvironments:\n  prefix: "
                                       << config.environments.prefix << "\n  ttl: 2h\n";
        secrets.push_back(pg::parse_url(url).password);
        secrets.push_back(url);
    }

    process::Result run(std::vector<std::string> args, std::string database_url = "") {
        std::vector<std::string> argv = {ECE_ENV_BINARY, "--database-url", database_url.empty() ? url : database_url,
                                         "--config", (dir / "ece.yml").string()};
        argv.insert(argv.end(), args.begin(), args.end());
        process::Command command{argv};
        command.cwd = dir.path();
        command.timeout = std::chrono::seconds(60);
        auto result = process::run(command);
        EXPECT_THAT(test::find_secrets(result.out + result.err, secrets), IsEmpty()) << args[0];
        // No password-shaped token (32 random bytes, base64url) in output that was not asked to show one.
        EXPECT_FALSE(std::regex_search(result.out + result.err, std::regex("[A-Za-z0-9_-]{43}"))) << result.out;
        return result;
    }

    test::TempDir dir;
    std::vector<std::string> secrets;
};

TEST_F(Cli, UpListHintsProfilesDown) {
    auto up = run({"up", "--branch", "feature/e2e", "--pr", "9", "--sha", "deadbeef"});
    ASSERT_EQ(up.exit_code, 0) << up.err;
    EXPECT_THAT(up.out, HasSubstr("environment pr-9 is up (created)"));
    EXPECT_THAT(up.out, HasSubstr("password  ***"));
    EXPECT_THAT(up.out, HasSubstr(config.environments.prefix + "pr_9"));

    // JSON carries everything a script needs, the password included.
    auto command = process::Command{{ECE_ENV_BINARY, "--database-url", url, "--config", (dir / "ece.yml").string(),
                                     "--format", "json", "up", "--branch", "feature/e2e", "--pr", "9"}};
    auto json_up = process::run(command);
    ASSERT_EQ(json_up.exit_code, 0) << json_up.err;
    auto facts = boost::json::parse(json_up.out).as_object();
    EXPECT_EQ(facts["name"].as_string(), "pr-9");
    EXPECT_EQ(facts["created"].as_bool(), false);
    EXPECT_EQ(facts["head_sha"].as_string(), "deadbeef");
    const std::string password(facts["password"].as_string());
    ASSERT_EQ(password.size(), 43u);
    secrets.push_back(password);
    Credentials as_env{std::string(facts["host"].as_string()), std::string(facts["port"].as_string()),
                       std::string(facts["database"].as_string()), std::string(facts["user"].as_string()), password,
                       std::string(facts["schema"].as_string()), {}};
    EXPECT_EQ(testing_support::value_as(as_env, "SELECT current_user"), as_env.user);
    {
        auto conn = pg::connect(std::string(facts["database_url"].as_string()), "url check");
        pqxx::work tx(conn);
        EXPECT_EQ(tx.exec1("SELECT current_user")[0].as<std::string>(), as_env.user);
    }

    auto list = run({"list"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    EXPECT_THAT(list.out, HasSubstr("pr-9\tfeature/e2e\t9\tready"));
    auto list_json = run({"--format", "json", "list"});
    ASSERT_EQ(list_json.exit_code, 0);
    EXPECT_EQ(boost::json::parse(list_json.out).as_array().size(), 1u);

    auto hints = run({"hints", "--pr", "9"});
    ASSERT_EQ(hints.exit_code, 0) << hints.err;
    EXPECT_THAT(hints.out, HasSubstr("psql -h"));
    EXPECT_THAT(hints.out, HasSubstr("--branch feature/e2e --pr 9"));

    auto profiles = run({"profiles", "--pr", "9", "--out", (dir / "profiles").string()});
    ASSERT_EQ(profiles.exit_code, 0) << profiles.err;
    auto yaml = test::read_file(dir / "profiles" / "profiles.yml");
    EXPECT_THAT(test::find_secrets(yaml, secrets), IsEmpty());
    EXPECT_THAT(yaml, HasSubstr("e2e:"));

    auto down = run({"down", "--pr", "9"});
    ASSERT_EQ(down.exit_code, 0) << down.err;
    EXPECT_THAT(down.out, HasSubstr("environment pr-9 removed"));
    EXPECT_TRUE(testing_support::attempt(as_env, "SELECT 1"));
    auto after = run({"list"});
    EXPECT_THAT(after.out, HasSubstr("destroyed"));
    auto gc = run({"gc", "--dry-run"});
    EXPECT_EQ(gc.exit_code, 0);
    EXPECT_THAT(gc.out, HasSubstr("nothing to collect"));
}

// name<<DELIM\nvalue\nDELIM\n entries of $GITHUB_OUTPUT.
std::map<std::string, std::string> parse_outputs(const std::string& text) {
    std::map<std::string, std::string> outputs;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        auto marker = line.find("<<");
        if (marker == std::string::npos) continue;
        std::string name = line.substr(0, marker), delimiter = line.substr(marker + 2), value, next;
        while (std::getline(in, next) && next != delimiter) value += (value.empty() ? "" : "\n") + next;
        outputs[name] = value;
    }
    return outputs;
}

TEST_F(Cli, InGitHubActionsMasksThePasswordAndWritesOutputs) {
    process::Command command{{ECE_ENV_BINARY, "--database-url", url, "--config", (dir / "ece.yml").string(), "up",
                              "--branch", "feature/ci", "--pr", "4", "--show-password"}};
    command.env = {{"GITHUB_ACTIONS", "true"}, {"GITHUB_OUTPUT", (dir / "outputs").string()}};
    auto result = process::run(command);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    auto outputs = parse_outputs(test::read_file(dir / "outputs"));
    EXPECT_EQ(outputs["env-name"], "pr-4");
    EXPECT_EQ(outputs["schema"], config.environments.prefix + "pr_4");
    EXPECT_EQ(outputs["user"], config.environments.prefix + "pr_4");
    EXPECT_EQ(outputs["host"], pg::parse_url(url).host);
    EXPECT_EQ(outputs["port"], pg::parse_url(url).port);
    const std::string password = outputs["password"];
    ASSERT_EQ(password.size(), 43u);
    // The runner is told to mask it before anything else; no other line carries it (even with --show-password).
    std::istringstream out(result.out);
    std::string line, first;
    std::getline(out, first);
    EXPECT_EQ(first, "::add-mask::" + password);
    for (std::istringstream all(result.out); std::getline(all, line);) {
        if (line.rfind("::add-mask::", 0) != 0) {
            EXPECT_THAT(line, ::testing::Not(HasSubstr(password)));
        }
    }
    EXPECT_THAT(result.out, HasSubstr("password  ***"));
    EXPECT_THAT(result.err, ::testing::Not(HasSubstr(password)));
    auto conn = pg::connect(outputs["database-url"], "output check");
    pqxx::work tx(conn);
    EXPECT_EQ(tx.exec1("SELECT current_user")[0].as<std::string>(), config.environments.prefix + "pr_4");
}

TEST_F(Cli, ErrorsHaveExitCodesAndNoSecrets) {
    secrets.push_back("dead-server-password");
    auto dead = run({"up", "--branch", "main"}, "postgresql://postgres:dead-server-password@127.0.0.1:1/postgres");
    EXPECT_EQ(dead.exit_code, exit_code::database);
    EXPECT_THAT(dead.err, HasSubstr("cannot connect to PostgreSQL at 127.0.0.1:1"));

    EXPECT_EQ(run({"up"}).exit_code, exit_code::usage);
    EXPECT_EQ(run({"frobnicate"}).exit_code, exit_code::usage);
    EXPECT_EQ(run({"up", "--branch", "pr-3"}).exit_code, exit_code::usage);
    auto not_up = run({"hints", "--branch", "nothing-here"});
    EXPECT_EQ(not_up.exit_code, exit_code::conflict);
    EXPECT_THAT(not_up.err, HasSubstr("not up"));
}

TEST_F(Cli, HelpAndVersion) {
    auto help = run({"--help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_THAT(help.out, HasSubstr("profiles --branch B"));
    auto version = run({"--version"});
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_THAT(version.out, HasSubstr("ece-env "));
}

}  // namespace
}  // namespace ece::env
