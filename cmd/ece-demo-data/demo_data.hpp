#pragma once
// The demo's four source tables (patients, icd10, providers, diagnoses), generated deterministically: the same
// scale factor and seed always give the same bytes, whatever the number of threads.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ece::demo {

struct DemoCounts {
    std::uint64_t patients = 0;
    std::uint64_t icd10 = 0;      // the code catalogue does not scale: always 71,704 codes
    std::uint64_t providers = 0;
    std::uint64_t diagnoses = 0;
};

// SF 1: 10,000,000 patients, 71,704 ICD-10 codes, 8,026,546 providers, 100,000,000 diagnoses.
DemoCounts demo_counts(double scale);

// Share of providers that appear in diagnoses (when there are enough diagnoses).
inline constexpr double active_provider_share = 0.76;

struct DemoOptions {
    double scale = 0.001;
    std::uint64_t seed = 1;
    bool gzip = false;                      // write <table>.csv.gz (deterministic gzip members)
    std::vector<std::string> tables{"patients", "icd10", "providers", "diagnoses"};
    unsigned threads = 2;
};

struct WrittenTable {
    std::string name;
    std::filesystem::path path;
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
};

// Writes <dir>/<table>.csv[.gz] for each table; throws ece::Error(usage) for an unknown table or bad scale.
std::vector<WrittenTable> generate(const std::filesystem::path& dir, const DemoOptions& options);

}  // namespace ece::demo
