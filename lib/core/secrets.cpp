#include "core/secrets.hpp"

#include <algorithm>
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

}  // namespace

void register_secret(std::string_view secret) {
    std::lock_guard lock(registry_mutex());
    add_locked(secret);
    add_locked(url_password(secret));
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
