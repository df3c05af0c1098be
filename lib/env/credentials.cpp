#include "env/credentials.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "pg/connect.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "core/random.hpp"
#include <openssl/sha.h>

#include <array>
#include <vector>

namespace ece::env {
namespace {

constexpr int scram_iterations = 4096;


std::string base64(const unsigned char* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3) + 1, '\0');
    int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

std::string base64url_unpadded(const std::vector<unsigned char>& bytes) {
    std::string text = base64(bytes.data(), bytes.size());
    while (!text.empty() && text.back() == '=') text.pop_back();
    for (auto& c : text) {
        if (c == '+') c = '-';
        else if (c == '/') c = '_';
    }
    return text;
}

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

Digest hmac_sha256(const Digest& key, std::string_view message) {
    Digest out{};
    unsigned int length = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(), &length)) {
        throw Error(ErrorKind::internal, "OpenSSL HMAC-SHA-256 failed");
    }
    return out;
}

}  // namespace

std::string random_password() {
    std::string password = base64url_unpadded(random_bytes(32));
    register_secret(password);
    return password;
}

std::string scram_sha256_verifier(const std::string& password) {
    auto salt = random_bytes(16);
    Digest salted{};
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                          static_cast<int>(salt.size()), scram_iterations, EVP_sha256(),
                          static_cast<int>(salted.size()), salted.data()) != 1) {
        throw Error(ErrorKind::internal, "OpenSSL PBKDF2 failed");
    }
    Digest client_key = hmac_sha256(salted, "Client Key");
    Digest stored_key{};
    SHA256(client_key.data(), client_key.size(), stored_key.data());
    Digest server_key = hmac_sha256(salted, "Server Key");
    return "SCRAM-SHA-256$" + std::to_string(scram_iterations) + ":" + base64(salt.data(), salt.size()) + "$" +
           base64(stored_key.data(), stored_key.size()) + ":" + base64(server_key.data(), server_key.size());
}

std::string Credentials::url() const {
    pg::ConnectionFacts facts{.host = host, .port = port, .user = user, .password = password, .dbname = dbname,
                              .options = options};
    return pg::make_url(facts);
}

std::string Credentials::masked_url() const {
    Credentials without = *this;
    without.password.clear();
    std::string plain = without.url();
    if (password.empty()) return plain;
    // "postgresql://user@host..." -> "postgresql://user:***@host..."
    auto at = plain.find('@');
    return at == std::string::npos ? plain : plain.substr(0, at) + ":***" + plain.substr(at);
}

}  // namespace ece::env
