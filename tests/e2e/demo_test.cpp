// `ece demo` from a clean working directory, as the README's first command runs it, twice (it is re-runnable); then
// the local flags on its branch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pg/embedded.hpp"
#include "process/process.hpp"
#include "support.hpp"

#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;

namespace {

ece::process::Result ece_run(const fs::path& cwd, std::vector<std::string> args) {
    ece::process::Command command;
    command.argv = {ECE_BIN};
    command.argv.insert(command.argv.end(), args.begin(), args.end());
    command.cwd = cwd;
    command.inherit_env = true;
    // As a user runs it: no server given, so ece starts its embedded one under .ece/pg; dbt on PATH (unless
    // install-deps.sh made ece's own virtual environment, which comes first and is real dbt as well).
    const char* path = std::getenv("PATH");
    command.env = {{"ECE_DATABASE_URL", ""},
                   {"PATH", ece::test::real_dbt().parent_path().string() + ":" + (path ? path : "")}};
    command.timeout = std::chrono::minutes(10);
    return ece::process::run(command);
}

ece::process::Result demo(const fs::path& cwd) { return ece_run(cwd, {"demo", "--scale", "0.001"}); }

TEST(EceDemo, RunsEndToEndInAnEmptyDirectoryAndAgain) {
    ece::test::TempDir cwd;
    struct StopServer {
        fs::path dir;
        ~StopServer() { ece::pg::destroy_embedded(dir); }
    } stop{cwd / ".ece/pg"};
    auto first = demo(cwd.path());
    ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
    EXPECT_THAT(first.out, testing::HasSubstr("dbt-core 1.9.1, postgres 1.9.0"));  // which dbt runs (dbt --version)
    EXPECT_THAT(first.out, testing::HasSubstr("model.ece_demo.stg_patients: body changed"));
    EXPECT_THAT(first.out, testing::HasSubstr("ok dbt build"));
    EXPECT_THAT(first.out, testing::HasSubstr("psql"));  // the hints
    const auto comment = cwd / ".ece/demo/comment.md";
    ASSERT_TRUE(fs::exists(comment));
    const auto text = ece::test::read_file(comment);
    EXPECT_THAT(text, testing::HasSubstr("ece: `demo` ready"));
    EXPECT_THAT(text, testing::HasSubstr("5 models built"));
    EXPECT_THAT(text, testing::HasSubstr("<!-- ece:env=demo "));
    EXPECT_THAT(ece::test::find_secrets(first.out + first.err + text, {ece::test::read_file(cwd / ".ece/pg/admin-password")}), testing::IsEmpty());

    auto second = demo(cwd.path());
    ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
    EXPECT_THAT(second.out, testing::HasSubstr("repaired demo"));
    EXPECT_THAT(second.out, testing::HasSubstr("data: reusing"));

    // The original tool's flags on the demo's branch: hints, publish (no pull request: the branch's environment),
    // destroy (nothing left to remove).
    const std::vector<std::string> demo_branch = {"--branch", "demo", "--config", ".ece/demo/main/ece.yml",
                                                  "--project-dir", ".ece/demo/project"};
    auto with = [&](std::vector<std::string> args) {
        args.insert(args.end(), demo_branch.begin(), demo_branch.end());
        return ece_run(cwd.path(), args);
    };
    auto hints = with({"--hints"});
    ASSERT_EQ(hints.exit_code, 0) << hints.out << hints.err;
    EXPECT_THAT(hints.out, testing::HasSubstr("psql"));
    auto published = with({"--publish", "--sha", std::string(40, 'e'), "--comment-file", ".ece/demo/published.md"});
    ASSERT_EQ(published.exit_code, 0) << published.out << published.err;
    EXPECT_THAT(published.out, testing::HasSubstr("undo with ece-publish --rollback"));
    EXPECT_THAT(ece::test::read_file(cwd / ".ece/demo/published.md"), testing::HasSubstr("ece: `demo` published"));
    auto destroyed = with({"--cleanup"});
    ASSERT_EQ(destroyed.exit_code, 0) << destroyed.out << destroyed.err;
    EXPECT_THAT(destroyed.out, testing::HasSubstr("nothing to remove"));
}

}  // namespace
