#include "dbt/canonical.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace ece::dbt {

void append_quoted(std::string& out, std::string_view text) {
    // Most strings need no escape: quote them directly (what serialize writes then) instead of building a string.
    const bool plain = std::none_of(text.begin(), text.end(), [](char c) {
        return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
    });
    if (!plain) {
        out += boost::json::serialize(boost::json::string_view(text.data(), text.size()));
        return;
    }
    out += '"';
    out += text;
    out += '"';
}

void append_double(std::string& out, double number) {
    // Python compares 1 == 1.0; write integral doubles as integers so both spellings agree.
    if (std::isfinite(number) && number == std::trunc(number) && std::fabs(number) < 1e15) {
        out += std::to_string(static_cast<std::int64_t>(number));
        return;
    }
    char buffer[64];
    auto result = std::to_chars(buffer, buffer + sizeof buffer, number);
    out.append(buffer, result.ptr);
}

void append_canonical(std::string& out, const boost::json::value& value) {
    switch (value.kind()) {
        case boost::json::kind::null: out += "null"; return;
        case boost::json::kind::bool_: out += value.get_bool() ? "true" : "false"; return;
        case boost::json::kind::int64: out += std::to_string(value.get_int64()); return;
        case boost::json::kind::uint64: out += std::to_string(value.get_uint64()); return;
        case boost::json::kind::double_: append_double(out, value.get_double()); return;
        case boost::json::kind::string: {
            const auto& s = value.get_string();
            append_quoted(out, std::string_view(s.data(), s.size()));
            return;
        }
        case boost::json::kind::array: {
            out += '[';
            bool first = true;
            for (const auto& element : value.get_array()) {
                if (!first) out += ',';
                first = false;
                append_canonical(out, element);
            }
            out += ']';
            return;
        }
        case boost::json::kind::object: {
            const auto& object = value.get_object();
            std::vector<const boost::json::key_value_pair*> members;
            members.reserve(object.size());
            for (const auto& member : object) members.push_back(&member);
            std::sort(members.begin(), members.end(),
                      [](const auto* a, const auto* b) { return a->key() < b->key(); });
            out += '{';
            bool first = true;
            for (const auto* member : members) {
                if (!first) out += ',';
                first = false;
                append_quoted(out, std::string_view(member->key().data(), member->key().size()));
                out += ':';
                append_canonical(out, member->value());
            }
            out += '}';
            return;
        }
    }
}

std::string canonical(const boost::json::value& value) {
    std::string out;
    append_canonical(out, value);
    return out;
}

std::string display_value(std::string_view canonical_text) {
    if (canonical_text.size() >= 2 && canonical_text.front() == '"') {
        boost::system::error_code ec;
        auto parsed = boost::json::parse(boost::json::string_view(canonical_text.data(), canonical_text.size()), ec);
        if (!ec && parsed.is_string()) return std::string(parsed.get_string().c_str());
    }
    return std::string(canonical_text);
}

}  // namespace ece::dbt
