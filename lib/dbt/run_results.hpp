#pragma once
// dbt's run_results.json (schema v4..v6): what each node's execution did.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ece::dbt {

struct RunResult {
    std::string unique_id;
    std::string status;  // success, error, skipped, pass, fail, warn, runtime error
    double execution_time = 0;
    std::optional<std::int64_t> rows_affected;  // adapter_response.rows_affected; empty when absent or -1 (n/a)
    std::string message;
    std::optional<std::int64_t> failures;  // tests: failing rows
};

struct RunResults {
    std::string schema_version_url;
    int schema_version = 0;
    std::string dbt_version;
    double elapsed_time = 0;
    std::vector<RunResult> results;

    const RunResult* find(std::string_view unique_id) const;
};

// Throws ece::Error(input) with the file, byte offset and JSON path when malformed.
RunResults load_run_results(const std::filesystem::path& file);
RunResults parse_run_results(std::string_view json, const std::filesystem::path& file = "run_results.json");

}  // namespace ece::dbt
