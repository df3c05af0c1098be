#include "lifecycle/lifecycle.hpp"

#include "core/secrets.hpp"

#include <ostream>

namespace ece::lifecycle {

Log::Log(std::ostream& out, bool github_actions) : out_(out), github_(github_actions), commands_(out) {}

void Log::group(const std::string& title) {
    end_group();
    if (github_) {
        commands_.group(title);
    } else {
        out_ << "== " << mask_secrets(title) << "\n";
    }
    in_group_ = true;
}

void Log::end_group() {
    if (!in_group_) return;
    if (github_) commands_.end_group();
    in_group_ = false;
    out_.flush();
}

void Log::info(std::string_view line) {
    if (github_) {
        commands_.info(line);
    } else {
        out_ << (in_group_ ? "   " : "") << mask_secrets(line) << "\n";
    }
}

void Log::error(std::string_view message) {
    if (github_) {
        commands_.error(message);
    } else {
        out_ << "error: " << mask_secrets(message) << "\n";
    }
}

void Log::warning(std::string_view message) {
    if (github_) {
        commands_.warning(message);
    } else {
        out_ << "warning: " << mask_secrets(message) << "\n";
    }
}

void Log::notice(std::string_view message) {
    if (github_) {
        commands_.notice(message);
    } else {
        out_ << mask_secrets(message) << "\n";
    }
}

}  // namespace ece::lifecycle
