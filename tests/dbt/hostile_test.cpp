// issue 16, the process side: a pull request's dbt project (tests/dbt/hostile_project: a hook, a macro and a model
// reading ece's environment; symbolic links to secret files added here) and its own "dbt" executable (ece.yml's
// dbt.executable names any program) attack ece for real, with real dbt (../shared/tools/dbt) and real PostgreSQL.
// What must hold: dbt never sees a secret of ece - not in its environment, not through a link, not in ece's files or
// /proc/<ece>/environ. tests/RELIABILITY.md "Processes and secrets" records each attack and its result.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "dbt/build.hpp"
#include "dbt/sandbox.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "process/process.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using ece::test::find_secrets;
using ece::test::read_file;
using ece::test::TempDir;
using ece::test::unique_name;
using testing::HasSubstr;
using testing::IsEmpty;

const fs::path source_dir = ECE_SOURCE_DIR;

// Real dbt; the one place to swap for the test-support function that finds it.
fs::path real_dbt() { return (source_dir / "../shared/tools/dbt/bin/dbt").lexically_normal(); }

void write(const fs::path& file, const std::string& text, fs::perms mode = fs::perms(0644)) {
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
    fs::permissions(file, mode, fs::perm_options::replace);
}

// A runner's checkout of the hostile project: beside the project, what ece's user holds there - .git/config with the
// checkout token (as actions/checkout persists it), .ece/pg/admin-password (the embedded server's) - and a secret
// file outside the project.
struct Checkout {
    TempDir dir;
    fs::path project = dir / "work";
    const std::string checkout_token = "ghs_CHECKOUT" + unique_name("tok");
    const std::string admin_password = "ADMINPW" + unique_name("pw");
    const std::string outside_secret = "OUTSIDE" + unique_name("secret");

    Checkout() {
        fs::copy(source_dir / "tests/dbt/hostile_project", project, fs::copy_options::recursive);
        write(project / ".git/config", "[http \"https://github.com/\"]\n\textraheader = AUTHORIZATION: basic " +
                                           checkout_token + "\n");
        write(project / ".ece/pg/admin-password", admin_password + "\n", fs::perms(0600));
        write(dir / "outside/secret.sql", "select '" + outside_secret + "' as secret\n", fs::perms(0600));
    }
    std::vector<std::string> secrets() const { return {checkout_token, admin_password, outside_secret}; }
    void link(const std::string& name, const fs::path& to) const { fs::create_symlink(to, project / name); }
};

// An environment as ece-env makes one: a login role owning its schema. No production state: a full build.
ece::dbt::BuildTarget environment(const std::string& url, const std::string& name) {
    const auto admin = ece::pg::parse_url(url);
    const std::string role = unique_name("ece_hostile");
    const std::string password = "pw-" + unique_name("envsecret");
    ece::register_secret(password);
    auto conn = ece::pg::connect(url, "test setup");
    pqxx::work tx(conn);
    tx.exec("CREATE ROLE " + ece::pg::quote_ident(role) + " LOGIN PASSWORD " + tx.quote(password));
    tx.exec("CREATE SCHEMA " + ece::pg::quote_ident(role) + " AUTHORIZATION " + ece::pg::quote_ident(role));
    tx.commit();
    return {admin.host, admin.port, admin.dbname, role, password, role, "analytics", name, "hostilesha", ""};
}

// Every regular file below dir, concatenated (what dbt left in the target folder).
std::string all_files(const fs::path& dir) {
    std::string text;
    for (const auto& entry : fs::recursive_directory_iterator(dir))
        if (entry.is_regular_file()) text += read_file(entry.path());
    return text;
}

