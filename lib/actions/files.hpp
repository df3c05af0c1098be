#pragma once
// The files the runner reads after a step: $GITHUB_OUTPUT (step outputs) and $GITHUB_STEP_SUMMARY (job summary).
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "actions/commands.hpp"
#include "actions/inputs.hpp"

namespace ece::actions {

// A random delimiter ("ghadelimiter_<32 hex>") that occurs in neither the name nor the value.
std::string output_delimiter(std::string_view name, std::string_view value);

// name<<DELIM\nvalue\nDELIM\n: the multi-line syntax, safe for any value.
std::string format_output(std::string_view name, std::string_view value);

class Outputs {
public:
    // file empty: not running in Actions; set() then does nothing and returns false.
    explicit Outputs(std::filesystem::path file);
    static Outputs from_env(const EnvLookup& env = process_env());

    // Appends the output with every registered secret masked. Returns whether it was written.
    bool set(std::string_view name, std::string_view value);

    // For the one output that must carry a credential to later steps (database-url): masked in the log through
    // commands.add_mask first, then written unmasked to the file the runner reads.
    bool set_secret(std::string_view name, std::string_view value, Commands& commands);

    const std::filesystem::path& file() const { return file_; }

private:
    bool append(std::string_view name, std::string_view value);

    std::filesystem::path file_;
};

class StepSummary {
public:
    // GitHub refuses a step summary above 1 MiB.
    static constexpr std::size_t limit_bytes = 1024 * 1024;

    struct Result {
        bool written = false;        // false: no summary file (not in Actions) or nothing fit
        bool trimmed = false;        // the text was cut to stay under the limit, with a note saying so
        std::size_t bytes_written = 0;
    };

    explicit StepSummary(std::filesystem::path file);
    static StepSummary from_env(const EnvLookup& env = process_env());

    // Appends masked Markdown. What would push the file over limit_bytes is cut at a line boundary (or, for one
    // huge line, at a UTF-8 character boundary) and replaced by a note that the summary was trimmed; once cut,
    // the summary takes nothing more.
    Result append(std::string_view markdown);

    const std::filesystem::path& file() const { return file_; }

private:
    std::filesystem::path file_;
};

// The note StepSummary puts where it cut.
extern const std::string_view summary_trimmed_note;

}  // namespace ece::actions
