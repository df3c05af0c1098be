// ece-stage vs psql \copy vs server-side COPY FROM 'file', on the embedded server, same files, one run.
// Usage: bench_stage_load DATA_DIR [TABLE ...]   (DATA_DIR from ece-demo-data; default tables patients diagnoses)
// Environment: ECE_BENCH_PG_DIR (default /tmp/ece-bench-pg), ECE_BENCH_CONNECTIONS (default "1,1seq,2,2seq,3": a number
// of connections, then "csv" or "bin" to force CSV or binary COPY instead of ece-stage's automatic choice, "seq" for
// scanning the whole file before the COPY starts instead of overlapping them), ECE_BENCH_ROUNDS (default 1: best of
// N rounds).
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <cstdlib>
#include <filesystem>
#include <algorithm>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "pg/connect.hpp"
#include "pg/embedded.hpp"
#include "stage/binary.hpp"
#include "stage/scan.hpp"
#include "stage/stage.hpp"

using namespace ece;
using clock_type = std::chrono::steady_clock;

namespace {

double timed(const std::function<void()>& f) {
    auto start = clock_type::now();
    f();
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

// CPU seconds of a process from /proc/PID/stat: its own (utime + stime) and, with children, its waited-for
// children's (cutime + cstime). A backend that exits is waited for by the postmaster, so the postmaster's children
// time grows by every finished connection's CPU.
double proc_cpu_seconds(long pid, bool children) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string f;
    double ticks = 0;
    for (int k = 3; fields >> f; ++k) {
        if ((!children && (k == 14 || k == 15)) || (children && (k == 16 || k == 17))) ticks += std::stod(f);
        if (k == 17) break;
    }
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double self_cpu_seconds() {
    double total = 0;
    for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
        rusage usage{};
        getrusage(who, &usage);
        total += static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                 static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    }
    return total;
}

// Client and server CPU seconds spent while f ran (server: finished connections and the bench's own backend):
// on a machine shared with other work these say more than the wall time.
struct Cpu {
    long postmaster = 0, backend = 0;
    double client = 0, server = 0;
    template <class F> double measure(F&& f) {
        double c0 = self_cpu_seconds(), s0 = proc_cpu_seconds(postmaster, true) + proc_cpu_seconds(backend, false);
        double seconds = timed(f);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the postmaster reaps the ended backends
        client = self_cpu_seconds() - c0;
        server = proc_cpu_seconds(postmaster, true) + proc_cpu_seconds(backend, false) - s0;
        return seconds;
    }
};

void exec(pqxx::connection& conn, const std::string& sql) { pqxx::nontransaction(conn).exec0(sql); }

struct Row {
    std::string method;
    double seconds;
    double client_cpu, server_cpu;  // of the best round
};

void print(const std::string& table, std::uint64_t rows, std::uint64_t bytes, const std::vector<Row>& results) {
    double server = results.front().seconds, psql = results[1].seconds;
    std::printf("\n%s: %llu rows, %.1f MB\n", table.c_str(), static_cast<unsigned long long>(rows), static_cast<double>(bytes) / 1e6);
    std::printf("| method | seconds | rows/s | MB/s | vs server COPY | vs psql \\copy | CPU s client + server |\n"
                "| --- | --- | --- | --- | --- | --- | --- |\n");
    for (const auto& r : results) {
        std::printf("| %s | %.2f | %.0f | %.1f | %.2fx | %.2fx | %.2f + %.2f |\n", r.method.c_str(), r.seconds,
                    static_cast<double>(rows) / r.seconds, static_cast<double>(bytes) / 1e6 / r.seconds,
                    server / r.seconds, psql / r.seconds, r.client_cpu, r.server_cpu);
    }
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_stage_load DATA_DIR [TABLE ...]\n");
        return 2;
    }
    std::filesystem::path data = std::filesystem::absolute(argv[1]);
    std::vector<std::string> tables;
    for (int i = 2; i < argc; ++i) tables.push_back(argv[i]);
    if (tables.empty()) tables = {"patients", "diagnoses"};
    const char* pg_dir = std::getenv("ECE_BENCH_PG_DIR");
    int rounds = std::getenv("ECE_BENCH_ROUNDS") ? std::atoi(std::getenv("ECE_BENCH_ROUNDS")) : 1;
    std::string connections_list = std::getenv("ECE_BENCH_CONNECTIONS") ? std::getenv("ECE_BENCH_CONNECTIONS") : "1,1seq,2,2seq,3";

    auto server = pg::ensure_embedded(pg_dir ? pg_dir : "/tmp/ece-bench-pg");
    std::string url = server.admin_url;
    auto conn = pg::connect(url, "bench");
    std::printf("server: %s\n", pqxx::nontransaction(conn).exec1("SELECT version()")[0].c_str());
    Cpu cpu;
    cpu.backend = pqxx::nontransaction(conn).exec1("SELECT pg_backend_pid()")[0].as<long>();
    std::ifstream(server.server_root / "data" / "postmaster.pid") >> cpu.postmaster;