// Symbolic links that leave the project, or lead into its .git or .ece, are refused before dbt starts, whatever the
// mode (not only for forks), with an error naming the link. On the code before issue 16, dbt read each of them.
TEST(HostileProject, SymbolicLinksLeavingTheProjectAreRefusedNamingTheLink) {
    const std::string url = ece::test::fresh_database("hostilelinks");
    const auto target = environment(url, "pr-links");
    struct Attack {
        std::string link;
        std::function<fs::path(const Checkout&)> to;
    };
    const std::vector<Attack> attacks{
        {"analyses/admin_password.sql", [](const Checkout& c) { return c.project / ".ece/pg/admin-password"; }},
        {"analyses/git_config.sql", [](const Checkout&) { return fs::path("../.git/config"); }},
        {"models/secret.sql", [](const Checkout&) { return fs::path("../../outside/secret.sql"); }},
        {"analyses/environ.sql", [](const Checkout&) { return "/proc/" + std::to_string(::getpid()) + "/environ"; }},
        {"macros/outside", [](const Checkout& c) { return c.dir / "outside"; }},
    };
    auto catalog = ece::pg::connect(url, "test catalog");
    for (const auto& attack : attacks) {
        const Checkout checkout;
        checkout.link(attack.link, attack.to(checkout));
        ece::dbt::BuildOptions options;
        options.project_dir = checkout.project;
        options.dbt = real_dbt();
        std::string logged;
        options.on_log_line = [&](std::string_view line) { logged += std::string(line) + "\n"; };
        const auto error = ece::test::expect_error([&] { ece::dbt::run_build(catalog, target, options); });
        EXPECT_EQ(error.kind(), ece::ErrorKind::input) << attack.link;
        EXPECT_THAT(error.what(), HasSubstr("the symbolic link " + attack.link + " leads")) << error.what();
        EXPECT_THAT(error.what(), HasSubstr("refused")) << error.what();
        EXPECT_THAT(find_secrets(error.what(), checkout.secrets()), IsEmpty());
        EXPECT_EQ(logged, "") << attack.link << ": dbt was started";
    }
}

// The hostile project's hook, macro and model log every secret variable of ece's environment; dbt's environment is
// an allow-list, so they find none. Its links inside the project still work; .git is closed to dbt's user.
TEST(HostileProject, ItsHookMacroAndModelFindNoSecretInTheEnvironment) {
    const std::string url = ece::test::fresh_database("hostileenv");
    const auto target = environment(url, "pr-env");
    const Checkout checkout;
    checkout.link("analyses/alias.sql", "harmless.sql");
    const std::map<std::string, std::string> planted{
        {"GITHUB_TOKEN", "ghs_PLANTED" + unique_name("gh")},
        {"ACTIONS_RUNTIME_TOKEN", "RUNTIME_PLANTED" + unique_name("rt")},
        {"ECE_DATABASE_URL", url},
        {"PGPASSWORD", ece::pg::parse_url(url).password}};
    for (const auto& [name, value] : planted) ::setenv(name.c_str(), value.c_str(), 1);
    std::vector<std::string> secrets = checkout.secrets();
    for (const auto& [name, value] : planted) secrets.push_back(value);

    ece::dbt::BuildOptions options;
    options.project_dir = checkout.project;
    options.dbt = real_dbt();
    std::string logged;
    options.on_log_line = [&](std::string_view line) { logged += std::string(line) + "\n"; };
    auto catalog = ece::pg::connect(url, "test catalog");
    const auto report = ece::dbt::run_build(catalog, target, options);
    for (const auto& [name, value] : planted) ::unsetenv(name.c_str());

    EXPECT_EQ(report.status, "success") << report.message << logged;
    EXPECT_THAT(logged, HasSubstr("stolen in on-run-start: GITHUB_TOKEN=unset"));
    EXPECT_THAT(logged, HasSubstr("stolen in model: ECE_DATABASE_URL=unset"));
    EXPECT_THAT(find_secrets(logged, secrets), IsEmpty());
    const std::string artifacts = all_files(checkout.project / "target");
    EXPECT_THAT(artifacts, HasSubstr("analysis.hostile.alias")) << "a link inside the project is followed";
    EXPECT_THAT(find_secrets(artifacts, secrets), IsEmpty());
    pqxx::read_transaction tx(catalog);
    EXPECT_EQ(tx.exec1("SELECT github_token FROM " + ece::pg::quote_ident(target.schema) + ".stolen")[0].as<std::string>(),
              "unset");
    if (ece::process::running_as_root()) {
        struct stat git {};
        ASSERT_EQ(::stat((checkout.project / ".git").c_str(), &git), 0);
        EXPECT_EQ(git.st_mode & 0077, 0u) << "the checkout's .git is closed to dbt's user";
    }
}

