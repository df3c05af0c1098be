#include "process/process.hpp"

#include "core/error.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/process/async_pipe.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/args.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/search_path.hpp>
#include <boost/process/start_dir.hpp>

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

namespace ece::process {
namespace {

namespace bp = boost::process;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// Who the child becomes; looked up in the parent because getpwnam/initgroups are not safe after fork().
struct Identity {
    uid_t uid;
    gid_t gid;
    std::vector<gid_t> groups;
};

Identity lookup_identity(const std::string& user) {
    struct passwd pw {};
    struct passwd* found = nullptr;
    std::array<char, 16384> buffer{};
    if (getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
        throw Error(ErrorKind::external, "cannot run as user '" + user + "': no such user");
    }
    Identity id{pw.pw_uid, pw.pw_gid, {}};
    int count = 64;
    id.groups.resize(count);
    if (getgrouplist(user.c_str(), pw.pw_gid, id.groups.data(), &count) < 0) {
        id.groups.resize(count);
        getgrouplist(user.c_str(), pw.pw_gid, id.groups.data(), &count);
    }
    id.groups.resize(count);
    return id;
}

// Runs in the child between fork() and exec(): own process group (so a timeout kills grandchildren too), then drop
// privileges when asked, then ask the kernel to SIGKILL the child when ece dies: run() always waits for its child,
// so a child outliving ece (ece killed with SIGKILL) is a leftover that would race ece's re-run (e.g. a dbt still
// building into the environment). Only async-signal-safe calls here. A failure is reported to the parent and the
// child exits before exec, so a failed setuid never runs the program as root.
struct ChildSetup : bp::extend::handler {
    std::optional<Identity> identity;
    pid_t parent = ::getpid();  // taken in ece, before fork()

    template <class Executor>
    void on_exec_setup(Executor& exec) const {
        if (::setpgid(0, 0) != 0) fail(exec, "setpgid");
        if (!identity) return die_with_parent(exec);
        if (::setgroups(identity->groups.size(), identity->groups.data()) != 0) fail(exec, "setgroups");
        if (::setgid(identity->gid) != 0) fail(exec, "setgid");
        if (::setuid(identity->uid) != 0) fail(exec, "setuid");
        die_with_parent(exec);  // after setuid, which resets the parent-death signal
    }

    template <class Executor>
    void die_with_parent(Executor& exec) const {
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(exec, "prctl(PR_SET_PDEATHSIG)");
        if (::getppid() != parent) ::_exit(127);  // ece died before the request took effect
    }

    template <class Executor>
    static void fail(Executor& exec, const char* what) {
        exec.set_error(std::error_code(errno, std::system_category()), what);
        ::_exit(127);
    }
};

std::string program_name(const Command& command) {
    return command.argv.empty() ? std::string("(no program)") : command.argv.front();
}

std::filesystem::path find_program(const std::string& program, const std::string& path_variable) {
    if (program.find('/') != std::string::npos) return program;
    std::vector<std::filesystem::path> dirs;
    std::string_view rest = path_variable;
    while (!rest.empty()) {
        auto colon = rest.find(':');
        auto dir = rest.substr(0, colon);
        if (!dir.empty()) dirs.emplace_back(std::string(dir));
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
    }
    auto found = bp::search_path(program, dirs);
    if (found.empty()) {
        throw Error(ErrorKind::external, "cannot start " + program + ": not found on PATH");
    }
    return found;
}

bp::environment child_environment(const Command& command) {
    bp::environment env;
    if (command.inherit_env) env = bp::environment(boost::this_process::environment());
    for (const auto& [name, value] : command.env) env[name] = value;
    if (!command.inherit_env && command.env.find("PATH") == command.env.end()) {
        const char* path = std::getenv("PATH");
        env["PATH"] = path ? path : "/usr/local/bin:/usr/bin:/bin";
    }
    return env;
}

// Collects one output stream, splitting it into lines for the callback.
class StreamReader {
public:
    StreamReader(bp::async_pipe& pipe, std::string& sink, const Command& command)
        : pipe_(pipe), sink_(sink), command_(command) {}

    void start() {
        pipe_.async_read_some(asio::buffer(chunk_), [this](const boost::system::error_code& ec, std::size_t n) {
            if (n > 0) take(std::string_view(chunk_.data(), n));
            if (ec) {
                finish();
                return;
            }
            start();
        });
    }
    bool done() const { return done_; }

private:
    void take(std::string_view data) {
        sink_.append(data);
        if (!command_.on_output_line) return;
        partial_.append(data);
        for (auto newline = partial_.find('\n'); newline != std::string::npos; newline = partial_.find('\n')) {
            command_.on_output_line(std::string_view(partial_).substr(0, newline));
            partial_.erase(0, newline + 1);
        }
    }
    void finish() {
        if (command_.on_output_line && !partial_.empty()) command_.on_output_line(partial_);
        partial_.clear();
        done_ = true;
    }

