#include "comment/markdown.hpp"

namespace ece::comment::md {
namespace {

void escape_into(std::string& out, char c, bool in_cell) {
    switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '\r': break;
        case '\n': out += in_cell ? "<br>" : " "; break;
        case '\\': case '`': case '*': case '_': case '[': case ']': case '|': case '#': case '~':
            out += '\\';
            out += c;
            break;
        default: out += c;
    }
}

bool plain_for_backticks(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (c == '`' || c == '|' || c == '<' || c == '>' || c == '&' || c == '\n' || c == '\r') {
            return false;
        }
    }
    return true;
}

}  // namespace

std::string text(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) escape_into(out, c, false);
    return out;
}

std::string cell(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) escape_into(out, c, true);
    return out;
}

std::string code(std::string_view s) {
    if (plain_for_backticks(s)) return "`" + std::string(s) + "`";
    std::string out = "<code>";
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '|': out += "&#124;"; break;
            case '\r': break;
            case '\n': out += ' '; break;
            default: out += c;
        }
    }
    return out + "</code>";
}

std::string clip(std::string_view s, std::size_t max_bytes) {
    if (s.size() <= max_bytes) return std::string(s);
    std::size_t end = max_bytes;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
    return std::string(s.substr(0, end)) + "…";
}

std::string link(std::string_view label, std::string_view url) {
    bool http = url.starts_with("https://") || url.starts_with("http://");
    if (!http) return text(label);
    std::string safe;
    for (char c : url) {
        if (c == ' ' || c == '(' || c == ')' || c == '<' || c == '>' || c == '"' || c == '\n' || c == '\r') {
            static constexpr char hex[] = "0123456789ABCDEF";
            safe += '%';
            safe += hex[static_cast<unsigned char>(c) >> 4];
            safe += hex[static_cast<unsigned char>(c) & 15];
        } else {
            safe += c;
        }
    }
    return "[" + text(label) + "](" + safe + ")";
}

std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                  const std::vector<char>& align) {
    std::string out = "|";
    for (const auto& h : header) out += " " + h + " |";
    out += "\n|";
    for (std::size_t i = 0; i < header.size(); ++i) {
        char a = i < align.size() ? align[i] : 'l';
        out += a == 'r' ? " ---: |" : a == 'c' ? " :---: |" : " --- |";
    }
    out += "\n";
    for (const auto& row : rows) {
        out += "|";
        for (std::size_t i = 0; i < header.size(); ++i) out += " " + (i < row.size() ? row[i] : std::string()) + " |";
        out += "\n";
    }
    return out;
}

std::string details(std::string_view summary_markdown, std::string_view body, bool open) {
    // Blank lines around the body let GitHub render markdown inside the HTML block.
    return std::string(open ? "<details open>" : "<details>") + "<summary>" + std::string(summary_markdown) +
           "</summary>\n\n" + std::string(body) + "\n</details>\n";
}

}  // namespace ece::comment::md
