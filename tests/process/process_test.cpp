#include "process/process.hpp"

#include "core/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

using namespace std::chrono_literals;
using ece::process::Command;
using ece::process::run;

namespace {

Command shell(const std::string& script) { return Command{.argv = {"/bin/sh", "-c", script}}; }

}  // namespace

TEST(Process, ReportsExitCodeAndOutput) {
    auto result = run(shell("echo hello; echo oops >&2; exit 3"));
    EXPECT_EQ(result.exit_code, 3);
    EXPECT_EQ(result.out, "hello\n");
    EXPECT_EQ(result.err, "oops\n");
}

TEST(Process, FindsProgramsOnPath) {
    auto result = run(Command{.argv = {"echo", "a b"}});
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_EQ(result.out, "a b\n");
}

TEST(Process, MissingProgramIsAnExternalErrorNamingIt) {
    try {
        run(Command{.argv = {"ece-no-such-program-xyz"}});
        FAIL() << "expected an error";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::external);
        EXPECT_THAT(e.what(), testing::HasSubstr("ece-no-such-program-xyz"));
    }
}

TEST(Process, TimeoutKillsTheChildAndItsChildren) {
    auto command = shell("sleep 30 & echo $! ; sleep 30");
    command.timeout = 300ms;
    std::string grandchild;
    command.on_output_line = [&](std::string_view line) { grandchild = std::string(line); };
    auto started = std::chrono::steady_clock::now();
    try {
        run(command);
        FAIL() << "expected a timeout";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::external);
        EXPECT_THAT(e.what(), testing::HasSubstr("/bin/sh"));
        EXPECT_THAT(e.what(), testing::HasSubstr("did not finish"));
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    ASSERT_FALSE(grandchild.empty());
    // The background sleep was in the child's process group and must be gone (or a zombie about to be reaped).
    auto check = run(shell("ps -o stat= -p " + grandchild + " | grep -v Z || true"));
    EXPECT_EQ(check.out, "");
}

TEST(Process, ScrubbedEnvironmentHidesOtherVariables) {
    ::setenv("ECE_TEST_SECRET_TOKEN", "tok-123456", 1);
    auto command = shell("echo \"[$ECE_TEST_SECRET_TOKEN][$ONLY_THIS][${PATH:+path}]\"");
    command.env = {{"ONLY_THIS", "yes"}};
    auto result = run(command);
    EXPECT_EQ(result.out, "[][yes][path]\n");

    auto everything = shell("env");
    everything.env = {{"ONLY_THIS", "yes"}};
    auto listed = run(everything).out;
    EXPECT_THAT(listed, testing::Not(testing::HasSubstr("tok-123456")));
    EXPECT_THAT(listed, testing::HasSubstr("ONLY_THIS=yes"));
}

TEST(Process, InheritedEnvironmentKeepsVariablesAndOverlays) {
    ::setenv("ECE_TEST_INHERITED", "kept", 1);
    auto command = shell("echo \"$ECE_TEST_INHERITED $EXTRA\"");
    command.inherit_env = true;
    command.env = {{"EXTRA", "added"}};
    EXPECT_EQ(run(command).out, "kept added\n");
}

TEST(Process, StreamsLinesAndFeedsStdin) {
    auto command = shell("while read line; do echo \"got $line\"; done; printf 'no newline'");
    command.stdin_data = "one\ntwo\n";
    std::vector<std::string> lines;
    command.on_output_line = [&](std::string_view line) { lines.emplace_back(line); };
    auto result = run(command);
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_THAT(lines, testing::ElementsAre("got one", "got two", "no newline"));
}

TEST(Process, ChildThatIgnoresStdinDoesNotKillUs) {
    auto command = shell("exit 0");
    command.stdin_data = std::string(1 << 20, 'x');
    EXPECT_EQ(run(command).exit_code, 0);
}

TEST(Process, RunsInTheGivenDirectory) {
    auto command = shell("pwd");
    command.cwd = "/usr";
    EXPECT_EQ(run(command).out, "/usr\n");
}

TEST(Process, SignalExitIsReportedAs128PlusSignal) {
    EXPECT_EQ(run(shell("kill -9 $$")).exit_code, 128 + 9);
}

TEST(Process, RunCheckedThrowsWithStderr) {
    try {
        ece::process::run_checked(shell("echo broken thing >&2; exit 2"), "doing the thing");
        FAIL() << "expected an error";
    } catch (const ece::Error& e) {
        EXPECT_THAT(e.what(), testing::HasSubstr("doing the thing"));
        EXPECT_THAT(e.what(), testing::HasSubstr("exited with 2"));
        EXPECT_THAT(e.what(), testing::HasSubstr("broken thing"));
    }
}

TEST(Process, RunsAsAnotherUserWhenRoot) {
    if (!ece::process::running_as_root()) GTEST_SKIP() << "needs root";
    auto command = shell("id -un");
    command.run_as_user = "nobody";
    command.cwd = "/";
    auto result = run(command);
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_EQ(result.out, "nobody\n");
}

TEST(Process, UnknownUserIsAnError) {
    if (!ece::process::running_as_root()) GTEST_SKIP() << "needs root";
    auto command = shell("true");
    command.run_as_user = "ece-no-such-user";
    EXPECT_THROW(run(command), ece::Error);
}

// A hostile dbt may leave a process running in the background; with end_leftovers it dies when dbt exits.
TEST(Process, LeftoversInTheProcessGroupAreKilledWhenAsked) {
    auto gone = [](const std::string& pid) {
        std::ifstream stat("/proc/" + pid + "/stat");
        std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        const auto close = text.rfind(')');
        return text.empty() || (close != std::string::npos && text.substr(close + 2, 1) == "Z");
    };
    auto command = shell("sleep 30 >/dev/null 2>&1 & echo $!");
    command.end_leftovers = true;
    auto result = run(command);
    ASSERT_EQ(result.exit_code, 0);
    const std::string pid = result.out.substr(0, result.out.find('\n'));
    for (int i = 0; i < 100 && !gone(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_TRUE(gone(pid)) << "the background sleep " << pid << " outlived the command";
}
