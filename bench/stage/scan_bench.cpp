// Measures the one-pass scan (hash + parse + infer + chunks) and the hash-only pass over CSV files.
// Usage: bench_stage_scan FILE...   (run each file twice; the second run reads from the page cache)
#include <chrono>
#include <cstdio>
#include <ctime>

#include "stage/scan.hpp"

int main(int argc, char** argv) {
    using clock = std::chrono::steady_clock;
    for (int i = 1; i < argc; ++i) {
        ece::stage::TableDecl table{.name = "t", .source = argv[i]};
        for (int round = 0; round < 2; ++round) {
            // CPU time as well as wall time: on a shared machine the wall time says more about the neighbours.
            auto t0 = clock::now();
            auto c0 = std::clock();
            auto hash = ece::stage::hash_file(table.source);
            auto t1 = clock::now();
            auto c1 = std::clock();
            auto result = ece::stage::scan(table);
            auto t2 = clock::now();
            auto c2 = std::clock();
            double hash_cpu = static_cast<double>(c1 - c0) / CLOCKS_PER_SEC;
            double scan_cpu = static_cast<double>(c2 - c1) / CLOCKS_PER_SEC;
            double mb = static_cast<double>(result.file_bytes) / 1e6;
            double hash_s = std::chrono::duration<double>(t1 - t0).count();
            double scan_s = std::chrono::duration<double>(t2 - t1).count();
            std::printf("%s: %.1f MB, %llu rows, %zu chunks; hash %.2f s (%.0f MB/s; cpu %.2f s); "
                        "scan %.2f s (%.0f MB/s, %.1f M rows/s; cpu %.2f s)%s\n",
                        argv[i], mb, static_cast<unsigned long long>(result.rows), result.chunks.size(), hash_s,
                        mb / hash_s, hash_cpu, scan_s, mb / scan_s, static_cast<double>(result.rows) / scan_s / 1e6, scan_cpu,
                        hash == result.sha256 ? "" : " HASH MISMATCH");
        }
    }
}
