#include "pg/embedded.hpp"

#include "core/ece_dir.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "pg/connect.hpp"
#include "process/process.hpp"

#include <libpq-fe.h>
#include "core/random.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace ece::pg {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* admin_user_name = "postgres";

// ---- small file helpers -------------------------------------------------------------------------------------

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::string trimmed(std::string text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    return text;
}

// Writes a file with the given mode from the start (no window where it is readable by others).
void write_private(const fs::path& path, const std::string& content, mode_t mode = 0600) {
    auto tmp = path;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) throw Error(ErrorKind::external, "cannot write " + path.string() + ": " + std::strerror(errno));
    bool ok = ::fchmod(fd, mode) == 0 && ::write(fd, content.data(), content.size()) == ssize_t(content.size());
    ok = (::close(fd) == 0) && ok;
    if (!ok) throw Error(ErrorKind::external, "cannot write " + path.string() + ": " + std::strerror(errno));
    fs::rename(tmp, path);
}

std::string tail_of(const fs::path& log, std::size_t bytes = 1500) {
    auto text = trimmed(read_text(log));
    if (text.size() > bytes) text = "..." + text.substr(text.size() - bytes);
    return text;
}

// ---- who runs the server -----------------------------------------------------------------------------------

struct ServerUser {
    std::optional<std::string> name;  // set only when ece is root and must drop privileges
    uid_t uid = 0;
    gid_t gid = 0;
};

ServerUser lookup_user(const std::string& name) {
    struct passwd* pw = ::getpwnam(name.c_str());
    if (!pw) throw Error(ErrorKind::external, "cannot run PostgreSQL as '" + name + "': no such user");
    return ServerUser{name, pw->pw_uid, pw->pw_gid};
}

// Not root: ourselves. Root: the owner of an existing data dir, else $ECE_PG_SERVER_USER, "postgres", "nobody".
ServerUser server_user(const fs::path& data) {
    if (!process::running_as_root()) return ServerUser{std::nullopt, ::getuid(), ::getgid()};
    struct stat st {};
    if (::stat(data.c_str(), &st) == 0 && st.st_uid != 0) {
        if (struct passwd* pw = ::getpwuid(st.st_uid)) return lookup_user(pw->pw_name);
    }
    if (const char* chosen = std::getenv("ECE_PG_SERVER_USER"); chosen && *chosen) return lookup_user(chosen);
    if (::getpwnam("postgres")) return lookup_user("postgres");
    return lookup_user("nobody");
}

void give_to(const fs::path& path, const ServerUser& user) {
    if (!user.name) return;
    if (::chown(path.c_str(), user.uid, user.gid) != 0) {
        throw Error(ErrorKind::external, "cannot hand " + path.string() + " to user " + *user.name + ": " +
                                             std::strerror(errno));
    }
}

process::Result run_server_tool(const fs::path& bindir, const std::string& tool, std::vector<std::string> args,
                                const ServerUser& user, const fs::path& cwd, std::chrono::seconds timeout) {
    process::Command command;
    command.argv.push_back((bindir / tool).string());
    command.argv.insert(command.argv.end(), args.begin(), args.end());
    command.cwd = cwd;
    command.env = {{"LC_ALL", "C.UTF-8"}, {"TZ", "UTC"}};
    command.timeout = timeout;
    command.run_as_user = user.name;
    return process::run(command);
}

bool user_can_reach(const ServerUser& user, const fs::path& path) {
    if (!user.name) return true;
    process::Command command{.argv = {"test", "-x", path.string()}};
    command.cwd = "/";
    command.timeout = std::chrono::seconds(10);
    command.run_as_user = user.name;
    return process::run(command).exit_code == 0;
}

// ---- layout ------------------------------------------------------------------------------------------------

struct Layout {
    fs::path dir, root;
    fs::path data() const { return root / "data"; }
    fs::path run() const { return root / "run"; }
    fs::path log() const { return root / "log" / "server.log"; }
    fs::path marker() const { return root / "initialized"; }
    fs::path password() const { return dir / "admin-password"; }
    fs::path location() const { return dir / "location"; }
};

Layout layout_for(const fs::path& dir) {
    Layout layout{dir, dir};
    if (fs::exists(layout.location())) layout.root = trimmed(read_text(layout.location()));
    return layout;
}

