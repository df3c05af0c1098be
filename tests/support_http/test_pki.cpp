#include "test_pki.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace ece::test {
namespace {

template <class T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, decltype([](T* p) { Free(p); })>;
using Key = Owned<EVP_PKEY, EVP_PKEY_free>;
using Cert = Owned<X509, X509_free>;
using Bio = Owned<BIO, BIO_free_all>;

void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("OpenSSL failed: ") + what);
}

Key new_key() {
    Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    check(key != nullptr, "EC key generation");
    return key;
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(size));
}

std::string pem(X509* cert) {
    Bio bio(BIO_new(BIO_s_mem()));
    check(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
    return bio_text(bio.get());
}

std::string pem(EVP_PKEY* key) {
    Bio bio(BIO_new(BIO_s_mem()));
    check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1, "PEM_write_bio_PrivateKey");
    return bio_text(bio.get());
}

Cert read_cert(const std::string& text) {
    Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    check(cert != nullptr, "PEM_read_bio_X509");
    return cert;
}

Key read_key(const std::string& text) {
    Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    check(key != nullptr, "PEM_read_bio_PrivateKey");
    return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    check(ext != nullptr, "X509V3_EXT_conf_nid");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

std::string subject_alt_names(const std::vector<std::string>& dns, const std::vector<std::string>& ips) {
    std::string out;
    for (const auto& name : dns) out += (out.empty() ? "" : ",") + std::string("DNS:") + name;
    for (const auto& ip : ips) out += (out.empty() ? "" : ",") + std::string("IP:") + ip;
    return out;
}

// issuer == nullptr: self-signed with key.
CertificateAndKey make_certificate(const std::string& common_name, bool is_ca, const std::vector<std::string>& dns,
                                   const std::vector<std::string>& ips, X509* issuer, EVP_PKEY* issuer_key) {
    static std::atomic<long> serial{1000};
    Key key = new_key();
    Cert cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 2 * 24 * 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("ece tests"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                               -1, -1, 0);
    X509* signer = issuer ? issuer : cert.get();
    X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
    add_extension(cert.get(), signer, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_key_usage,
                  is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyEncipherment");
    add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
    if (!is_ca) {
        add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
        add_extension(cert.get(), signer, NID_subject_alt_name, subject_alt_names(dns, ips));
    }
    check(X509_sign(cert.get(), issuer_key ? issuer_key : key.get(), EVP_sha256()) > 0, "X509_sign");
    return {pem(cert.get()), pem(key.get())};
}

}  // namespace

// Each CA its own name: with two in one trust bundle (GitHub's and DigitalOcean's fakes), OpenSSL looks the issuer
// up by name and would try the wrong one.
static std::string next_ca_name() {
    static std::atomic<int> count{0};
    return "ece test CA " + std::to_string(++count);
}

TestPki::TestPki() : ca_(make_certificate(next_ca_name(), true, {}, {}, nullptr, nullptr)) {}

CertificateAndKey TestPki::issue(const std::vector<std::string>& dns_names,
                                 const std::vector<std::string>& ip_addresses) const {
    auto ca_cert = read_cert(ca_.certificate_pem);
    auto ca_key = read_key(ca_.private_key_pem);
    auto cn = dns_names.empty() ? ip_addresses.at(0) : dns_names.front();
    return make_certificate(cn, false, dns_names, ip_addresses, ca_cert.get(), ca_key.get());
}

CertificateAndKey TestPki::self_signed(const std::vector<std::string>& dns_names,
                                       const std::vector<std::string>& ip_addresses) {
    auto cn = dns_names.empty() ? ip_addresses.at(0) : dns_names.front();
    return make_certificate(cn, false, dns_names, ip_addresses, nullptr, nullptr);
}

void TestPki::write_ca_file(const std::filesystem::path& path) const {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << ca_.certificate_pem;
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace ece::test
