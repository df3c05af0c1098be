// ece-stage: load a project's static CSV data into an environment (content-addressed, atomic, parallel COPY).
//   ece-stage load (--branch B [--pr N] | --prod) [--config ece.yml] [--table NAME=PATH_OR_URL ...] [--type T.c=TYPE]
//                  [--pk T=c,...] [--database-url URL]
//   ece-stage status [--database-url URL]
//   ece-stage gc [--database-url URL]
#include <boost/program_options.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/main.hpp"
#include "config/config.hpp"
#include "core/secrets.hpp"
#include "env/environments.hpp"
#include "pg/connect.hpp"
#include "pg/embedded.hpp"
#include "stage/stage.hpp"

namespace po = boost::program_options;
using namespace ece;

namespace {

std::string human_bytes(double bytes) {
    const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000 && u < 4) bytes /= 1000, ++u;
    char out[32];
    std::snprintf(out, sizeof out, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
    return out;
}

const char* phase_name(stage::Phase phase) {
    switch (phase) {
        case stage::Phase::hashing: return "hashing";
        case stage::Phase::scanning: return "scanning";
        case stage::Phase::loading: return "loading";
        case stage::Phase::checking: return "checking";
        case stage::Phase::reused: return "unchanged";
        case stage::Phase::loaded: return "loaded";
    }
    return "";
}

// Progress on stderr: a redrawn bar on a terminal, a line every few seconds (and per phase) otherwise.
class ProgressPrinter {
public:
    ProgressPrinter() : terminal_(::isatty(STDERR_FILENO) == 1) {}

    void operator()(const stage::Progress& p) {
        bool done = p.phase == stage::Phase::reused || p.phase == stage::Phase::loaded;
        auto now = std::chrono::steady_clock::now();
        bool phase_changed = p.table != last_table_ || p.phase != last_phase_;
        if (!terminal_ && !phase_changed && now - last_line_ < std::chrono::seconds(5)) return;
        last_line_ = now;
        last_table_ = p.table;
        last_phase_ = p.phase;
        std::string line = p.table + ": " + phase_name(p.phase);
        if (p.phase == stage::Phase::loading && p.bytes_total > 0) {
            double fraction = static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total);
            if (terminal_) {
                int filled = static_cast<int>(fraction * 30);
                line += " [" + std::string(filled, '#') + std::string(30 - filled, '.') + "]";
            }
            char buffer[160];
            double rate = p.seconds > 0 ? static_cast<double>(p.rows_done) / p.seconds : 0;
            double eta = fraction > 0.01 ? p.seconds * (1 - fraction) / fraction : 0;
            std::snprintf(buffer, sizeof buffer, " %3.0f%%  %s / %s  %.0f rows/s  ETA %.0fs", fraction * 100,
                          human_bytes(static_cast<double>(p.bytes_done)).c_str(),
                          human_bytes(static_cast<double>(p.bytes_total)).c_str(), rate, eta);
            line += buffer;
        } else if (done) {
            char buffer[120];
            std::snprintf(buffer, sizeof buffer, ": %llu rows, %s in %.1fs", static_cast<unsigned long long>(p.rows_total),
                          human_bytes(static_cast<double>(p.bytes_total)).c_str(), p.seconds);
            line += buffer;
        } else if (p.bytes_total > 0) {
            line += " " + human_bytes(static_cast<double>(p.bytes_total));
        }
        if (terminal_) {
            std::cerr << "\r\033[K" << mask_secrets(line) << (done ? "\n" : "") << std::flush;
        } else {
            std::cerr << mask_secrets(line) << "\n";
        }
    }

private:
    bool terminal_;
    std::string last_table_;
    stage::Phase last_phase_ = stage::Phase::hashing;
    std::chrono::steady_clock::time_point last_line_{};
};

// ece.yml from --config, else ./ece.yml when there is one (else the defaults: no declared tables).
config::Config load_config(const po::variables_map& vm) {
    return config::load_for_command(cli::value<std::string>(vm, "config"));
}

// --database-url, else the variable ece.yml's server.database_url_env names, else $ECE_DATABASE_URL or the
// embedded server (as ece-env does).
std::string admin_url(const po::variables_map& vm, const config::Config& config) {
    std::optional<std::string> flag;
    if (vm.count("database-url")) {
        flag = vm["database-url"].as<std::string>();
    } else if (const char* named = std::getenv(config.server.database_url_env.c_str()); named && *named) {
        flag = named;
    }
    return pg::resolve_admin_url(flag);
}

// The tables declared in ece.yml (paths resolved against its directory), then those of --table, then --type/--pk.
std::vector<stage::TableDecl> tables_to_stage(const po::variables_map& vm, const config::Config& config) {
    std::vector<stage::TableDecl> tables = config.stage.tables;
    for (auto& t : tables) stage::resolve_source(t, config.root.string());
    if (vm.count("table"))
        for (const auto& flag : vm["table"].as<std::vector<std::string>>()) tables.push_back(stage::parse_table_flag(flag));
    if (vm.count("type"))
        for (const auto& flag : vm["type"].as<std::vector<std::string>>()) stage::apply_type_flag(tables, flag);
    if (vm.count("pk"))
        for (const auto& flag : vm["pk"].as<std::vector<std::string>>()) stage::apply_primary_key_flag(tables, flag);
    if (tables.empty())
        throw Error(ErrorKind::usage, "nothing to stage: declare stage.tables in ece.yml or give --table NAME=PATH");
    return tables;
}

