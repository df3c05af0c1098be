#include "dbt/sandbox.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>

#include "core/error.hpp"

namespace fs = std::filesystem;

namespace ece::dbt {
namespace {

// Top-level folders of a checkout dbt never gets: git's (the checkout token), ece's own (.ece/pg: the embedded
// server and its admin password), and dbt's outputs (dbt writes to the sandbox's own target).
// Never copied: the repository's .git and ece's .ece (at the repository's top), dbt's own output (in the project).
const std::set<std::string> left_out_at_top = {".git", ".ece"};
const std::set<std::string> left_out_of_project = {"target", "logs"};

bool left_out_of_copy(const fs::path& relative, const fs::path& project_in_root) {
    if (left_out_at_top.count(relative.string())) return true;
    const auto parent = relative.parent_path().empty() ? fs::path(".") : relative.parent_path();
    return parent == project_in_root && left_out_of_project.count(relative.filename().string());
}

// The top of the git repository holding the project (the first folder upwards with a .git), else the project.
fs::path repository_root(const fs::path& real_project) {
    for (auto dir = real_project;; dir = dir.parent_path()) {
        std::error_code ec;
        if (fs::exists(fs::symlink_status(dir / ".git", ec))) return dir;
        if (dir == dir.parent_path()) return real_project;
    }
}

bool within(const fs::path& root, const fs::path& p) {
    const auto relative = p.lexically_relative(root);
    return !relative.empty() && *relative.begin() != "..";
}

Error refused(const std::string& why, const fs::path& where) {
    return Error(ErrorKind::input, why + ": refused, dbt never reads anything outside the project",
                 ErrorLocation{.file = where.string()});
}

struct passwd* find_user(const std::string& name) { return ::getpwnam(name.c_str()); }

// A system account without home, login or password, in its own group: what the image creates too (Dockerfile).
void create_user(const std::string& name) {
    const std::string useradd = fs::exists("/usr/sbin/useradd") ? "/usr/sbin/useradd" : "useradd";
    process::Command command{.argv = {useradd, "--system", "--user-group", "--no-create-home", "--home-dir",
                                      "/nonexistent", "--shell", "/usr/sbin/nologin", name}};
    command.cwd = "/";
    command.timeout = std::chrono::seconds(30);
    const auto result = process::run(command);
    constexpr int already_exists = 9;  // another ece created it meanwhile
    if (result.exit_code != 0 && result.exit_code != already_exists)
        throw Error(ErrorKind::external, "cannot create the user '" + name + "' dbt runs as: useradd exited with " +
                                             std::to_string(result.exit_code) + ": " + result.err);
}

void copy_link(const fs::path& real_root, const fs::path& from, const fs::path& to, const fs::path& relative) {
    std::error_code ec;
    const auto text = fs::read_symlink(from, ec);
    if (ec || link_leads_outside(real_root, from))
        throw refused("the symbolic link " + relative.string() + " leads outside the project (to " + text.string() + ")",
                      from);
    const auto resolved = fs::weakly_canonical(fs::canonical(from.parent_path()) / text, ec);
    const auto inside = resolved.lexically_relative(real_root);
    if (left_out_at_top.count(inside.begin()->string()))
        throw refused("the symbolic link " + relative.string() + " leads into the project's " +
                          inside.begin()->string() + " (to " + text.string() + ")",
                      from);
    // Recreated relative, so that it leads to the same place in the copy whatever the link's own text was.
    const auto link_dir = relative.parent_path().empty() ? fs::path(".") : relative.parent_path();
    fs::create_symlink(inside.lexically_relative(link_dir), to);
}

// dbt's own user could read the checkout's .git (the checkout token in .git/config) by its path, as every file others
// may read: the .git of the project's repository (the project folder or one above it) is closed to others. ece, as
// root, and the checkout's owner keep their access.
void close_git_to_others(const fs::path& real_root) {
    for (auto dir = real_root;; dir = dir.parent_path()) {
        const auto git = dir / ".git";
        struct stat info {};
        if (::lstat(git.c_str(), &info) == 0 && !S_ISLNK(info.st_mode) && (info.st_mode & 0077) != 0) {
            if (::chmod(git.c_str(), info.st_mode & 07700) != 0)
                throw Error(ErrorKind::external, "cannot close " + git.string() + " to dbt's user: " + std::strerror(errno));
        }
        if (dir == dir.parent_path()) return;
    }
}

// A file descriptor, closed when it goes or is replaced.
class Descriptor {
public:
    explicit Descriptor(int fd) : fd_(fd) {}
    ~Descriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    int get() const { return fd_; }
    bool ok() const { return fd_ >= 0; }
    void reset(int fd) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

int open_folder_at(int dir, const char* name) {
    return ::openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

// The regular file name in dir to `to`, opened without following a link (nor blocking on a fifo) dbt may have
// swapped in since the listing; anything else is left out.
void copy_file_at(int dir, const char* name, const fs::path& to) {
    const Descriptor in(::openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    struct stat info {};
    if (!in.ok() || ::fstat(in.get(), &info) != 0 || !S_ISREG(info.st_mode)) return;
    std::error_code ignored;
    fs::remove(to, ignored);
    const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    bool ok = out >= 0;
    char buffer[65536];
    for (ssize_t n; ok && (n = ::read(in.get(), buffer, sizeof buffer)) > 0;) ok = ::write(out, buffer, n) == n;
    if (out >= 0) ok = ::close(out) == 0 && ok;
    if (!ok) throw Error(ErrorKind::external, std::string("cannot copy dbt's ") + name, {.file = to.string()});
}

void copy_entry_at(int dir, const char* name, const fs::path& to, bool keep_links);

// Every entry of the open folder dir to the folder `to`, each opened relative to dir: a link is never followed.
void copy_folder_at(int dir, const fs::path& to, bool keep_links) {
    fs::create_directories(to);
    DIR* listing = ::fdopendir(::dup(dir));
    if (!listing) throw Error(ErrorKind::external, "cannot list what dbt wrote", {.file = to.string()});
    for (const dirent* entry; (entry = ::readdir(listing)) != nullptr;) {
        const std::string name = entry->d_name;
        if (name != "." && name != "..") copy_entry_at(dir, name.c_str(), to / name, keep_links);
    }
    ::closedir(listing);
}

void copy_entry_at(int dir, const char* name, const fs::path& to, bool keep_links) {
    struct stat info {};
    if (::fstatat(dir, name, &info, AT_SYMLINK_NOFOLLOW) != 0) return;
    if (S_ISDIR(info.st_mode)) {
        const Descriptor folder(open_folder_at(dir, name));
        if (folder.ok()) copy_folder_at(folder.get(), to, keep_links);
    } else if (S_ISREG(info.st_mode)) {
        copy_file_at(dir, name, to);
    } else if (S_ISLNK(info.st_mode) && keep_links) {
        char target[PATH_MAX];
        const ssize_t length = ::readlinkat(dir, name, target, sizeof target);
        if (length > 0 && static_cast<std::size_t>(length) < sizeof target)
            fs::create_symlink(std::string(target, static_cast<std::size_t>(length)), to);
    }
}

}  // namespace

bool link_leads_outside(const fs::path& real_root, const fs::path& link) {
    std::error_code ec;
    const auto text = fs::read_symlink(link, ec);
    if (ec) return true;
    // Resolved from the link's own text, not through it: weakly_canonical stops at a dangling link and would judge
    // the link's name instead of where it leads.
    const auto target = fs::weakly_canonical(fs::canonical(link.parent_path(), ec) / text, ec);
    return ec || !within(real_root, target);
}

std::optional<std::string> dbt_user() {
    if (!process::running_as_root()) return std::nullopt;
    const char* chosen = std::getenv("ECE_DBT_USER");
    const std::string name = chosen && *chosen ? chosen : default_dbt_user;
    struct passwd* user = find_user(name);
    if (!user && name == default_dbt_user) {
        create_user(name);
        user = find_user(name);
    }
    if (!user) throw Error(ErrorKind::usage, "ECE_DBT_USER names '" + name + "', which is not a user of this system");
    if (user->pw_uid == 0)
        throw Error(ErrorKind::usage, "dbt must not run as root, but its user '" + name + "' has uid 0 (ECE_DBT_USER)");
    return name;
}

Sandbox::Sandbox(const fs::path& project_dir) : user_(dbt_user()) {
    if (user_) {
        const struct passwd* user = find_user(*user_);
        if (!user) throw Error(ErrorKind::usage, "no user '" + *user_ + "'");
        uid_ = user->pw_uid;
        gid_ = user->pw_gid;
        // dbt's user passes through ece's private directory into its own (home, 0700), and sees nothing else of it.
        ::chmod(dir_.path().c_str(), 0711);
    }
    scratch_ = dir_.path() / "ece";
    fs::create_directory(scratch_);
    fs::permissions(scratch_, fs::perms::owner_all, fs::perm_options::replace);
    home_ = dir_.path() / "dbt";
    const fs::path copy = home_ / "work";
    target_ = home_ / "target";
    fs::create_directory(home_);
    fs::permissions(home_, fs::perms::owner_all, fs::perm_options::replace);
    for (const auto& dir : {home_, copy, target_}) {
        fs::create_directory(dir);
        hand_over(dir);
    }

    std::error_code ec;
    const auto real_project = fs::canonical(project_dir, ec);
    if (ec) throw Error(ErrorKind::usage, "no dbt project folder " + project_dir.string());
    // The whole repository is copied (a project in a subfolder may use `local: ../` packages of its repository);
    // links may lead anywhere inside it, never out of it.
    const auto real_root = repository_root(real_project);
    const auto project_in_root = real_project.lexically_relative(real_root);
    project_ = project_in_root == "." ? copy : copy / project_in_root;
    if (user_) close_git_to_others(real_root);
    for (auto it = fs::recursive_directory_iterator(real_root); it != fs::recursive_directory_iterator(); ++it) {
        const auto relative = it->path().lexically_relative(real_root);
        if (left_out_of_copy(relative, project_in_root)) {
            it.disable_recursion_pending();
            continue;
        }
        const auto to = copy / relative;
        const auto status = it->symlink_status();
        if (fs::is_symlink(status)) {
            copy_link(real_root, it->path(), to, relative);
        } else if (fs::is_directory(status)) {
            fs::create_directory(to);
        } else if (fs::is_regular_file(status)) {
            fs::copy_file(it->path(), to);
        } else {
            throw refused(relative.string() + " in the project is neither a file, a folder nor a link", it->path());
        }
        hand_over(to);
    }
    if (user_) {
        // Fails here, clearly, rather than as dbt's "permission denied" on a folder it cannot reach.
        process::Command probe{.argv = {"test", "-w", target_.string()}};
        probe.cwd = "/";
        probe.timeout = std::chrono::seconds(10);
        probe.run_as_user = user_;
        if (process::run(probe).exit_code != 0)
            throw Error(ErrorKind::usage, "dbt's user '" + *user_ + "' cannot reach " + home_.string() +
                                              ": set TMPDIR to a folder every user may pass through (e.g. /tmp)");
    }
}

void Sandbox::hand_over(const fs::path& path) const {
    if (!user_) return;
    if (::lchown(path.c_str(), uid_, gid_) != 0)
        throw Error(ErrorKind::external, "cannot hand " + path.string() + " to dbt's user " + *user_ + ": " +
                                             std::strerror(errno));
}

fs::path Sandbox::write_file(const std::string& name, std::string_view text) const {
    const auto file = home_ / name;
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    if (fd >= 0) ok = ::close(fd) == 0 && ok;
    if (!ok) throw Error(ErrorKind::external, std::string("cannot write: ") + std::strerror(errno), {.file = file.string()});
    hand_over(file);
    return file;
}

fs::path Sandbox::import_file(const fs::path& file, const std::string& name) const {
    const auto to = home_ / name;
    fs::create_directories(to.parent_path());
    for (auto dir = to.parent_path(); dir != home_; dir = dir.parent_path()) hand_over(dir);
    fs::copy_file(file, to, fs::copy_options::overwrite_existing);
    hand_over(to);
    return to;
}

process::Result Sandbox::run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                             std::chrono::milliseconds timeout,
                             const std::function<void(std::string_view line)>& on_line) const {
    process::Command command;
    command.argv = argv;
    command.cwd = project_;
    command.env = env;
    command.inherit_env = false;
    command.timeout = timeout;
    command.run_as_user = user_;
    command.on_output_line = on_line;
    command.end_leftovers = true;
    return process::run(command);
}

void Sandbox::copy_out(const fs::path& inside, const fs::path& to, bool keep_links) const {
    // From ece's own private directory down, one component at a time: a folder on the way that dbt's user swapped
    // for a link since is not entered.
    const auto relative = inside.lexically_relative(dir_.path());
    if (relative.empty() || *relative.begin() == "..")
        throw Error(ErrorKind::internal, "not in dbt's sandbox", {.file = inside.string()});
    Descriptor folder(::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (const auto& part : relative.parent_path()) {
        if (!folder.ok()) return;
        folder.reset(open_folder_at(folder.get(), part.c_str()));
    }
    if (folder.ok()) copy_entry_at(folder.get(), relative.filename().c_str(), to, keep_links);
}

void Sandbox::copy_target_to(const fs::path& dest) const {
    fs::create_directories(dest);
    copy_out(target_, dest, false);
}

}  // namespace ece::dbt
