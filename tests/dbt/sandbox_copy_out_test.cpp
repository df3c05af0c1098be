// What ece copies out of dbt's sandbox (its target/, the packages dbt deps installed) never goes through a link dbt's
// user made or swapped in while ece copies (dbt/sandbox.hpp copy_out): such a link is recreated as a link or left
// out, and a folder on the way that became a link is not entered, so no file only ece may read is copied out. The
// swap is made before the copy here (the race a still-running process of dbt's user could win).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "dbt/sandbox.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;

void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

TEST(SandboxCopyOut, FilesAndFoldersAreCopiedLinksNeverFollowed) {
    ece::test::TempDir dir;
    write(dir / "project/dbt_project.yml", "name: p\n");
    write(dir / "secret/admin-password", "PLANTED-SECRET\n");
    fs::permissions(dir / "secret", fs::perms::owner_all, fs::perm_options::replace);
    const ece::dbt::Sandbox sandbox(dir / "project");

    // What dbt's user left in its copy: a package folder, a package that is a link leading to ece's secret folder,
    // a file linked to the secret file, and a folder whose parent it swapped for a link to the secret folder.
    const fs::path packages = sandbox.project() / "dbt_packages";
    write(packages / "real_pkg/macros/m.sql", "{% macro m() %}1{% endmacro %}\n");
    fs::create_directory_symlink(dir / "secret", packages / "swapped_pkg");
    fs::create_symlink(dir / "secret/admin-password", packages / "real_pkg/linked.sql");
    fs::create_directory_symlink(dir / "secret", sandbox.project() / "swapped_parent");

    sandbox.copy_out(packages, dir / "kept", true);
    EXPECT_EQ(ece::test::read_file(dir / "kept/real_pkg/macros/m.sql"), "{% macro m() %}1{% endmacro %}\n");
    ASSERT_TRUE(fs::is_symlink(dir / "kept/swapped_pkg"));
    EXPECT_EQ(fs::read_symlink(dir / "kept/swapped_pkg"), dir / "secret");  // a link, as dbt made it, not a copy
    EXPECT_TRUE(fs::is_symlink(dir / "kept/real_pkg/linked.sql"));

    sandbox.copy_out(packages, dir / "files_only", false);
    EXPECT_TRUE(fs::exists(dir / "files_only/real_pkg/macros/m.sql"));
    EXPECT_FALSE(fs::exists(fs::symlink_status(dir / "files_only/swapped_pkg")));
    EXPECT_FALSE(fs::exists(fs::symlink_status(dir / "files_only/real_pkg/linked.sql")));

    sandbox.copy_out(sandbox.project() / "swapped_parent" / "admin-password", dir / "through_parent", true);
    EXPECT_FALSE(fs::exists(fs::symlink_status(dir / "through_parent")));

    // No file copied out holds the secret (links are links: not followed here either).
    for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
        if (!fs::is_regular_file(entry.symlink_status()) || entry.path().parent_path() == dir / "secret") continue;
        EXPECT_THAT(ece::test::read_file(entry.path()), testing::Not(testing::HasSubstr("PLANTED-SECRET")))
            << entry.path();
    }
}

TEST(SandboxCopyOut, APathOutsideTheSandboxIsRefused) {
    ece::test::TempDir dir;
    write(dir / "project/dbt_project.yml", "name: p\n");
    const ece::dbt::Sandbox sandbox(dir / "project");
    EXPECT_THROW(sandbox.copy_out(dir / "project", dir / "out", true), ece::Error);
}

}  // namespace
