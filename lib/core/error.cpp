#include "core/error.hpp"

#include "core/secrets.hpp"

namespace ece {

std::string format_error(const std::string& message, const ErrorLocation& where) {
    std::string out;
    if (!where.file.empty()) {
        out += where.file;
        if (where.line) out += ":" + std::to_string(*where.line);
        else if (where.byte_offset) out += ": byte " + std::to_string(*where.byte_offset);
        out += ": ";
    } else if (where.byte_offset) {
        out += "byte " + std::to_string(*where.byte_offset) + ": ";
    }
    if (!where.field.empty()) out += where.field + ": ";
    if (where.http_status) out += "HTTP " + std::to_string(*where.http_status) + ": ";
    out += message;
    return out;
}

Error::Error(ErrorKind kind, const std::string& message, ErrorLocation where)
    : std::runtime_error(mask_secrets(format_error(message, where))),
      kind_(kind),
      message_(mask_secrets(message)),
      where_(std::move(where)) {}

int Error::exit_code() const noexcept {
    switch (kind_) {
        case ErrorKind::usage: return exit_code::usage;
        case ErrorKind::input: return exit_code::input;
        case ErrorKind::database: return exit_code::database;
        case ErrorKind::network: return exit_code::network;
        case ErrorKind::auth: return exit_code::auth;
        case ErrorKind::conflict: return exit_code::conflict;
        case ErrorKind::external: return exit_code::external;
        case ErrorKind::internal: return exit_code::internal;
    }
    return exit_code::internal;
}

Error Error::with_context(const std::string& doing) const {
    return Error(kind_, doing + ": " + message_, where_);
}

}  // namespace ece