// The server user must be able to enter the server root. As root, with dir somewhere it cannot reach, move to a
// fresh directory under /tmp (mkdtemp: unpredictable, so no other user can plant it) and record where.
void choose_reachable_root(Layout& layout, const ServerUser& user) {
    if (user_can_reach(user, layout.root)) return;
    std::string pattern = (fs::temp_directory_path() / "ece-pg-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) {
        throw Error(ErrorKind::external, "cannot create a server directory under /tmp: " +
                                             std::string(std::strerror(errno)));
    }
    ::chmod(pattern.c_str(), 0711);
    layout.root = pattern;
    write_private(layout.location(), pattern + "\n", 0644);
    if (!user_can_reach(user, layout.root)) {
        throw Error(ErrorKind::external, "PostgreSQL runs as user " + *user.name + " (ece runs as root) but that user "
                                         "cannot reach " + layout.dir.string() + " nor " + pattern);
    }
}

// ---- the directory lock ------------------------------------------------------------------------------------

class DirLock {
public:
    DirLock(const fs::path& dir, std::chrono::seconds timeout) {
        auto path = dir / "lock";
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd_ < 0) throw Error(ErrorKind::external, "cannot open " + path.string() + ": " + std::strerror(errno));
        auto deadline = Clock::now() + timeout;
        while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            if (errno != EWOULDBLOCK && errno != EINTR) {
                ::close(fd_);
                throw Error(ErrorKind::external, "cannot lock " + path.string() + ": " + std::strerror(errno));
            }
            if (Clock::now() >= deadline) {
                ::close(fd_);
                throw Error(ErrorKind::conflict, "another ece process is starting or stopping the PostgreSQL server in " +
                                                     dir.string() + " and did not finish in time");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    ~DirLock() { ::close(fd_); }  // closing releases the flock
    DirLock(const DirLock&) = delete;
    DirLock& operator=(const DirLock&) = delete;

private:
    int fd_ = -1;
};

// ---- the running server ------------------------------------------------------------------------------------

struct Running {
    pid_t pid;
    int port;
};

bool is_postgres_process(pid_t pid) {
    if (::kill(pid, 0) != 0 && errno != EPERM) return false;
    auto comm = trimmed(read_text("/proc/" + std::to_string(pid) + "/comm"));
    return comm.empty() || comm == "postgres" || comm == "postmaster";
}

// From data/postmaster.pid: line 1 pid, line 4 port.
std::optional<Running> running_server(const Layout& layout) {
    std::ifstream in(layout.data() / "postmaster.pid");
    if (!in) return std::nullopt;
    std::array<std::string, 4> lines;
    for (auto& line : lines) std::getline(in, line);
    try {
        Running running{static_cast<pid_t>(std::stol(lines[0])), std::stoi(lines[3])};
        if (running.pid <= 0 || !is_postgres_process(running.pid)) return std::nullopt;
        return running;
    } catch (const std::exception&) {
        return std::nullopt;  // being written, or garbage: treat as not running
    }
}

PGPing ping(int port) {
    auto conninfo = "host=127.0.0.1 port=" + std::to_string(port) + " dbname=postgres connect_timeout=5";
    return PQping(conninfo.c_str());
}

// Free for PostgreSQL, which binds with SO_REUSEADDR: connections of the previous run still in TIME_WAIT do not
// take the port away (without the option a restarted server would move to another port and every URL handed out
// before the restart would stop working).
bool port_is_free(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const int reuse = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return free;
}

int pick_free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t length = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
        if (fd >= 0) ::close(fd);
        throw Error(ErrorKind::external, "cannot find a free TCP port on 127.0.0.1: " + std::string(std::strerror(errno)));
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

// The port of the previous start, or 0.
int configured_port(const Layout& layout) {
    std::ifstream in(layout.data() / "ece.conf");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("port = ", 0) == 0) return std::atoi(line.c_str() + 7);
    }
    return 0;
}

std::string quoted_setting(const std::string& value) {
    std::string out = "'";
    for (char c : value) {
        if (c == '\'') out.push_back('\'');
        out.push_back(c);
    }
    return out + "'";
}

// Unix socket paths are limited to 107 bytes; when run/ is too deep, do without a socket (TCP is what ece uses).
std::string socket_directories(const Layout& layout) {
    auto socket = (layout.run() / ".s.PGSQL.65535").string();
    return socket.size() < 100 ? layout.run().string() : std::string();
}

