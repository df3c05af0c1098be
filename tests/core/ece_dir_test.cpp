// ece's working folder: $RUNNER_TEMP/ece in GitHub Actions, else ./.ece, which gets a .gitignore of '*'.
#include "core/ece_dir.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

struct ScopedEnv {
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value) ::setenv(name, value, 1); else ::unsetenv(name);
    }
    ~ScopedEnv() { if (old_) ::setenv(name_, old_->c_str(), 1); else ::unsetenv(name_); }
    const char* name_;
    std::optional<std::string> old_;
};

TEST(EceDir, IsTheRunnersTempInActionsAndDotEceElsewhere) {
    ScopedEnv temp("RUNNER_TEMP", "/tmp/runner-temp");
    {
        ScopedEnv actions("GITHUB_ACTIONS", "true");
        EXPECT_EQ(ece::ece_dir(), fs::path("/tmp/runner-temp/ece"));
    }
    ScopedEnv outside("GITHUB_ACTIONS", nullptr);
    EXPECT_EQ(ece::ece_dir(), fs::current_path() / ".ece");
}

TEST(EceDir, ADotEceFolderGetsAGitignoreOfEverything) {
    const fs::path root = fs::temp_directory_path() / ("ece-dir-test-" + std::to_string(::getpid()));
    fs::remove_all(root);
    ece::make_ece_dir(root / ".ece" / "work" / "pr-1");
    std::ifstream in(root / ".ece" / ".gitignore");
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_NE(text.str().find("\n*\n"), std::string::npos) << text.str();
    // An existing .gitignore is the user's: left alone.
    std::ofstream(root / ".ece" / ".gitignore") << "mine\n";
    ece::make_ece_dir(root / ".ece" / "demo");
    std::ifstream again(root / ".ece" / ".gitignore");
    std::string first;
    std::getline(again, first);
    EXPECT_EQ(first, "mine");
    // Elsewhere nothing is added.
    ece::make_ece_dir(root / "other");
    EXPECT_FALSE(fs::exists(root / "other" / ".gitignore"));
    fs::remove_all(root);
}

}  // namespace