// A pull request's own "dbt" (ece.yml's dbt.executable) runs any code: it reads ece's /proc/<pid>/environ (the
// planted token and admin URL), follows /proc/<pid>/cwd to ece's checkout, and reads its .git/config and
// .ece/pg/admin-password by their paths. Run through the real ece-dbt binary, as root (dbt then runs as ece-dbt) and
// as an unprivileged user (dbt runs as that same user; ece is non-dumpable, so its /proc entries are closed).
class HostileDbt : public testing::TestWithParam<std::string> {};

TEST_P(HostileDbt, CannotReadEcesEnvironmentOrFiles) {
    if (!ece::process::running_as_root()) GTEST_SKIP() << "needs root (to be root, and to become nobody)";
    const bool as_root = GetParam() == "root";
    const Checkout checkout;
    const std::map<std::string, std::string> planted{{"GITHUB_TOKEN", "ghs_PLANTED" + unique_name("gh")},
                                                     {"ECE_DATABASE_URL", "postgresql://admin:ADMINURLPW" +
                                                                              unique_name("u") + "@127.0.0.1:1/db"}};
    // Its own checkout's files, as the runner leaves them: owned by ece's user (root, or nobody running ece).
    std::string files = "/proc/$PPID/environ";
    if (as_root) files += " " + (checkout.project / ".git/config").string() + " " +
                          (checkout.project / ".ece/pg/admin-password").string();
    const fs::path steal = checkout.dir / "steal-dbt";
    write(steal,
          "#!/bin/bash\n# HOSTILE: a pull request's own dbt executable, reading ece's secrets.\n"
          "echo \"hostile dbt runs as $(id -un)\"\n"
          "for f in " + files + "; do\n"
          "  if content=$(tr '\\0' '\\n' < \"$f\" | grep -E '^(GITHUB_TOKEN|ECE_DATABASE_URL)=|ghs_|ADMINPW'); then\n"
          "    echo \"read $f: $content\"\n"
          "  else echo \"cannot read $f\"; fi\n"
          "done\n"
          "echo \"ece's folder: $(readlink /proc/$PPID/cwd 2>&1)\"\n"
          "exit 3\n",
          fs::perms(0755));
    if (!as_root) fs::permissions(checkout.project, fs::perms(0777), fs::perm_options::replace);

    ece::process::Command command;
    command.argv = {ECE_DBT_BINARY, "plan", "--branch", "hostile", "--project-dir", checkout.project.string(), "--dbt",
                    steal.string(), "--state", ece::test::fixture("dbt/scenarios/base").string()};
    command.env = planted;
    command.env["TMPDIR"] = "/tmp";
    command.cwd = checkout.project;  // as in a workflow: ece runs in the checkout
    command.timeout = std::chrono::minutes(2);
    if (!as_root) command.run_as_user = "nobody";
    write(checkout.project / "profiles.yml", "hostile: {target: t, outputs: {t: {type: postgres}}}\n");
    const auto result = ece::process::run(command);
    const std::string output = result.out + result.err;

    EXPECT_THAT(output, HasSubstr(as_root ? "hostile dbt runs as ece-dbt" : "hostile dbt runs as nobody")) << output;
    EXPECT_THAT(output, HasSubstr("cannot read /proc/")) << output;
    EXPECT_THAT(output, testing::Not(HasSubstr("ece's folder: /"))) << output;
    std::vector<std::string> secrets = checkout.secrets();
    for (const auto& [name, value] : planted) secrets.push_back(value);
    EXPECT_THAT(find_secrets(output, secrets), IsEmpty()) << output;
}

INSTANTIATE_TEST_SUITE_P(AsRootAndNot, HostileDbt, testing::Values("root", "nobody"));

}  // namespace