void write_server_config(const Layout& layout, int port, const EmbeddedOptions& options, const ServerUser& user) {
    std::string conf = "# Written by ece on every start; edit postgresql.conf instead.\n"
                       "listen_addresses = '127.0.0.1'\n"
                       "port = " + std::to_string(port) + "\n"
                       "unix_socket_directories = " + quoted_setting(socket_directories(layout)) + "\n"
                       "unix_socket_permissions = 0700\n"
                       "password_encryption = 'scram-sha-256'\n"
                       "logging_collector = off\n";
    if (!options.durable) conf += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n";
    auto path = layout.data() / "ece.conf";
    write_private(path, conf, 0600);
    give_to(path, user);
}


void make_owned_dir(const fs::path& path, const ServerUser& user) {
    fs::create_directories(path);
    ::chmod(path.c_str(), 0700);
    give_to(path, user);
}

// initdb with a generated superuser password; a half-done earlier attempt (no marker) is wiped first.
void initialize(Layout& layout, const fs::path& bindir, const ServerUser& user, const EmbeddedOptions& options) {
    choose_reachable_root(layout, user);
    std::error_code ignored;
    fs::remove_all(layout.data(), ignored);
    make_owned_dir(layout.data(), user);
    make_owned_dir(layout.run(), user);
    make_owned_dir(layout.log().parent_path(), user);

    auto password = random_hex(24);
    register_secret(password);
    write_private(layout.password(), password + "\n", 0600);
    auto pwfile = layout.run() / "initdb-password";
    write_private(pwfile, password + "\n", 0600);
    give_to(pwfile, user);

    auto result = run_server_tool(bindir, "initdb",
                                  {"-D", layout.data().string(), "-U", admin_user_name, "--pwfile=" + pwfile.string(),
                                   "-E", "UTF8", "--locale=C.UTF-8", "--auth-local=scram-sha-256",
                                   "--auth-host=scram-sha-256", "--no-sync", "--no-instructions"},
                                  user, layout.root, options.start_timeout);
    fs::remove(pwfile, ignored);
    if (result.exit_code != 0) {
        throw Error(ErrorKind::external, "initdb failed in " + layout.data().string() + " (exit " +
                                             std::to_string(result.exit_code) + "): " + trimmed(result.err + result.out));
    }
    std::ofstream(layout.data() / "postgresql.conf", std::ios::app) << "\ninclude_if_exists = 'ece.conf'\n";
    write_private(layout.marker(), "initdb done\n", 0644);
}

bool bind_failed(const std::string& log_tail) {
    return log_tail.find("could not bind") != std::string::npos ||
           log_tail.find("Address already in use") != std::string::npos;
}

// pg_ctl start on the previous port when free, else a fresh one; retried when another process takes the port
// between our check and the server's bind.
int start(const Layout& layout, const fs::path& bindir, const ServerUser& user, const EmbeddedOptions& options) {
    auto port = configured_port(layout);
    for (int attempt = 0; attempt < 4; ++attempt) {
        int chosen = (port > 0 && port_is_free(port)) ? port : pick_free_port();
        write_server_config(layout, chosen, options, user);
        auto result = run_server_tool(
            bindir, "pg_ctl",
            {"-D", layout.data().string(), "-l", layout.log().string(), "-w", "-s", "-t",
             std::to_string(options.start_timeout.count()), "start"},
            user, layout.root, options.start_timeout + std::chrono::seconds(10));
        if (result.exit_code == 0) return chosen;
        auto log = tail_of(layout.log());
        if (!bind_failed(log) || attempt == 3) {
            throw Error(ErrorKind::external, "cannot start PostgreSQL in " + layout.data().string() + ": " +
                                                 trimmed(result.err + result.out) + "\nserver log (" +
                                                 layout.log().string() + "):\n" + log);
        }
        port = 0;
    }
    throw Error(ErrorKind::internal, "unreachable");
}

std::string admin_url_for(const Layout& layout, int port) {
    if (!fs::exists(layout.password())) {
        throw Error(ErrorKind::external, "the PostgreSQL cluster in " + layout.dir.string() +
                                             " has no admin-password file; stop it and remove the directory to start over");
    }
    auto password = trimmed(read_text(layout.password()));
    register_secret(password);
    ConnectionFacts facts{"127.0.0.1", std::to_string(port), admin_user_name, password, "postgres", {}};
    return make_url(facts);
}

EmbeddedServer describe(const Layout& layout, int port, bool started_now) {
    return EmbeddedServer{layout.dir, layout.root, port, admin_user_name, admin_url_for(layout, port), started_now};
}

