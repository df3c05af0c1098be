#include "http/url.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <arpa/inet.h>

namespace ece::http {
namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::string_view default_port(std::string_view scheme) { return scheme == "https" ? "443" : "80"; }

// Query parameters whose values are credentials in the URLs ece meets (pre-signed blob URLs, tokens).
bool secret_query_name(std::string_view name) {
    auto n = lower(name);
    static constexpr std::array<std::string_view, 7> markers = {"sig", "token", "key", "secret", "password",
                                                                "credential", "signature"};
    return std::any_of(markers.begin(), markers.end(), [&](auto m) { return n.find(m) != std::string::npos; });
}

std::string redact_query(std::string_view target) {
    auto q = target.find('?');
    if (q == std::string_view::npos) return std::string(target);
    std::string out(target.substr(0, q + 1));
    auto query = target.substr(q + 1);
    bool first = true;
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (!first) out += '&';
        first = false;
        auto eq = pair.find('=');
        if (eq != std::string_view::npos && secret_query_name(pair.substr(0, eq))) {
            out += pair.substr(0, eq);
            out += "=***";
        } else {
            out += pair;
        }
    }
    return out;
}

}  // namespace

Url Url::parse(std::string_view text) {
    auto fail = [&](const std::string& why) -> Error {
        return Error(ErrorKind::usage, "invalid URL: " + why, {.file = redact_url(text)});
    };
    auto sep = text.find("://");
    if (sep == std::string_view::npos) throw fail("expected scheme://host");
    Url url;
    url.scheme = lower(text.substr(0, sep));
    if (url.scheme != "https" && url.scheme != "http") throw fail("scheme must be https or http");
    auto rest = text.substr(sep + 3);
    auto slash = rest.find_first_of("/?#");
    auto authority = rest.substr(0, slash);
    std::string_view target = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    if (auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
    url.target = target.empty() ? "/" : (target.front() == '?' ? "/" + std::string(target) : std::string(target));
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
        url.userinfo = std::string(authority.substr(0, at));
        authority = authority.substr(at + 1);
    }
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) throw fail("unterminated IPv6 address");
        url.host = std::string(authority.substr(1, close - 1));
        authority = authority.substr(close + 1);
        if (!authority.empty() && authority.front() == ':') url.port = std::string(authority.substr(1));
        else if (!authority.empty()) throw fail("unexpected text after the IPv6 address");
    } else {
        auto colon = authority.rfind(':');
        url.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) url.port = std::string(authority.substr(colon + 1));
    }
    url.host = lower(url.host);
    if (url.host.empty()) throw fail("no host");
    if (url.port.empty()) url.port = std::string(default_port(url.scheme));
    if (!std::all_of(url.port.begin(), url.port.end(), [](unsigned char c) { return std::isdigit(c); }) ||
        url.port.size() > 5) {
        throw fail("port must be a number");
    }
    return url;
}

std::string Url::authority() const {
    bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + port;
}

std::string Url::str() const {
    std::string out = scheme + "://";
    if (!userinfo.empty()) out += userinfo + "@";
    bool v6 = host.find(':') != std::string::npos;
    out += v6 ? "[" + host + "]" : host;
    if (port != default_port(scheme)) out += ":" + port;
    return out + target;
}

std::string Url::redacted() const {
    Url copy = *this;
    copy.userinfo.clear();
    copy.target = redact_query(target);
    return copy.str();
}

bool Url::same_origin(const Url& other) const {
    return scheme == other.scheme && host == other.host && port == other.port;
}

bool Url::host_is_ip_address() const {
    unsigned char buffer[16];
    return inet_pton(AF_INET, host.c_str(), buffer) == 1 || inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

std::optional<std::string> link_relation(std::string_view header, std::string_view relation) {
    // <url>; rel="next", <url>; rel="last"
    std::size_t pos = 0;
    while (pos < header.size()) {
        auto open = header.find('<', pos);
        if (open == std::string_view::npos) break;
        auto close = header.find('>', open);
        if (close == std::string_view::npos) break;
        auto url = header.substr(open + 1, close - open - 1);
        auto next_entry = header.find('<', close);
        auto params = header.substr(close + 1, next_entry == std::string_view::npos ? std::string_view::npos
                                                                                    : next_entry - close - 1);
        auto rel = params.find("rel=");
        if (rel != std::string_view::npos) {
            auto value = params.substr(rel + 4);
            if (!value.empty() && value.front() == '"') {
                value = value.substr(1, value.find('"', 1) - 1);
            } else {
                value = value.substr(0, value.find_first_of(";, "));
            }
            // rel may hold several space-separated relations.
            std::size_t start = 0;
            while (start <= value.size()) {
                auto space = value.find(' ', start);
                if (value.substr(start, space - start) == relation) return std::string(url);
                if (space == std::string_view::npos) break;
                start = space + 1;
            }
        }
        pos = close + 1;
    }
    return std::nullopt;
}

std::string redact_url(std::string_view text) {
    auto sep = text.find("://");
    if (sep == std::string_view::npos) return std::string(text);
    std::string out(text);
    auto end = out.find_first_of("/?#", sep + 3);
    auto at = out.rfind('@', end == std::string::npos ? std::string::npos : end);
    if (at != std::string::npos && at > sep) out.erase(sep + 3, at - sep - 2);
    auto q = out.find('?');
    if (q != std::string::npos) {
        auto path_start = out.find('/', sep + 3);
        if (path_start == std::string::npos || path_start > q) path_start = q;
        out = out.substr(0, path_start) + redact_query(out.substr(path_start));
    }
    return out;
}

}  // namespace ece::http