    for (const auto& name : tables) {
        stage::TableDecl table{.name = name, .source = (data / (name + ".csv")).string()};
        stage::ScanResult scanned;
        double scan_s = timed([&] { scanned = stage::scan(table); });
        double hash_s = timed([&] { stage::hash_file(table.source); });
        std::string columns;
        for (const auto& c : scanned.columns) columns += (columns.empty() ? "" : ", ") + c.name + " " + c.sql_type;
        std::printf("\n%s: scan (hash + parse + infer) %.2f s = %.0f MB/s; hash only %.2f s = %.0f MB/s\n", name.c_str(),
                    scan_s, static_cast<double>(scanned.file_bytes) / 1e6 / scan_s, hash_s,
                    static_cast<double>(scanned.file_bytes) / 1e6 / hash_s);

        // Every method once per round, interleaved, so that a burst of load from elsewhere hits all of them alike;
        // each keeps its best round.
        std::vector<Row> results;
        auto record = [&](std::size_t index, const std::string& method, double seconds) {
            Row row{method, seconds, cpu.client, cpu.server};
            if (results.size() <= index) results.push_back(row);
            else if (seconds < results[index].seconds) results[index] = row;
        };
        auto fresh = [&] { exec(conn, "DROP TABLE IF EXISTS public.bench_target; CREATE TABLE public.bench_target (" + columns + ")"); };
        std::string psql = "psql -q -v ON_ERROR_STOP=1 '" + url + "' -c \"\\copy public.bench_target FROM '" + table.source +
                           "' (FORMAT csv, HEADER true)\"";
        auto forget_staged = [&] {
            exec(conn, "DROP SCHEMA IF EXISTS bench_raw CASCADE; DROP SCHEMA IF EXISTS bench2_raw CASCADE");
            if (pqxx::nontransaction(conn).exec1("SELECT to_regclass('ece.staged_usage') IS NOT NULL")[0].as<bool>())
                exec(conn, "DELETE FROM ece.staged_usage");
            stage::gc(conn);
        };
        for (int round = 0; round < rounds; ++round) {
            std::size_t index = 0;
            fresh();
            record(index++, "server-side COPY FROM 'file'", cpu.measure([&] {
                       exec(conn, "COPY public.bench_target FROM '" + table.source + "' (FORMAT csv, HEADER true)");
                   }));
            fresh();
            record(index++, "psql \\copy", cpu.measure([&] {
                       if (std::system(psql.c_str()) != 0) throw std::runtime_error("psql failed");
                   }));
            exec(conn, "DROP TABLE IF EXISTS public.bench_target");
            for (std::size_t start = 0; start < connections_list.size();) {
                auto comma = connections_list.find(',', start);
                if (comma == std::string::npos) comma = connections_list.size();
                std::string variant = connections_list.substr(start, comma - start);
                unsigned n = static_cast<unsigned>(std::stoul(variant));
                auto format = variant.find("csv") != std::string::npos   ? stage::CopyFormat::csv
                              : variant.find("bin") != std::string::npos ? stage::CopyFormat::binary
                                                                         : stage::CopyFormat::automatic;
                bool binary = stage::detail::wires_for(format, scanned.columns, n).has_value();
                bool overlap = variant.find("seq") == std::string::npos;
                start = comma + 1;
                // Forget earlier loads so that this one loads from scratch (scan included in the time).
                forget_staged();
                stage::Environment env{.name = "bench", .raw_schema = "bench_raw"};
                stage::StageOptions options{.connections = n, .copy_format = format, .overlap_scan = overlap};
                record(index++,
                       "ece-stage, " + std::to_string(n) + " connection(s), " + (binary ? "binary" : "CSV") +
                           " COPY" + (format == stage::CopyFormat::automatic ? " (chosen)" : "") + ", " +
                           (overlap ? "scan overlapped" : "scan first"),
                       cpu.measure([&] { stage::stage_tables(url, env, {table}, options); }));
            }
            stage::Environment second{.name = "bench2", .raw_schema = "bench2_raw"};
            record(index++, "ece-stage restage unchanged file (other env)",
                   cpu.measure([&] { stage::stage_tables(url, second, {table}); }));
        }
        print(name, scanned.rows, scanned.file_bytes, results);
        exec(conn, "DROP SCHEMA IF EXISTS bench_raw CASCADE; DROP SCHEMA IF EXISTS bench2_raw CASCADE");
        exec(conn, "DELETE FROM ece.staged_usage");
        stage::gc(conn);
    }
    return 0;
}
