#pragma once
// Turning untrusted text (names, dbt messages, attribute values) into GitHub markdown that renders as that text:
// no HTML, no markdown formatting, no broken tables, and never a line that could pass for ece's marker.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ece::comment::md {

// Plain text: HTML-escaped, markdown punctuation backslash-escaped, newlines as spaces.
std::string text(std::string_view s);
// Text for a table cell: as text(), with newlines as <br>.
std::string cell(std::string_view s);
// Inline code: `s` when s is plain, else <code>escaped</code>; safe inside table cells.
std::string code(std::string_view s);
// At most max_bytes of s, cut at a UTF-8 character boundary, with "…" when cut.
std::string clip(std::string_view s, std::size_t max_bytes);
// A link whose URL is http(s); anything else renders as text only.
std::string link(std::string_view label, std::string_view url);

// A GitHub table: header row, alignment row, one row per entry; cells are already markdown.
std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                  const std::vector<char>& align = {});
// <details> with a summary line; open shows it unfolded.
std::string details(std::string_view summary_markdown, std::string_view body, bool open = false);

}  // namespace ece::comment::md