    bp::async_pipe& pipe_;
    std::string& sink_;
    const Command& command_;
    std::array<char, 8192> chunk_{};
    std::string partial_;
    bool done_ = false;
};

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return status;
}

// Waits for the child without a SIGCHLD handler (tests and libraries share the process): poll waitpid.
std::optional<int> wait_until(pid_t pid, Clock::time_point deadline) {
    auto pause = std::chrono::microseconds(200);
    while (true) {
        int status = 0;
        pid_t got = ::waitpid(pid, &status, WNOHANG);
        if (got == pid) return decode_status(status);
        if (got < 0 && errno != EINTR) return -1;
        if (Clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(pause);
        pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
    }
}

// Waits until the child has exited without reaping it: while it is a zombie, its process group id cannot be reused,
// so killing the group then reaches only what it left behind.
bool exited(pid_t pid, Clock::time_point deadline) {
    auto pause = std::chrono::microseconds(200);
    while (true) {
        siginfo_t info{};
        const int got = ::waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT);
        if (got == 0 && info.si_pid == pid) return true;
        if (got < 0 && errno != EINTR) return false;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(pause);
        pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
    }
}

// A child that exits without reading its input must give us EPIPE, not kill ece with SIGPIPE.
void ignore_sigpipe() {
    static std::once_flag once;
    std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

void kill_group(pid_t pid) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
}

}  // namespace

bool running_as_root() { return ::geteuid() == 0; }

Result run(const Command& command) {
    const std::string name = program_name(command);
    if (command.argv.empty()) throw Error(ErrorKind::internal, "run: empty command line");

    auto env = child_environment(command);
    auto exe = find_program(command.argv.front(), env.count("PATH") ? env["PATH"].to_string() : "");
    std::vector<std::string> args(command.argv.begin() + 1, command.argv.end());

    ChildSetup setup;
    if (command.run_as_user && running_as_root()) setup.identity = lookup_identity(*command.run_as_user);

    asio::io_context io;
    bp::async_pipe out_pipe(io), err_pipe(io), in_pipe(io);
    std::error_code start_error;
    auto cwd = command.cwd.empty() ? std::filesystem::current_path() : command.cwd;
    bp::child child(bp::exe = exe.string(), bp::args = args, bp::start_dir = cwd.string(), env,
                    bp::std_out > out_pipe, bp::std_err > err_pipe, bp::std_in < in_pipe, setup, start_error);
    if (start_error || !child.valid()) {
        throw Error(ErrorKind::external, "cannot start " + name + ": " + start_error.message());
    }
    const pid_t pid = child.id();
    child.detach();  // we reap it ourselves with waitpid

    const auto deadline = Clock::now() + command.timeout;
    Result result;
    StreamReader out_reader(out_pipe, result.out, command);
    StreamReader err_reader(err_pipe, result.err, command);
    out_reader.start();
    err_reader.start();
    if (command.stdin_data.empty()) {
        in_pipe.close();
    } else {
        ignore_sigpipe();
        asio::async_write(in_pipe, asio::buffer(command.stdin_data),
                          [&in_pipe](const boost::system::error_code&, std::size_t) { in_pipe.close(); });
    }

    while (!(out_reader.done() && err_reader.done()) && Clock::now() < deadline) {
        io.run_one_until(deadline);
    }
    std::optional<int> status;
    if (out_reader.done() && err_reader.done()) {
        if (command.end_leftovers && exited(pid, deadline)) ::kill(-pid, SIGKILL);
        status = wait_until(pid, deadline);
    }
    if (!status) {
        kill_group(pid);
        wait_until(pid, Clock::now() + std::chrono::seconds(10));
        throw Error(ErrorKind::external, name + " did not finish within " +
                                             std::to_string(command.timeout.count()) + " ms and was killed");
    }
    result.exit_code = *status;
    return result;
}

Result run_checked(const Command& command, std::string_view doing) {
    auto result = run(command);
    if (result.exit_code != 0) {
        std::string detail = result.err.empty() ? result.out : result.err;
        constexpr std::size_t tail = 2000;
        if (detail.size() > tail) detail = "..." + detail.substr(detail.size() - tail);
        while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
        throw Error(ErrorKind::external, std::string(doing) + ": " + program_name(command) + " exited with " +
                                             std::to_string(result.exit_code) + (detail.empty() ? "" : ": " + detail));
    }
    return result;
}

}  // namespace ece::process
