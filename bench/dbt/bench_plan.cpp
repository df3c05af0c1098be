// One measurement in this process: load both manifests, compare, select; print times and peak memory.
//   bench_dbt_plan PROD_MANIFEST BRANCH_MANIFEST [SELECTOR] [EXPECTED_JSON]
// Run it once per input (bench/dbt/run.sh does) so that peak memory (getrusage maxrss) belongs to that input.
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <boost/json/parse.hpp>

#include "core/main.hpp"
#include "dbt/manifest.hpp"
#include "dbt/state.hpp"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// User + system CPU seconds of this process so far: on a shared machine, wall time measures the neighbours too.
double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

long peak_rss_kb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
    return ece::guarded_main("bench_dbt_plan", [&] {
        if (argc < 3) {
            std::cerr << "usage: bench_dbt_plan PROD_MANIFEST BRANCH_MANIFEST [SELECTOR] [EXPECTED_JSON]\n";
            return 2;
        }
        const std::string selector_text = argc > 3 ? argv[3] : "state:modified+";
        const long rss_before = peak_rss_kb();
        const double cpu_before = cpu_seconds();
        const auto load_start = std::chrono::steady_clock::now();
        auto start = load_start;
        const ece::dbt::ManifestPair pair = ece::dbt::load_manifest_pair(argv[2], argv[1]);
        const ece::dbt::Manifest& prod = pair.production;
        const ece::dbt::Manifest& branch = pair.branch;
        const double load = seconds_since(start);
        start = std::chrono::steady_clock::now();
        const double cpu_before_diff = cpu_seconds();
        const ece::dbt::Plan plan =
            ece::dbt::plan_changes(branch, prod, ece::dbt::parse_selector(selector_text), argv[1]);
        const double diff = seconds_since(start);
        const double diff_cpu = cpu_seconds() - cpu_before_diff;
        const long rss = peak_rss_kb();
        const double cpu = cpu_seconds() - cpu_before;

        std::string agrees = "n/a";
        if (argc > 4) {
            std::ifstream in(argv[4]);
            std::stringstream text;
            text << in.rdbuf();
            const auto expected = boost::json::parse(text.str()).as_object();
            std::vector<std::string> want;
            for (const auto& id : expected.at(selector_text).as_array()) want.emplace_back(id.as_string().c_str());
            agrees = plan.selected_ids() == want ? "yes" : "NO";
        }
        // Each load's interval from the start and its own thread's CPU time: the two intervals overlap when the
        // loads ran at once, and the CPU times are the work regardless of the machine's load.
        const auto since_start = [&](std::chrono::steady_clock::time_point t) {
            return std::chrono::duration<double>(t - load_start).count();
        };
        const double mb = 1e6;
        std::cout << "prod_load_from_s=" << since_start(prod.load_started)
                  << " prod_load_to_s=" << since_start(prod.load_finished) << " prod_load_cpu_s=" << prod.load_cpu_seconds
                  << " branch_load_from_s=" << since_start(branch.load_started)
                  << " branch_load_to_s=" << since_start(branch.load_finished)
                  << " branch_load_cpu_s=" << branch.load_cpu_seconds << " diff_select_cpu_s=" << diff_cpu << " ";
        std::cout << "prod_mb=" << prod.size_bytes / mb << " branch_mb=" << branch.size_bytes / mb
                  << " nodes=" << branch.nodes.size() << " macros=" << branch.macros.size()
                  << " load_both_s=" << load << " diff_select_s=" << diff << " total_s=" << load + diff << " cpu_s=" << cpu << " selected=" << plan.selected.size()
                  << " peak_rss_mb=" << rss / 1024.0 << " rss_at_start_mb=" << rss_before / 1024.0
                  << " peak_over_larger_input=" << (rss * 1024.0) / std::max(prod.size_bytes, branch.size_bytes)
                  << " matches_dbt=" << agrees << "\n";
        return 0;
    });
}
