#include "actions/files.hpp"

#include "core/random.hpp"

#include <fstream>

#include "core/error.hpp"
#include "core/secrets.hpp"

namespace ece::actions {

const std::string_view summary_trimmed_note =
    "\n\n> **Note:** the rest of this summary was cut: GitHub accepts at most 1 MiB of summary per step.\n";

namespace {


std::filesystem::path path_from(const EnvLookup& env, std::string_view variable) {
    auto value = env(variable);
    return value ? std::filesystem::path(*value) : std::filesystem::path();
}

void append_to_file(const std::filesystem::path& file, std::string_view text, std::string_view what) {
    std::ofstream out(file, std::ios::binary | std::ios::app);
    out << text;
    out.flush();
    if (!out) throw Error(ErrorKind::external, "cannot append the " + std::string(what), {.file = file.string()});
}

// The longest prefix of text no longer than budget that ends at a line end, or failing that at a UTF-8 character
// boundary (a continuation byte 10xxxxxx never starts a character).
// Whether the summary already ends with the trimmed note: a summary that was cut takes nothing more after it.
bool ends_with_trimmed_note(const std::filesystem::path& file, std::uintmax_t size) {
    if (size < summary_trimmed_note.size()) return false;
    std::ifstream in(file, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(size - summary_trimmed_note.size()));
    std::string tail(summary_trimmed_note.size(), '\0');
    in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
    return in && tail == summary_trimmed_note;
}

std::size_t cut_point(std::string_view text, std::size_t budget) {
    if (text.size() <= budget) return text.size();
    auto newline = text.rfind('\n', budget == 0 ? 0 : budget - 1);
    if (newline != std::string_view::npos && newline < budget) return newline + 1;
    std::size_t cut = budget;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    return cut;
}

}  // namespace

std::string output_delimiter(std::string_view name, std::string_view value) {
    for (;;) {
        auto delimiter = "ghadelimiter_" + random_hex(16);
        if (name.find(delimiter) == std::string_view::npos && value.find(delimiter) == std::string_view::npos) {
            return delimiter;
        }
    }
}

std::string format_output(std::string_view name, std::string_view value) {
    if (name.empty() || name.find_first_of("\r\n") != std::string_view::npos) {
        throw Error(ErrorKind::internal, "an output name must be one non-empty line", {.field = std::string(name)});
    }
    auto delimiter = output_delimiter(name, value);
    std::string text;
    text.append(name).append("<<").append(delimiter).append("\n");
    text.append(value).append("\n");
    text.append(delimiter).append("\n");
    return text;
}

Outputs::Outputs(std::filesystem::path file) : file_(std::move(file)) {}

Outputs Outputs::from_env(const EnvLookup& env) { return Outputs(path_from(env, "GITHUB_OUTPUT")); }

bool Outputs::set(std::string_view name, std::string_view value) { return append(name, mask_secrets(value)); }

bool Outputs::set_secret(std::string_view name, std::string_view value, Commands& commands) {
    commands.add_mask(value);
    return append(name, value);
}

bool Outputs::append(std::string_view name, std::string_view value) {
    if (file_.empty()) return false;
    append_to_file(file_, format_output(name, value), "step output '" + std::string(name) + "'");
    return true;
}

StepSummary::StepSummary(std::filesystem::path file) : file_(std::move(file)) {}

StepSummary StepSummary::from_env(const EnvLookup& env) { return StepSummary(path_from(env, "GITHUB_STEP_SUMMARY")); }

StepSummary::Result StepSummary::append(std::string_view markdown) {
    Result result;
    if (file_.empty()) return result;
    std::error_code missing;
    auto existing = std::filesystem::file_size(file_, missing);
    if (missing) existing = 0;
    if (ends_with_trimmed_note(file_, existing)) {
        result.trimmed = true;
        return result;
    }
    auto text = mask_secrets(markdown);
    auto room = existing < limit_bytes ? limit_bytes - existing : 0;
    if (text.size() > room) {
        result.trimmed = true;
        if (room < summary_trimmed_note.size()) return result;  // not even the note fits: leave the file as it is
        text.resize(cut_point(text, room - summary_trimmed_note.size()));
        text += summary_trimmed_note;
    }
    append_to_file(file_, text, "step summary");
    result.written = true;
    result.bytes_written = text.size();
    return result;
}

}  // namespace ece::actions
