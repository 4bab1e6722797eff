#include "rped/service/peer_tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

#include "rped/config/atomic_file.h"
#include "rped/config/paths.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/symmetric.h"

namespace rped::service {
namespace {

constexpr std::size_t kMaxCertificateFileBytes = 64 * 1024;
constexpr std::int64_t kSecondsPerDay = 24 * 60 * 60;

struct X509Deleter {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct BioDeleter {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};

std::span<const std::uint8_t> bio_bytes(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  if (length <= 0 || data == nullptr) {
    return {};
  }
  return {reinterpret_cast<const std::uint8_t*>(data), static_cast<std::size_t>(length)};
}

bool add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* const extension = X509V3_EXT_nconf_nid(nullptr, ctx, nid, value);
  if (extension == nullptr) {
    return false;
  }
  const int added = X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  return added == 1;
}

}  // namespace

Result<PeerIdentityPem> make_peer_identity(const std::string& common_name) {
  if (common_name.empty() || common_name.size() > 64) {
    return make_error(Errc::invalid_argument,
                      "-commonname: a common name is 1 to 64 characters (X.509 ub-common-name)");
  }
  RPED_TRY_ASSIGN(const crypto::EcKeyPair key, crypto::EcKeyPair::generate(crypto::Curve::p521));
  std::unique_ptr<X509, X509Deleter> cert(X509_new());
  std::array<std::uint8_t, 16> serial{};
  if (!cert || !crypto::random_bytes(serial).ok()) {
    return make_error(Errc::internal, "cannot create a certificate");
  }
  serial[0] &= 0x7f;  // a positive INTEGER
  BIGNUM* const serial_number = BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr);
  const std::time_t now = std::time(nullptr);
  X509_NAME* const subject = X509_get_subject_name(cert.get());
  bool ok = serial_number != nullptr && X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
            BN_to_ASN1_INTEGER(serial_number, X509_get_serialNumber(cert.get())) != nullptr &&
            ASN1_TIME_set(X509_getm_notBefore(cert.get()), now - kSecondsPerDay) != nullptr &&
            ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                          now + kPeerCertificateValidityDays * kSecondsPerDay) != nullptr &&
            X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                       -1, -1, 0) == 1 &&
            X509_set_issuer_name(cert.get(), subject) == 1 &&
            X509_set_pubkey(cert.get(), key.native()) == 1;
  BN_free(serial_number);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert.get(), cert.get(), nullptr, nullptr, 0);
  ok = ok && add_extension(cert.get(), &context, NID_basic_constraints, "critical,CA:FALSE") &&
       add_extension(cert.get(), &context, NID_key_usage, "critical,digitalSignature") &&
       add_extension(cert.get(), &context, NID_ext_key_usage, "serverAuth,clientAuth") &&
       add_extension(cert.get(), &context, NID_subject_key_identifier, "hash") &&
       X509_sign(cert.get(), key.native(), EVP_sha512()) > 0;
  std::unique_ptr<BIO, BioDeleter> cert_pem(BIO_new(BIO_s_mem()));
  std::unique_ptr<BIO, BioDeleter> key_pem(BIO_new(BIO_s_secmem()));
  ok = ok && cert_pem && key_pem && PEM_write_bio_X509(cert_pem.get(), cert.get()) == 1 &&
       PEM_write_bio_PrivateKey(key_pem.get(), key.native(), nullptr, nullptr, 0, nullptr,
                                nullptr) == 1;
  if (!ok) {
    return make_error(Errc::internal, "cannot create the certificate (OpenSSL failed)");
  }
  const auto certificate = bio_bytes(cert_pem.get());
  PeerIdentityPem identity;
  identity.certificate.assign(certificate.begin(), certificate.end());
  identity.key = SecretBytes::copy_of(bio_bytes(key_pem.get()));
  return identity;
}

Result<void> regenerate_peer_identity(const std::string& common_name,
                                      const std::filesystem::path& certificate_file,
                                      const std::filesystem::path& key_file) {
  RPED_TRY_ASSIGN(const PeerIdentityPem identity, make_peer_identity(common_name));
  RPED_TRY(config::ensure_private_directory(certificate_file.parent_path()));
  const auto key = identity.key.reveal();
  RPED_TRY(config::write_file_atomically(  // new files: 0600
      key_file, std::string_view(reinterpret_cast<const char*>(key.data()), key.size())));
  RPED_TRY(config::write_file_atomically(certificate_file, identity.certificate));
  RPED_TRY_ASSIGN(const crypto::Certificate certificate,
                  load_single_p521_certificate(certificate_file));
  std::printf("Generated a P-521 key and a self-signed certificate for CN=%s\n",
              common_name.c_str());
  std::printf("  certificate: %s\n", certificate_file.c_str());
  std::printf("  private key: %s\n", key_file.c_str());
  std::printf("  SHA-256 fingerprint: %s\n", to_hex(certificate.sha256_fingerprint()).c_str());
  return {};
}

Result<crypto::Certificate> load_single_p521_certificate(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return make_error(Errc::invalid_argument, "cannot read " + file.string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxCertificateFileBytes) {
    return make_error(Errc::invalid_argument,
                      file.string() + " is too large for a certificate file");
  }
  auto certificates = crypto::Certificate::from_pem(text.str());
  if (!certificates.ok()) {
    return make_error(Errc::invalid_argument, file.string() + ": " + certificates.error().message);
  }
  if (certificates->size() != 1) {
    return make_error(Errc::invalid_argument, file.string() + " holds " +
                                                  std::to_string(certificates->size()) +
                                                  " certificates; exactly one is pinned");
  }
  crypto::Certificate certificate = certificates->front();
  auto key = certificate.ec_public_key();
  if (!key.ok() || key->curve() != crypto::Curve::p521) {
    return make_error(Errc::invalid_argument,
                      file.string() + ": the certificate's key is not a P-521 key");
  }
  return certificate;
}

Result<void> check_peer_name(const std::string& name, std::string_view what) {
  const bool valid_chars = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  if (name.empty() || name.size() > kMaxPeerNameChars || !valid_chars || name.front() == '.') {
    return make_error(Errc::invalid_argument, "-name '" + name + "': " + std::string(what) +
                                                  " is 1 to 64 of A-Z a-z 0-9 . _ - "
                                                  "(not starting with '.')");
  }
  return {};
}

Bytes certificate_der(X509* certificate) {
  const int length = certificate == nullptr ? 0 : i2d_X509(certificate, nullptr);
  if (length <= 0) {
    return {};
  }
  Bytes der(static_cast<std::size_t>(length));
  unsigned char* out = der.data();
  i2d_X509(certificate, &out);
  return der;
}

std::string openssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) {
    return "unknown reason";
  }
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

Result<void> configure_peer_tls(SSL_CTX* context, const std::filesystem::path& certificate,
                                const std::filesystem::path& key) {
  if (SSL_CTX_set_min_proto_version(context, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set1_groups_list(context, "P-521") != 1 ||
      SSL_CTX_set1_sigalgs_list(context, "ECDSA+SHA512") != 1) {
    return make_error(Errc::internal, "TLS 1.3 with P-521 is not available: " + openssl_reason());
  }
  if (SSL_CTX_use_certificate_file(context, certificate.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_use_PrivateKey_file(context, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(context) != 1) {
    return make_error(Errc::invalid_argument, "cannot use " + certificate.string() + " and " +
                                                  key.string() + ": " + openssl_reason());
  }
  return {};
}

}  // namespace rped::service
