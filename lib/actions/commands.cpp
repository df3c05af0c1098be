#include "actions/commands.hpp"

#include <sstream>

#include "core/secrets.hpp"

namespace ece::actions {
namespace {

void append_escaped(std::string& out, char c, bool property) {
    switch (c) {
        case '%': out += "%25"; return;
        case '\r': out += "%0D"; return;
        case '\n': out += "%0A"; return;
        case ':': if (property) { out += "%3A"; return; } break;
        case ',': if (property) { out += "%2C"; return; } break;
        default: break;
    }
    out += c;
}

std::string escape(std::string_view text, bool property) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) append_escaped(out, c, property);
    return out;
}

// "file=a.sql,line=3,col=7,title=x" in the order GitHub documents; empty when nothing is known.
std::string properties(const Annotation& where) {
    std::string out;
    auto add = [&out](std::string_view key, const std::string& value) {
        if (value.empty()) return;
        if (!out.empty()) out += ',';
        out.append(key).append("=").append(escape_property(mask_secrets(value)));
    };
    auto number = [](const std::optional<long>& n) { return n ? std::to_string(*n) : std::string(); };
    add("file", where.file);
    add("line", number(where.line));
    add("endLine", number(where.end_line));
    add("col", number(where.column));
    add("endColumn", number(where.end_column));
    add("title", where.title);
    return out;
}

}  // namespace

std::string escape_data(std::string_view text) { return escape(text, false); }
std::string escape_property(std::string_view text) { return escape(text, true); }

Commands::Commands(std::ostream& sink) : sink_(sink) {}

void Commands::add_mask(std::string_view secret) {
    register_secret(secret);
    std::istringstream lines{std::string(secret)};
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        register_secret(line);
        // Deliberately unmasked: this line is how the runner learns the value.
        sink_ << "::add-mask::" << escape_data(line) << '\n';
    }
    sink_.flush();
}

void Commands::group(std::string_view title) { command("group", {}, title); }
void Commands::end_group() { command("endgroup", {}, {}); }
void Commands::error(std::string_view message, const Annotation& where) { command("error", where, message); }
void Commands::warning(std::string_view message, const Annotation& where) { command("warning", where, message); }
void Commands::notice(std::string_view message, const Annotation& where) { command("notice", where, message); }
void Commands::debug(std::string_view message) { command("debug", {}, message); }

void Commands::info(std::string_view text) {
    sink_ << mask_secrets(text);
    if (text.empty() || text.back() != '\n') sink_ << '\n';
    sink_.flush();
}

void Commands::command(std::string_view name, const Annotation& where, std::string_view message) {
    auto props = properties(where);
    sink_ << "::" << name;
    if (!props.empty()) sink_ << ' ' << props;
    sink_ << "::" << escape_data(mask_secrets(message)) << '\n';
    sink_.flush();
}

Group::Group(Commands& commands, std::string_view title) : commands_(commands) { commands_.group(title); }
Group::~Group() { commands_.end_group(); }

}  // namespace ece::actions
