#include "core/secrets.hpp"

#include "core/percent.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <vector>

namespace ece {
namespace {

std::mutex& registry_mutex() {
    static std::mutex m;
    return m;
}

std::vector<std::string>& registry() {
    static std::vector<std::string> secrets;
    return secrets;
}

void add_locked(std::string_view secret) {
    if (secret.size() < 4) return;
    auto& all = registry();
    if (std::find(all.begin(), all.end(), secret) != all.end()) return;
    all.emplace_back(secret);
    // Longest first, so a secret that contains another is masked whole.
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

// postgresql://user:PASSWORD@host/db -> PASSWORD
std::string_view url_password(std::string_view url) {
    auto scheme = url.find("://");
    if (scheme == std::string_view::npos) return {};
    auto rest = url.substr(scheme + 3);
    auto at = rest.find('@');
    if (at == std::string_view::npos) return {};
    auto userinfo = rest.substr(0, at);
    auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) return {};
    return userinfo.substr(colon + 1);
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decoded(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 && hex_digit(text[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2])));
            i += 2;
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

void add_forms(std::vector<std::string>& forms, std::string_view value) {
    for (auto form : {std::string(value), percent_encode(value),
                      percent_encode(value, is_unreserved, true)}) {
        if (std::find(forms.begin(), forms.end(), form) == forms.end()) forms.push_back(std::move(form));
    }
}

}  // namespace

std::vector<std::string> secret_forms(std::string_view secret) {
    std::vector<std::string> forms;
    add_forms(forms, secret);
    // A URL's password: as written in it (percent-encoded) and as libpq and parsers hand it on (decoded).
    if (const auto password = url_password(secret); !password.empty()) {
        add_forms(forms, password);
        add_forms(forms, percent_decoded(password));
    }
    return forms;
}

void register_secret(std::string_view secret) {
    const auto forms = secret_forms(secret);
    std::lock_guard lock(registry_mutex());
    for (const auto& form : forms) add_locked(form);
}

std::string mask_secrets(std::string_view text) {
    std::string out(text);
    std::lock_guard lock(registry_mutex());
    for (const auto& secret : registry()) {
        for (auto pos = out.find(secret); pos != std::string::npos; pos = out.find(secret, pos + 3)) {
            out.replace(pos, secret.size(), "***");
        }
    }
    return out;
}

void clear_secrets_for_test() {
    std::lock_guard lock(registry_mutex());
    registry().clear();
}

}  // namespace ece
