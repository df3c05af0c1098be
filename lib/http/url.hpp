#pragma once
// URLs as the HTTP client needs them: parsed into parts, printed without credentials, query values encoded.
#include "core/percent.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ece::http {

struct Url {
    std::string scheme;    // "https" or "http", lower case
    std::string userinfo;  // "user:password" or empty (only proxies carry one)
    std::string host;      // without brackets for IPv6
    std::string port;      // always set: explicit, or 443 / 80 from the scheme
    std::string target;    // path + query, at least "/"

    // Throws ece::Error(usage) naming the URL (credentials removed) when it is not http(s)://host[:port][/...].
    static Url parse(std::string_view text);

    // scheme://host[:port]/target with the port left out when it is the scheme's default.
    std::string str() const;
    // str() without userinfo and with secret-looking query values (sig, token, key, ...) replaced by "***":
    // safe for error messages.
    std::string redacted() const;
    // "host:port", as a CONNECT request and the Host header of a proxy want it.
    std::string authority() const;
    bool is_https() const { return scheme == "https"; }
    bool same_origin(const Url& other) const;
    bool host_is_ip_address() const;
};

// Percent-encodes everything but RFC 3986 unreserved characters, for query values and path segments.
using ::ece::percent_encode;

// Parses a Link header (RFC 8288) and returns the URL of the given relation ("next", "last"), if any.
std::optional<std::string> link_relation(std::string_view link_header, std::string_view relation);

// Whether NO_PROXY (curl's rules: names with their subdomains, "*", IP addresses, CIDR ranges such as
// 10.0.0.0/8 or fd00::/8; ports ignored) exempts host, which is given as in Url::host. Pure.
bool no_proxy_matches(std::string_view host, std::string_view no_proxy);

// Redacts a URL given as text (see Url::redacted); text that is not a URL comes back with any userinfo cut.
std::string redact_url(std::string_view text);

}  // namespace ece::http
