// NO_PROXY as curl reads it: entries separated by commas or spaces; "*" alone bypasses the proxy for every host;
// a name matches itself and its subdomains (a leading "." or "*." is ignored); an IP address matches only that
// address (however it is written); ADDRESS/BITS is a CIDR range of IPv4 or IPv6 addresses; a ":port" suffix and
// IPv6 brackets are ignored.
#include "http/url.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include <arpa/inet.h>

namespace ece::http {
namespace {

struct IpAddress {
    int family = 0;                   // AF_INET or AF_INET6
    std::array<unsigned char, 16> bytes{};
    int bits() const { return family == AF_INET ? 32 : 128; }
};

std::optional<IpAddress> parse_ip(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    std::string copy(text);
    IpAddress ip;
    for (int family : {AF_INET, AF_INET6}) {
        if (inet_pton(family, copy.c_str(), ip.bytes.data()) == 1) {
            ip.family = family;
            return ip;
        }
    }
    return std::nullopt;
}

// Whether the first prefix_bits bits of both addresses agree.
bool same_prefix(const IpAddress& a, const IpAddress& b, int prefix_bits) {
    if (a.family != b.family) return false;
    for (int bit = 0; bit < prefix_bits; ++bit) {
        unsigned mask = 0x80u >> (bit % 8);
        if ((a.bytes[bit / 8] & mask) != (b.bytes[bit / 8] & mask)) return false;
    }
    return true;
}

bool matches_range(const std::optional<IpAddress>& host, std::string_view entry, std::size_t slash) {
    auto network = parse_ip(entry.substr(0, slash));
    auto bits_text = entry.substr(slash + 1);
    int bits = -1;
    auto [end, ec] = std::from_chars(bits_text.data(), bits_text.data() + bits_text.size(), bits);
    if (!host || !network || ec != std::errc() || end != bits_text.data() + bits_text.size() || bits < 0 ||
        bits > network->bits()) {
        return false;
    }
    return same_prefix(*host, *network, bits);
}

// An entry without the ":port" curl allows after names and IPv4 addresses ("[::1]:8443" keeps its brackets).
std::string_view without_port(std::string_view entry) {
    if (entry.starts_with('[')) {
        auto close = entry.find(']');
        return close == std::string_view::npos ? entry : entry.substr(0, close + 1);
    }
    auto colon = entry.find(':');
    return colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos
               ? entry.substr(0, colon)
               : entry;
}

bool matches_name(std::string_view host, std::string entry) {
    if (entry.starts_with("*.")) entry.erase(0, 1);
    if (entry.starts_with('.')) entry.erase(0, 1);
    std::transform(entry.begin(), entry.end(), entry.begin(), [](unsigned char c) { return std::tolower(c); });
    if (entry.empty()) return false;
    if (host == entry) return true;
    return host.size() > entry.size() && host.ends_with(entry) && host[host.size() - entry.size() - 1] == '.';
}

bool matches_entry(std::string_view host, const std::optional<IpAddress>& host_ip, std::string_view entry) {
    if (entry == "*") return true;
    if (auto slash = entry.find('/'); slash != std::string_view::npos) return matches_range(host_ip, entry, slash);
    entry = without_port(entry);
    if (auto entry_ip = parse_ip(entry)) return host_ip && same_prefix(*host_ip, *entry_ip, entry_ip->bits());
    return matches_name(host, std::string(entry));
}

}  // namespace

bool no_proxy_matches(std::string_view host, std::string_view no_proxy) {
    std::string lower_host(host);
    std::transform(lower_host.begin(), lower_host.end(), lower_host.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    auto host_ip = parse_ip(lower_host);
    while (!no_proxy.empty()) {
        auto separator = no_proxy.find_first_of(", \t");
        auto entry = no_proxy.substr(0, separator);
        no_proxy = separator == std::string_view::npos ? std::string_view{} : no_proxy.substr(separator + 1);
        if (!entry.empty() && matches_entry(lower_host, host_ip, entry)) return true;
    }
    return false;
}

}  // namespace ece::http