fs::path prepare_dir(const fs::path& dir) {
    auto absolute = fs::absolute(dir).lexically_normal();
    if (absolute.has_filename() == false) absolute = absolute.parent_path();
    fs::create_directories(absolute);
    // Root needs others to traverse (the server user enters data/); otherwise only we may look inside.
    ::chmod(absolute.c_str(), process::running_as_root() ? 0711 : 0700);
    return absolute;
}

}  // namespace

fs::path default_embedded_dir() { return ece_dir() / "pg"; }

fs::path find_server_bindir() {
    auto has_initdb = [](const fs::path& bindir) { return fs::exists(bindir / "initdb"); };
    if (const char* chosen = std::getenv("ECE_PG_BINDIR"); chosen && *chosen) {
        if (has_initdb(chosen)) return chosen;
        throw Error(ErrorKind::external, std::string("ECE_PG_BINDIR=") + chosen + " has no initdb");
    }
    try {
        auto result = process::run(process::Command{.argv = {"pg_config", "--bindir"},
                                                    .timeout = std::chrono::seconds(10)});
        fs::path bindir = trimmed(result.out);
        if (result.exit_code == 0 && has_initdb(bindir)) return bindir;
    } catch (const Error&) {
        // no pg_config on PATH: look in Debian's place
    }
    std::optional<std::pair<int, fs::path>> newest;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
        auto bindir = entry.path() / "bin";
        int version = std::atoi(entry.path().filename().c_str());
        if (has_initdb(bindir) && (!newest || version > newest->first)) newest = {version, bindir};
    }
    if (newest) return newest->second;
    throw Error(ErrorKind::external,
                "no PostgreSQL server binaries found (pg_config --bindir, /usr/lib/postgresql/*/bin); install "
                "postgresql-15 or give --database-url");
}

EmbeddedServer ensure_embedded(const fs::path& dir, const EmbeddedOptions& options) {
    make_ece_dir(fs::absolute(dir).parent_path());  // .ece/ gets its .gitignore
    auto absolute = prepare_dir(dir);
    DirLock lock(absolute, options.start_timeout + std::chrono::seconds(30));
    auto layout = layout_for(absolute);

    if (fs::exists(layout.marker())) {
        if (auto running = running_server(layout)) {
            auto deadline = Clock::now() + options.start_timeout;
            PGPing state;
            while ((state = ping(running->port)) == PQPING_REJECT && Clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));  // starting up or recovering
            }
            if (state == PQPING_OK) return describe(layout, running->port, false);
            throw Error(ErrorKind::external, "PostgreSQL in " + layout.data().string() + " (pid " +
                                                 std::to_string(running->pid) + ") does not answer on 127.0.0.1:" +
                                                 std::to_string(running->port) + "; stop it (ece-env stop-server)");
        }
    }

    auto bindir = find_server_bindir();
    auto user = server_user(layout.data());
    if (!fs::exists(layout.marker())) initialize(layout, bindir, user, options);
    int port = start(layout, bindir, user, options);
    return describe(layout, port, true);
}

void stop_embedded(const fs::path& dir) {
    auto absolute = fs::absolute(dir).lexically_normal();
    if (!fs::exists(absolute)) return;
    DirLock lock(absolute, std::chrono::seconds(180));
    auto layout = layout_for(absolute);
    auto running = running_server(layout);
    if (!running) return;
    auto user = server_user(layout.data());
    auto result = run_server_tool(find_server_bindir(), "pg_ctl",
                                  {"-D", layout.data().string(), "-m", "fast", "-w", "-s", "-t", "60", "stop"}, user,
                                  layout.root, std::chrono::seconds(90));
    if (result.exit_code != 0 && running_server(layout)) {
        throw Error(ErrorKind::external, "cannot stop PostgreSQL in " + layout.data().string() + ": " +
                                             trimmed(result.err + result.out));
    }
}

void destroy_embedded(const fs::path& dir) {
    auto absolute = fs::absolute(dir).lexically_normal();
    if (!fs::exists(absolute)) return;
    stop_embedded(absolute);
    auto layout = layout_for(absolute);
    std::error_code ignored;
    if (layout.root != layout.dir) fs::remove_all(layout.root, ignored);
    fs::remove_all(layout.dir, ignored);
}

std::string resolve_admin_url(const std::optional<std::string>& flag) {
    if (flag && !flag->empty()) {
        parse_url(*flag);  // validates and registers its password
        return *flag;
    }
    if (const char* from_env = std::getenv("ECE_DATABASE_URL"); from_env && *from_env) {
        parse_url(from_env);
        return from_env;
    }
    return ensure_embedded(default_embedded_dir()).admin_url;
}

}  // namespace ece::pg
