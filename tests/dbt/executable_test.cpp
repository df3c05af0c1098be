// Which dbt ece runs (dbt/executable.hpp): the explicit choice, else ece's virtual environment, else PATH; and the
// version line from `dbt --version`'s output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "dbt/executable.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

fs::path executable(const fs::path& file) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << "#!/bin/sh\n";
    fs::permissions(file, fs::perms::owner_all);
    return file;
}

// PATH set for one test, restored after.
struct PathIs {
    explicit PathIs(const std::string& value) : saved(std::getenv("PATH")) { ::setenv("PATH", value.c_str(), 1); }
    ~PathIs() { ::setenv("PATH", saved.c_str(), 1); }
    std::string saved;
};

TEST(DbtExecutable, TheExplicitChoiceWinsThenTheVirtualEnvironmentThenPath) {
    ece::test::TempDir dir;
    const auto venv_dbt = executable(dir / "venv/bin/dbt");
    const auto path_dbt = executable(dir / "path/dbt");
    const auto configured = executable(dir / "project/tools/dbt");
    PathIs path((dir / "path").string());

    auto found = ece::dbt::find_executable({{"", "--dbt"}, {"tools/dbt", "ece.yml dbt.executable"}}, dir / "project",
                                           {dir / "none", dir / "venv"});
    EXPECT_EQ(found.path, configured);  // relative to ece.yml's folder
    EXPECT_EQ(found.chosen_by, "ece.yml dbt.executable");

    found = ece::dbt::find_executable({{"", "--dbt"}, {"", "ece.yml dbt.executable"}}, dir.path(), {dir / "none", dir / "venv"});
    EXPECT_EQ(found.path, venv_dbt);
    EXPECT_THAT(found.chosen_by, HasSubstr("virtual environment"));

    found = ece::dbt::find_executable({}, dir.path(), {dir / "none"});
    EXPECT_EQ(found.path, path_dbt);
    EXPECT_EQ(found.chosen_by, "PATH");

    found = ece::dbt::find_executable({{"dbt", "--dbt"}}, dir.path(), {dir / "venv"});  // a name: looked up on PATH
    EXPECT_EQ(found.path, path_dbt);
}

TEST(DbtExecutable, NoDbtOrAChoiceThatIsNoneSaysHowToInstallIt) {
    ece::test::TempDir dir;
    PathIs path((dir / "empty").string());
    auto error = ece::test::expect_error([&] { ece::dbt::find_executable({}, dir.path(), {dir / "venv"}); });
    EXPECT_EQ(error.kind(), ece::ErrorKind::usage);
    EXPECT_THAT(error.message(), HasSubstr((dir / "venv/bin/dbt").string()));
    EXPECT_THAT(error.message(), HasSubstr("scripts/install-deps.sh"));
    EXPECT_THAT(error.message(), HasSubstr("dbt-stack/1.9.txt"));

    error = ece::test::expect_error(
        [&] { ece::dbt::find_executable({{"bin/nothing", "ece.yml dbt.executable"}}, dir.path(), {}); });
    EXPECT_THAT(error.message(), HasSubstr("ece.yml dbt.executable names " + (dir / "bin/nothing").string()));
}

TEST(DbtExecutable, TheVersionSummaryNamesCoreAndEveryPlugin) {
    const std::string offline = "Core:\n  - installed: 1.9.1\n\n  The latest version of dbt-core could not be determined!\n"
                                "Plugins:\n  - postgres: 1.9.0 - Could not determine latest version\n";
    EXPECT_EQ(ece::dbt::version_summary(offline), "dbt-core 1.9.1, postgres 1.9.0");
    const std::string online = "Core:\n  - installed: 1.8.7\n  - latest:    1.9.1 - Update available!\n\nPlugins:\n"
                               "  - postgres: 1.8.2 - Update available!\n  - snowflake: 1.8.4 - Up to date!\n";
    EXPECT_EQ(ece::dbt::version_summary(online), "dbt-core 1.8.7, postgres 1.8.2, snowflake 1.8.4");
    EXPECT_EQ(ece::dbt::version_summary("bash: dbt: command not found"), "");
}

}  // namespace
