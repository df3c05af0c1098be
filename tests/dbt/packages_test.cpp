// dbt packages (dbt/packages.hpp) with real dbt and `local:` packages (no network): `dbt deps` runs when a project
// declares packages and dbt_packages/ does not hold them, is skipped when it does, and a failing deps names the package.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "dbt/build.hpp"
#include "dbt/packages.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

// A project with no models that declares the packages given (packages.yml text), and a local package ece_pkg_a.
fs::path project_with(const fs::path& dir, const std::string& packages_yml) {
    write(dir / "pkg_a/dbt_project.yml", "name: ece_pkg_a\nversion: '1.0'\nconfig-version: 2\n");
    write(dir / "pkg_a/macros/decade.sql", "{% macro decade(column) %}({{ column }} / 10) * 10{% endmacro %}\n");
    write(dir / "project/dbt_project.yml", "name: uses_packages\nversion: '1.0'\nconfig-version: 2\nprofile: none\n");
    write(dir / "project/packages.yml", packages_yml);
    return dir / "project";
}

ece::dbt::DepsRun deps_run(std::vector<std::string>& log) {
    ece::dbt::DepsRun run;
    run.dbt = ece::test::real_dbt();
    run.env = {{"HOME", "/nonexistent"}, {"DBT_SEND_ANONYMOUS_USAGE_STATS", "false"}, {"DBT_USE_COLORS", "false"}};
    run.timeout = std::chrono::minutes(2);
    run.on_log_line = [&](std::string_view line) { log.emplace_back(line); };
    return run;
}

TEST(DbtPackages, DeclaredPackagesAreReadWithTheirLines) {
    ece::test::TempDir dir;
    const auto project = project_with(dir.path(), "packages:\n  - local: ../pkg_a\n  - package: dbt-labs/dbt_utils\n"
                                                  "    version: [\">=1.0.0\", \"<2.0.0\"]\n");
    write(project / "dependencies.yml", "projects:\n  - name: upstream\n");  // dbt Mesh only: nothing to install
    const auto packages = ece::dbt::declared_packages(project);
    ASSERT_EQ(packages.size(), 2u);
    EXPECT_EQ(packages[0].spec, "local: ../pkg_a");
    EXPECT_EQ(packages[0].line, 2);
    EXPECT_EQ(packages[1].spec, "package: dbt-labs/dbt_utils");
    EXPECT_EQ(packages[1].line, 3);
    EXPECT_TRUE(ece::dbt::declared_packages(dir / "pkg_a").empty());

    write(project / "packages.yml", "packages:\n  - {revision: main}\n");
    const auto error = ece::test::expect_error([&] { ece::dbt::declared_packages(project); });
    EXPECT_EQ(error.where().file, (project / "packages.yml").string());
    EXPECT_EQ(error.where().line, 2u);
}

// ece runs deps in a copy of the checkout (dbt's sandbox); what it installed is kept in the checkout, where the
// workflows cache dbt_packages/: the local package as a relative link to the checkout's own folder, the lock file
// dbt wrote; the next copy of the checkout then skips deps.
TEST(DbtPackages, InstalledPackagesAreKeptInTheCheckoutAndTheNextCopySkipsDeps) {
    ece::test::TempDir dir;
    const auto checkout = project_with(dir / "checkout", "packages:\n  - local: ../pkg_a\n");
    const auto copy_of_checkout = [&](const std::string& name) {
        fs::copy(dir / "checkout", dir / name, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
        return dir / name / "project";
    };
    std::vector<std::string> log;
    auto run = deps_run(log);
    run.keep_in = checkout;
    EXPECT_EQ(ece::dbt::ensure_packages(copy_of_checkout("copy1"), run), ece::dbt::Deps::installed);
    EXPECT_EQ(fs::read_symlink(checkout / "dbt_packages/ece_pkg_a"), fs::path("../../pkg_a"));
    EXPECT_TRUE(fs::exists(checkout / "dbt_packages/ece_pkg_a/macros/decade.sql"));
    EXPECT_TRUE(fs::exists(checkout / "package-lock.yml"));
    EXPECT_FALSE(fs::exists(checkout / "dbt_packages.ece-new"));
    EXPECT_TRUE(ece::dbt::packages_up_to_date(checkout));

    fs::remove_all(dir / "copy1");
    log.clear();
    EXPECT_EQ(ece::dbt::ensure_packages(copy_of_checkout("copy2"), run), ece::dbt::Deps::up_to_date);
    EXPECT_TRUE(log.empty());  // dbt did not run
}

TEST(DbtPackages, DepsRunsOnceAndAgainOnlyWhenTheDeclarationOrTheInstalledPackagesChange) {
    ece::test::TempDir dir;
    const auto project = project_with(dir.path(), "packages:\n  - local: ../pkg_a\n");
    std::vector<std::string> log;
    EXPECT_FALSE(ece::dbt::packages_up_to_date(project));
    EXPECT_EQ(ece::dbt::ensure_packages(project, deps_run(log)), ece::dbt::Deps::installed);
    EXPECT_THAT(log, testing::Contains(HasSubstr("Installing ../pkg_a")));
    EXPECT_TRUE(fs::exists(project / "dbt_packages/ece_pkg_a/macros/decade.sql"));
    EXPECT_TRUE(fs::exists(project / "package-lock.yml"));

    log.clear();
    EXPECT_EQ(ece::dbt::ensure_packages(project, deps_run(log)), ece::dbt::Deps::up_to_date);
    EXPECT_TRUE(log.empty());  // dbt did not run

    // dbt installs a local package as an absolute link (a copied project's still point at the original): one that
    // leads nowhere is not installed.
    fs::remove_all(dir / "pkg_a");
    EXPECT_FALSE(ece::dbt::packages_up_to_date(project));
    write(dir / "pkg_a/dbt_project.yml", "name: ece_pkg_a\nversion: '1.0'\nconfig-version: 2\n");
    EXPECT_TRUE(ece::dbt::packages_up_to_date(project));
    // Another declaration: deps again.
    write(project / "packages.yml", "packages:\n  - local: ../pkg_a\n  - local: ../pkg_b\n");
    EXPECT_FALSE(ece::dbt::packages_up_to_date(project));
    // The up-to-date case within build and publish is the same function; none declared: nothing runs.
    EXPECT_EQ(ece::dbt::ensure_packages(dir / "pkg_a", deps_run(log)), ece::dbt::Deps::none_declared);
}

TEST(DbtPackages, AFailingDepsNamesThePackageAndWhereItIsDeclared) {
    ece::test::TempDir dir;
    const auto project = project_with(dir.path(), "packages:\n  - local: ../pkg_a\n  - local: ../missing_pkg\n");
    std::vector<std::string> log;
    const auto error = ece::test::expect_error([&] { ece::dbt::ensure_packages(project, deps_run(log)); });
    EXPECT_EQ(error.kind(), ece::ErrorKind::external);
    EXPECT_THAT(error.message(), HasSubstr("dbt deps failed"));
    EXPECT_THAT(error.message(), HasSubstr("local: ../missing_pkg (packages.yml line 3)"));
    EXPECT_THAT(error.message(), testing::Not(HasSubstr("local: ../pkg_a (")));
    EXPECT_FALSE(ece::dbt::packages_up_to_date(project));
}

}  // namespace
