#pragma once
// Credentials of an environment: where to connect and as whom. The password exists only in memory (registered as
// a secret the moment it is made) and in the server as a SCRAM verifier; it is never written to disk.
#include <map>
#include <string>

namespace ece::env {

struct Credentials {
    std::string host;      // as the admin URL names the server
    std::string port;      // "5432" when the admin URL leaves it out
    std::string dbname;
    std::string user;      // the environment's role
    std::string password;  // empty when not issued (hints, profiles)
    std::string schema;    // the base schema
    std::map<std::string, std::string> options;  // sslmode and other libpq keywords of the admin URL

    // postgresql://user:password@host:port/dbname?... (registered as a secret when it holds a password).
    std::string url() const;
    // The same URL with the password replaced by "***", for printing.
    std::string masked_url() const;
};

// 32 bytes from OpenSSL's RAND_bytes, base64url without padding (43 characters). Registered as a secret.
std::string random_password();

// The SCRAM-SHA-256 verifier PostgreSQL stores for password (RFC 5802/7677, 4096 iterations, random salt), so the
// plain password never reaches the server's statement log. Passwords are ASCII here, so SASLprep is the identity.
std::string scram_sha256_verifier(const std::string& password);

}  // namespace ece::env
