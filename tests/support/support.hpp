#pragma once
// Helpers every test suite may use. Tests run from the repository root (see cmake/ece.cmake).
#include "core/error.hpp"

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ece::test {

// ../shared/fixtures/<relative>, failing the test run clearly when shared/ is missing.
std::filesystem::path fixture(std::string_view relative);

// Real dbt (../shared/tools/dbt/bin/dbt: dbt-core 1.9.1 + dbt-postgres 1.9.0), the one dbt every test runs,
// failing the test run clearly when shared/ is missing.
std::filesystem::path real_dbt();

// A thin wrapper around real dbt that adds a test's fault or observation, named as such: writes dir/dbt, a shell
// script that runs `before` (sh code; "$@" are dbt's arguments, $PWD the directory ece started dbt in) and then execs
// real dbt with the same arguments. Returns the script's path.
std::filesystem::path dbt_wrapper(const std::filesystem::path& dir, std::string_view before);

// Whole file as a string.
std::string read_file(const std::filesystem::path& path);

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// The one secret scanner shared by all tests: every secret found in text, or empty when clean.
// Use as EXPECT_THAT(find_secrets(output, {password, token}), testing::IsEmpty()).
std::vector<std::string> find_secrets(std::string_view text, const std::vector<std::string>& secrets);

// The ece::Error that f throws; when it throws none, a test failure (and an internal error to compare against).
Error expect_error(const std::function<void()>& f);

}  // namespace ece::test