// What each command runs, given the parsed arguments, ece.yml and the admin URL.
using Command = int (*)(const po::variables_map&, const config::Config&, const std::string&);

int load(const po::variables_map& vm, const config::Config& config, const std::string& url) {
    if (config.stage.content_schema != stage::content_schema) {
        throw Error(ErrorKind::usage, "stage.content_schema other than ece_content is not supported yet",
                    {.file = config.file.string(), .field = "stage.content_schema"});
    }
    auto tables = tables_to_stage(vm, config);
    bool prod = vm["prod"].as<bool>();
    if (prod == (vm.count("branch") > 0)) throw Error(ErrorKind::usage, "give either --branch B [--pr N] or --prod");
    if (prod && vm.count("pr")) throw Error(ErrorKind::usage, "--pr goes with --branch, not --prod");

    stage::Environment env;
    if (prod) {
        env = stage::production_environment(config);
    } else {
        std::optional<int> pr;
        if (vm.count("pr")) pr = vm["pr"].as<int>();
        env::Environments environments(env::Settings{.admin_url = url, .config = config});
        env = stage::branch_environment(environments, vm["branch"].as<std::string>(), pr);
    }
    stage::StageOptions options;
    options.connections = vm.count("connections") ? vm["connections"].as<unsigned>()
                                                  : static_cast<unsigned>(config.stage.parallel_streams);
    options.chunk_bytes = vm["chunk-mb"].as<std::uint64_t>() << 20;
    options.declared_in = config.file.string();
    ProgressPrinter printer;
    options.on_progress = [&](const stage::Progress& p) { printer(p); };
    auto staged = stage::stage_tables(url, env, tables, options);
    for (const auto& t : staged) {
        std::cout << t.name << "\t" << (t.loaded ? "loaded" : "unchanged") << "\t" << t.rows << " rows\t"
                  << t.content_table << "\t" << t.sha256.substr(0, 12) << "\n";
    }
    std::cout << "ECE_RAW_SCHEMA=" << env.raw_schema << "\n";
    return 0;
}

int status(const po::variables_map&, const config::Config&, const std::string& url) {
    auto conn = pg::connect(url, "stage status");
    for (const auto& f : stage::status(conn)) {
        std::cout << f.table_name << "\t" << f.content_table << "\t" << f.sha256.substr(0, 12) << "\t" << f.rows
                  << " rows\t" << human_bytes(static_cast<double>(f.file_bytes)) << " file\t"
                  << human_bytes(static_cast<double>(f.table_bytes)) << " table\t" << f.loaded_at << "\n";
        for (const auto& u : f.used_by) std::cout << "\tused by " << u << "\n";
        if (f.used_by.empty()) std::cout << "\tunused (gc drops it)\n";
    }
    return 0;
}

int collect(const po::variables_map&, const config::Config&, const std::string& url) {
    auto conn = pg::connect(url, "stage gc");
    auto dropped = stage::gc(conn);
    for (const auto& t : dropped) std::cout << "dropped " << stage::content_schema << "." << t << "\n";
    std::cout << dropped.size() << " table(s) dropped\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return guarded_main("ece-stage", [&] {
        po::options_description desc(
            "Usage: ece-stage load (--branch B [--pr N] | --prod) [--config ece.yml] [--table NAME=PATH ...] [options]\n"
            "       ece-stage status | gc [--database-url URL]\nOptions");
        desc.add_options()
            ("help,h", "show this help")
            ("version", "show the version")
            ("branch", po::value<std::string>(), "the branch whose environment (up, see ece-env) gets the tables")
            ("pr", po::value<int>(), "the branch's pull request number (its environment is pr-N)")
            ("prod", po::bool_switch()->default_value(false), "stage into production")
            ("config", po::value<std::string>(), "ece.yml declaring the tables (default: ./ece.yml when present)")
            ("table", po::value<std::vector<std::string>>(), "NAME=PATH of a CSV file (.csv or .csv.gz) or an https URL; repeatable")
            ("type", po::value<std::vector<std::string>>(), "TABLE.COLUMN=TYPE: declared column type (others are inferred)")
            ("pk", po::value<std::vector<std::string>>(), "TABLE=col[,col]: primary key checked before the table is visible")
            ("database-url", po::value<std::string>(), "admin URL (default: $ECE_DATABASE_URL or server.database_url_env, else the embedded server)")
            ("connections", po::value<unsigned>(), "parallel COPY streams (default: stage.parallel_streams, 2)")
            ("chunk-mb", po::value<std::uint64_t>()->default_value(64), "COPY chunk size in MB");
        cli::Syntax syntax{.program = "ece-stage", .help_after = "\n"};
        syntax.hidden.add_options()("command", po::value<std::string>());
        syntax.positional.add("command", 1);
        auto parsed = cli::parse(cli::arguments(argc, argv), desc, syntax);
        if (!parsed) return 0;  // --help or --version was printed
        const auto& vm = parsed->values;
        auto command = cli::value<std::string>(vm, "command").value_or("");
        // ece.yml and the admin URL only once the command is known: resolving the URL may start the embedded server.
        auto with_database = [&vm](Command run) {
            return [&vm, run](const std::vector<std::string>&) {
                config::Config config = load_config(vm);
                return run(vm, config, admin_url(vm, config));
            };
        };
        return cli::dispatch(command, {}, {{"load", with_database(load)},
                                           {"status", with_database(status)},
                                           {"gc", with_database(collect)}});
    });
}
