#include "harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "dbt/build.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "support.hpp"

extern char** environ;

namespace ece::reliability {
namespace {

std::string temp_path(const char* what) {
    static std::atomic<unsigned> counter{0};
    return (fs::temp_directory_path() /
            ("ece-rel-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "." + what))
        .string();
}

std::string slurp(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

Spawned::Spawned(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env,
                 const fs::path& cwd)
    : out_file_(temp_path("out")), err_file_(temp_path("err")), started_(std::chrono::steady_clock::now()) {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e; ++e) {
        std::string entry = *e;
        auto eq = entry.find('=');
        if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    for (const auto& [k, v] : extra_env) env[k] = v;
    std::vector<std::string> env_entries;
    for (const auto& [k, v] : env) env_entries.push_back(k + "=" + v);
    std::vector<char*> envp, args;
    for (auto& e : env_entries) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_copy = argv;
    for (auto& a : argv_copy) args.push_back(a.data());
    args.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int rc = posix_spawn(&pid_, args[0], &actions, &attr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
}

Spawned::~Spawned() {
    if (!reaped_) {
        kill_group();
        wait();
    }
    std::error_code ignored;
    fs::remove(out_file_, ignored);
    fs::remove(err_file_, ignored);
}

bool Spawned::finished() {
    if (reaped_) return true;
    pid_t got = ::waitpid(pid_, &status_, WNOHANG);
    if (got == pid_) reaped_ = true;
    return reaped_;
}

void Spawned::kill_group() {
    if (finished()) return;
    killed_ = true;
    ::kill(-pid_, SIGKILL);
}

Outcome Spawned::wait(std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!finished()) {
        if (std::chrono::steady_clock::now() > deadline) {
            ADD_FAILURE() << "process " << pid_ << " did not finish within " << timeout.count() << "s; killed";
            kill_group();
            ::waitpid(pid_, &status_, 0);
            reaped_ = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    Outcome r;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    r.exit_code = WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
    r.killed = killed_ && WIFSIGNALED(status_) && WTERMSIG(status_) == SIGKILL;
    r.out = slurp(out_file_);
    r.err = slurp(err_file_);
    return r;
}

Outcome run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env, const fs::path& cwd,
        std::chrono::seconds timeout) {
    Spawned child(argv, extra_env, cwd);
    return child.wait(timeout);
}

Outcome run_killed_after(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env,
                     const fs::path& cwd, std::chrono::microseconds after) {
    Spawned child(argv, extra_env, cwd);
    auto deadline = std::chrono::steady_clock::now() + after;
    while (std::chrono::steady_clock::now() < deadline && !child.finished())
        std::this_thread::sleep_for(std::min<std::chrono::microseconds>(std::chrono::microseconds(500), after));
    child.kill_group();
    return child.wait();
}

unsigned fault_seed() {
    if (const char* s = std::getenv("ECE_FAULT_SEED"); s && *s) return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
    return 20261121u;
}

std::chrono::microseconds kill_offset(std::mt19937& random, double seconds) {
    return std::chrono::microseconds(
        static_cast<long long>(std::uniform_real_distribution<double>(0, seconds)(random) * 1e6));
}

void KillTally::print(const std::string& name, double seconds) const {
    std::printf("[figures] %s: %d kill points (%d killed while running, %d finished first), %d converged, %.1fs, "
                "seed %u\n",
                name.c_str(), points, killed_running, finished_first, converged, seconds, fault_seed());
}

void expect_every_point_converged(const std::vector<std::pair<std::string, KillTally>>& steps,
                                  std::chrono::steady_clock::time_point started) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    int points = 0, converged = 0;
    for (const auto& [name, tally] : steps) {
        tally.print(name, seconds);
        points += tally.points;
        converged += tally.converged;
    }
    EXPECT_EQ(converged, points) << "kill points whose re-run did not converge";
}

std::string fingerprint(pqxx::connection_base& conn, const std::vector<std::string>& schemas) {
    pqxx::work tx(conn);
    std::string list;
    for (const auto& s : schemas) list += (list.empty() ? "" : "\n") + s;
    auto rels = tx.exec_params(
        "SELECT n.nspname, c.relname, c.relkind::text,"
        " coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)"
        "   FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), ''),"
        " CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) ELSE '' END"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = ANY (string_to_array($1, E'\\n')) AND c.relkind IN ('r', 'v', 'm', 'p')"
        " ORDER BY 1, 2",
        list);
    std::string out;
    for (const auto& r : rels) {
        std::string schema = r[0].as<std::string>(), name = r[1].as<std::string>();
        auto count = tx.exec1("SELECT count(*) FROM " + pg::quote_ident(schema) + "." + pg::quote_ident(name))[0]
                         .as<std::string>();
        std::string definition = r[4].as<std::string>();
        for (std::size_t i = 0; i < schemas.size(); ++i) {
            for (std::size_t at; (at = definition.find(schemas[i] + ".")) != std::string::npos;)
                definition.replace(at, schemas[i].size(), "<schema" + std::to_string(i) + ">");
        }
        out += schema + "." + name + " " + r[2].as<std::string>() + " (" + r[3].as<std::string>() + ") rows=" + count +
               (definition.empty() ? "" : " def=" + definition) + "\n";
    }
    return out;
}

void wait_for_other_sessions_to_end(pqxx::connection_base& conn, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int others;
        {
            pqxx::nontransaction tx(conn);
            others = tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                              " AND backend_type = 'client backend' AND pid <> pg_backend_pid()")[0]
                         .as<int>();
        }
        if (others == 0) return;
        if (std::chrono::steady_clock::now() > deadline) {
            ADD_FAILURE() << others << " session(s) of a killed process still connected after " << timeout.count() << "s";
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

std::vector<std::string> leftovers(pqxx::connection_base& conn, const std::string& env_prefix) {
    std::vector<std::string> found;
    pqxx::work tx(conn);
    auto add_rows = [&](const std::string& what, const pqxx::result& rows) {
        for (const auto& r : rows) found.push_back(what + ": " + r[0].as<std::string>());
    };
    const bool has_stage =
        tx.exec1("SELECT to_regclass('ece.staged_files') IS NOT NULL")[0].as<bool>();
    if (has_stage) {
        add_rows("content table unknown to the catalog",
                 tx.exec("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                         " WHERE n.nspname = 'ece_content' AND c.relkind = 'r' AND NOT EXISTS"
                         " (SELECT 1 FROM ece.staged_files f WHERE f.content_table = c.relname)"));
        add_rows("catalog row without its content table",
                 tx.exec("SELECT content_table FROM ece.staged_files WHERE to_regclass(quote_ident('ece_content')"
                         " || '.' || quote_ident(content_table)) IS NULL"));
    }
    add_rows("dbt temporary relation",
             tx.exec("SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                     " WHERE c.relname LIKE '%\\_\\_dbt\\_tmp' OR c.relname LIKE '%\\_\\_dbt\\_backup'"));
    add_rows("temporary table", tx.exec("SELECT relname FROM pg_class WHERE relpersistence = 't' AND relkind = 'r'"));
    if (tx.exec1("SELECT to_regclass('ece.builds') IS NOT NULL")[0].as<bool>())
        add_rows("build still running", tx.exec("SELECT id::text FROM ece.builds WHERE status = 'running'"));
    if (tx.exec1("SELECT to_regclass('ece.publishes') IS NOT NULL")[0].as<bool>())
        add_rows("publish still running", tx.exec("SELECT id::text FROM ece.publishes WHERE status = 'running'"));
    if (!env_prefix.empty()) {
        const bool has_env = tx.exec1("SELECT to_regclass('ece.environments') IS NOT NULL")[0].as<bool>();
        const std::string live = has_env ? "SELECT role_name FROM ece.environments WHERE status <> 'destroyed'"
                                         : "SELECT NULL::text WHERE false";
        add_rows("role of an environment that is not up",
                 tx.exec_params("SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)"
                                " AND rolname <> $1 || '_environments' AND rolname NOT IN (" + live + ")",
                                env_prefix));
        const std::string live_schemas =
            has_env ? "SELECT base_schema FROM ece.environments WHERE status <> 'destroyed'" : "SELECT NULL::text WHERE false";
        add_rows("schema of an environment that is not up",
                 tx.exec_params("SELECT nspname FROM pg_namespace n WHERE starts_with(nspname, $1) AND NOT EXISTS"
                                " (SELECT 1 FROM (" + live_schemas + ") l(s) WHERE n.nspname = l.s"
                                " OR starts_with(n.nspname, l.s || '_'))",
                                env_prefix));
    }
    return found;
}

std::vector<std::string> processes_mentioning(const std::string& needle) {
    std::vector<std::string> found;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        if (std::stoi(name) == ::getpid()) continue;
        std::string cmdline = slurp(entry.path() / "cmdline");
        for (auto& c : cmdline)
            if (c == '\0') c = ' ';
        if (cmdline.find(needle) != std::string::npos) found.push_back(name + ": " + cmdline);
    }
    return found;
}

void write_demo_csv(const fs::path& dir, int rows, int variant) {
    fs::create_directories(dir);
    std::mt19937 random(static_cast<unsigned>(1000 + variant));
    const char* sexes[] = {"m", "f", "F", "u"};
    const char* codes[] = {"a01", "b02", "c03"};
    {
        std::ofstream out(dir / "patients.csv");
        out << "patid,sex,birth_year\n";
        for (int i = 0; i < rows + variant; ++i)
            out << i << "," << sexes[random() % 4] << "," << 1900 + static_cast<int>(random() % 120) << "\n";
    }
    {
        std::ofstream out(dir / "diagnoses.csv");
        out << "patid,npi,dx_code\n";
        for (int i = 0; i < rows; ++i)
            out << random() % static_cast<unsigned>(rows) << "," << 10 + random() % 3 << "," << codes[random() % 3] << "\n";
    }
    std::ofstream(dir / "providers.csv") << "npi\n10\n11\n12\n";
    std::ofstream(dir / "icd10.csv") << "code\nA01\nB02\nC03\n";
}

std::vector<std::string> demo_table_flags(const fs::path& dir) {
    std::vector<std::string> flags;
    for (const char* t : {"patients", "diagnoses", "providers", "icd10"}) {
        flags.push_back("--table");
        flags.push_back(std::string(t) + "=" + (dir / (std::string(t) + ".csv")).string());
    }
    return flags;
}

void write_ece_yml(const fs::path& file, const std::string& production_role, const std::string& prefix) {
    std::ofstream(file) << "project: reliability\nproduction:\n  role: " << production_role
                        << "\n  schemas: [analytics]\nenvironments:\n  prefix: " << prefix << "\n  ttl: 2h\n";
}

fs::path copy_demo_project(const fs::path& where, bool changed) {
    fs::copy(demo_project, where, fs::copy_options::recursive);
    fs::remove_all(where / "target");
    if (changed) {
        const fs::path model = where / "models/staging/stg_patients.sql";
        std::string text = test::read_file(model);
        const std::string from = "    birth_year\n";
        auto at = text.find(from);
        if (at == std::string::npos) throw std::runtime_error("stg_patients.sql changed shape");
        text.replace(at, from.size(), "    birth_year,\n    (birth_year / 10) * 10 as birth_decade\n");
        std::ofstream(model, std::ios::trunc) << text;
    }
    return where;
}

void build_production(const std::string& admin_url, const fs::path& work, const ProjectEdit& edit) {
    const auto admin = pg::parse_url(admin_url);
    const fs::path project = copy_demo_project(work / "production", false);
    if (edit) edit(project);
    const dbt::BuildTarget target{admin.host, admin.port, admin.dbname, admin.user, admin.password, "analytics",
                                  "analytics", "production", "prodsha", ""};
    fs::create_directories(work / "production-profile");
    std::ofstream(work / "production-profile/profiles.yml") << dbt::profiles_yml(target, 1);
    auto env = dbt::dbt_environment(target, work / "production-profile", "raw");
    auto built = run({ece::test::real_dbt().string(), "build", "--project-dir", project.string(), "--profiles-dir",
                      (work / "production-profile").string(), "--profile", "ece", "--target", "ece"},
                     env, work);
    if (built.exit_code != 0) throw std::runtime_error("production build failed: " + built.out + built.err);
    auto stored = run({ece_dbt_binary, "store-manifest", "--manifest", (project / "target/manifest.json").string(),
                       "--sha", "prodsha"},
                      {{"ECE_DATABASE_URL", admin_url}}, work);
    if (stored.exit_code != 0) throw std::runtime_error("storing production's manifest failed: " + stored.err);
}

std::string create_production_role(const std::string& admin_url, const std::string& hint, bool owns_analytics) {
    const std::string role = test::unique_name(hint);
    auto conn = pg::connect(admin_url, "reliability setup");
    pqxx::work tx(conn);
    tx.exec("CREATE ROLE " + pg::quote_ident(role) + " NOLOGIN");
    if (owns_analytics) tx.exec("CREATE SCHEMA analytics AUTHORIZATION " + pg::quote_ident(role));
    tx.commit();
    return role;
}

std::string set_up_production(const std::string& admin_url, const fs::path& work, const std::string& prefix,
                              int rows, const std::map<std::string, std::string>& env, const ProjectEdit& edit) {
    const std::string production_role = create_production_role(admin_url, "relprod");
    write_ece_yml(work / "ece.yml", production_role, prefix);
    write_demo_csv(work / "data", rows, 0);
    std::vector<std::string> stage_prod{ece_stage_binary, "load", "--prod"};
    for (auto& f : demo_table_flags(work / "data")) stage_prod.push_back(f);
    const auto staged = run(stage_prod, env, work);
    if (staged.exit_code != 0) throw std::runtime_error("staging production failed: " + staged.err);
    build_production(admin_url, work, edit);
    return production_role;
}

std::string unique_env_prefix(const std::string& hint) {
    std::string p = test::unique_name(hint);
    p.resize(std::min<std::size_t>(p.size(), 20));
    return p + "_";
}

namespace {
fs::path created_directory(const fs::path& dir) {
    fs::create_directories(dir);
    return dir;
}
}  // namespace

PullRequestSetup::PullRequestSetup(const std::string& database_hint, int rows)
    : url(test::fresh_database(database_hint)),
      prefix(unique_env_prefix("rel")),
      env{{"ECE_DATABASE_URL", url}, {"TMPDIR", created_directory(dir / "tmp").string()}},
      production_role(set_up_production(url, dir.path(), prefix, rows, env)),
      config((dir / "ece.yml").string()),
      project(copy_demo_project(dir / "branch", true)),
      conn(pg::connect(url, "reliability check")) {}

std::string PullRequestSetup::branch(int pr) { return "feature/" + std::to_string(pr); }

std::vector<std::string> PullRequestSetup::up(int pr) const {
    return {ece_env_binary, "--config", config, "up", "--branch", branch(pr), "--pr", std::to_string(pr)};
}

std::vector<std::string> PullRequestSetup::stage_branch(int pr) const {
    std::vector<std::string> argv{ece_stage_binary, "load", "--branch", branch(pr), "--pr", std::to_string(pr)};
    for (auto& f : demo_table_flags(dir / "data")) argv.push_back(f);
    return argv;
}

std::vector<std::string> PullRequestSetup::build(const std::string& sha, int pr) const {
    return {ece_dbt_binary, "build", "--config", config, "--branch", branch(pr), "--pr", std::to_string(pr),
            "--project-dir", project.string(), "--dbt", ece::test::real_dbt().string(), "--sha", sha};
}

std::vector<std::string> PullRequestSetup::down(int pr) const {
    return {ece_env_binary, "--config", config, "down", "--pr", std::to_string(pr)};
}

std::vector<std::string> PullRequestSetup::left_behind() {
    auto left = leftovers(conn, prefix);
    for (const auto& entry : fs::directory_iterator(dir / "tmp"))
        left.push_back("temporary directory " + entry.path().filename().string());
    return left;
}

}  // namespace ece::reliability
