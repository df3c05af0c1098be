#pragma once
// Certificates made at test time with OpenSSL: a private CA and server certificates it signs, so TLS tests run
// against real verification without any file checked in.
#include <filesystem>
#include <string>
#include <vector>

namespace ece::test {

struct CertificateAndKey {
    std::string certificate_pem;
    std::string private_key_pem;
};

class TestPki {
public:
    TestPki();  // a fresh CA ("ece test CA <n>", EC P-256, valid for two days)

    const std::string& ca_certificate_pem() const { return ca_.certificate_pem; }
    // A server certificate signed by this CA for the given DNS names and IP addresses.
    CertificateAndKey issue(const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses) const;
    // A certificate signed by its own key (no CA knows it).
    static CertificateAndKey self_signed(const std::vector<std::string>& dns_names,
                                         const std::vector<std::string>& ip_addresses);
    // Writes the CA certificate (PEM) to path, for ClientOptions::ca_file or SSL_CERT_FILE.
    void write_ca_file(const std::filesystem::path& path) const;

private:
    CertificateAndKey ca_;
};

}  // namespace ece::test
