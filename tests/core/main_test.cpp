// What every main shares (core/main.hpp).
#include "core/main.hpp"

#include <gtest/gtest.h>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ece {
namespace {

// issue 16: another process of ece's user (dbt, when ece is not root) read /proc/<ece>/environ. Every main makes
// itself non-dumpable first, which closes environ, mem and ptrace to processes without CAP_SYS_PTRACE. Checked in a
// child, so the test process stays as it was.
TEST(Main, MakesTheProcessNonDumpableBeforeItsBody) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        const int seen = guarded_main("test", [] { return ::prctl(PR_GET_DUMPABLE); });
        ::_exit(seen == 0 ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the body ran dumpable";
}

}  // namespace
}  // namespace ece
