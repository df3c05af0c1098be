#pragma once
// Renders a Report as the GitHub markdown of ece's sticky pull-request comment and of the job summary.
#include "comment/report.hpp"

#include <cstddef>
#include <string>

namespace ece::comment {

// GitHub's limit for a comment body (characters; ece counts bytes, which is never fewer).
inline constexpr std::size_t github_comment_limit = 65536;
// GitHub's limit for one step's job summary.
inline constexpr std::size_t job_summary_limit = 1 << 20;

struct RenderOptions {
    std::size_t max_bytes = github_comment_limit;
    // What the warning says when tables had to be cut: the comment points at the job summary.
    bool job_summary = false;
};

struct Rendered {
    std::string markdown;  // masked, ends with the marker line
    std::string digest;    // SHA-256 of the content above the marker (same input, same digest)
    bool shortened = false;
};

// The one line that always comes first and always survives: "✅ ece: `pr-12` ready · 3 models built, ...".
std::string summary_line(const Report& report);

Rendered render(const Report& report, const RenderOptions& options);
inline Rendered render_comment(const Report& report) { return render(report, {github_comment_limit, false}); }
inline Rendered render_job_summary(const Report& report) { return render(report, {job_summary_limit, true}); }

}  // namespace ece::comment
