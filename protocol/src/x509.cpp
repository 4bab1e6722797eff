#include "rped/crypto/x509.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "ossl.h"

namespace rped::crypto {

namespace {

using Bio = std::unique_ptr<BIO, ossl::Deleter<BIO_free>>;

std::shared_ptr<X509> share(X509* cert) { return std::shared_ptr<X509>(cert, X509_free); }

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

std::string name_text(const X509_NAME* name) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    ossl::clear_errors();
    return {};
  }
  return bio_text(bio.get());
}

}  // namespace

Result<Certificate> Certificate::from_der(ByteView der) {
  const unsigned char* cursor = der.data();
  X509* raw = d2i_X509(nullptr, &cursor, static_cast<long>(der.size()));
  if (raw == nullptr || cursor != der.data() + der.size()) {
    X509_free(raw);
    ossl::clear_errors();
    return make_error(Errc::certificate_invalid, "bytes are not one DER X.509 certificate");
  }
  return Certificate(share(raw));
}

Result<std::vector<Certificate>> Certificate::from_pem(std::string_view pem) {
  if (pem.empty()) {
    return make_error(Errc::certificate_invalid, "PEM text is empty; it holds no CERTIFICATE block");
  }
  if (pem.size() > kMaxPemBytes) {
    return make_error(Errc::certificate_invalid, "PEM text of " + std::to_string(pem.size()) +
                                                     " bytes exceeds the limit of " + std::to_string(kMaxPemBytes));
  }
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    return ossl::error(Errc::internal, "cannot read PEM text");
  }
  std::vector<Certificate> certs;
  for (;;) {
    X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (raw == nullptr) {
      const unsigned long err = ERR_peek_last_error();
      const bool end_of_input = ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
      if (!end_of_input || certs.empty()) {
        return ossl::error(Errc::certificate_invalid, certs.empty() ? "PEM text holds no CERTIFICATE block"
                                                                    : "PEM CERTIFICATE block does not parse");
      }
      ossl::clear_errors();
      return certs;
    }
    certs.emplace_back(share(raw));
  }
}

Bytes Certificate::der() const { return ossl::to_der(i2d_X509, cert_.get()); }

std::string Certificate::pem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert_.get()) != 1) {
    ossl::clear_errors();
    return {};
  }
  return bio_text(bio.get());
}

std::string Certificate::subject() const { return name_text(X509_get_subject_name(cert_.get())); }
std::string Certificate::issuer() const { return name_text(X509_get_issuer_name(cert_.get())); }

namespace {
std::string subject_attribute(X509* cert, int nid) {
  const X509_NAME* name = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) {
    return {};
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) {
    ossl::clear_errors();
    return {};
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}
}  // namespace

std::string Certificate::common_name() const { return subject_attribute(cert_.get(), NID_commonName); }
std::string Certificate::subject_serial_number() const { return subject_attribute(cert_.get(), NID_serialNumber); }

bool Certificate::allows_key_agreement() const {
  // X509_get_key_usage reports "all usages" when the extension is absent, so
  // check presence first.
  return (X509_get_extension_flags(cert_.get()) & EXFLAG_KUSAGE) != 0 &&
         (X509_get_key_usage(cert_.get()) & KU_KEY_AGREEMENT) != 0;
}

std::string Certificate::serial_hex() const {
  ossl::Bn serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_.get()), nullptr));
  char* hex = serial ? BN_bn2hex(serial.get()) : nullptr;
  if (hex == nullptr) {
    ossl::clear_errors();
    return {};
  }
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

Bytes Certificate::sha256_fingerprint() const {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (X509_digest(cert_.get(), EVP_sha256(), out.data(), &len) != 1) {
    ossl::clear_errors();
    return {};
  }
  out.resize(len);
  return out;
}

Result<EcPublicKey> Certificate::ec_public_key() const {
  const EVP_PKEY* key = X509_get0_pubkey(cert_.get());
  if (key == nullptr) {
    return ossl::error(Errc::certificate_invalid, "certificate public key cannot be read");
  }
  return EcPublicKey::from_decoded(key);
}

// ---------------------------------------------------------------------------

Result<TrustStore> TrustStore::from_anchors(std::span<const Certificate> anchors) {
  if (anchors.empty()) {
    return make_error(Errc::invalid_argument, "trust store needs at least one anchor certificate");
  }
  std::shared_ptr<X509_STORE> store(X509_STORE_new(), X509_STORE_free);
  if (!store) {
    return ossl::error(Errc::internal, "X509_STORE allocation failed");
  }
  for (const Certificate& anchor : anchors) {
    X509* cert = anchor.native();
    // Self-issued names are not enough: the self-signature must verify too.
    if (X509_check_issued(cert, cert) != X509_V_OK || X509_check_ca(cert) == 0 ||
        X509_verify(cert, X509_get0_pubkey(cert)) != 1) {
      ossl::clear_errors();
      return make_error(Errc::certificate_invalid,
                        "trust anchor '" + anchor.subject() + "' is not a self-signed CA certificate");
    }
    if (X509_STORE_add_cert(store.get(), cert) != 1) {
      return ossl::error(Errc::internal, "cannot add trust anchor");
    }
  }
  return TrustStore(std::move(store), false);
}

Result<TrustStore> TrustStore::from_issuer(const Certificate& issuer) {
  if (X509_check_ca(issuer.native()) == 0) {
    ossl::clear_errors();
    return make_error(Errc::certificate_invalid, "issuer '" + issuer.subject() + "' is not a CA certificate");
  }
  std::shared_ptr<X509_STORE> store(X509_STORE_new(), X509_STORE_free);
  if (!store || X509_STORE_add_cert(store.get(), issuer.native()) != 1) {
    return ossl::error(Errc::internal, "cannot build the issuer trust store");
  }
  return TrustStore(std::move(store), true);
}

Result<void> TrustStore::verify(const Certificate& leaf, std::span<const Certificate> intermediates,
                                std::optional<std::int64_t> at_unix_time) const {
  // sk_X509_free is a macro; the stack does not own the certificates.
  const auto free_stack = [](STACK_OF(X509) * s) { sk_X509_free(s); };
  std::unique_ptr<STACK_OF(X509), decltype(free_stack)> chain(sk_X509_new_null(), free_stack);
  if (!chain) {
    return ossl::error(Errc::internal, "certificate stack allocation failed");
  }
  for (const Certificate& cert : intermediates) {
    if (sk_X509_push(chain.get(), cert.native()) <= 0) {
      return ossl::error(Errc::internal, "certificate stack push failed");
    }
  }
  std::unique_ptr<X509_STORE_CTX, ossl::Deleter<X509_STORE_CTX_free>> ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store_.get(), leaf.native(), chain.get()) != 1) {
    return ossl::error(Errc::internal, "certificate verification setup failed");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT | (partial_chain_ ? X509_V_FLAG_PARTIAL_CHAIN : 0));
  if (at_unix_time.has_value()) {
    X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(*at_unix_time));
  }
  if (X509_verify_cert(ctx.get()) == 1) {
    return {};
  }
  const int code = X509_STORE_CTX_get_error(ctx.get());
  const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
  const X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
  std::string message = std::string("certificate chain does not verify: ") + X509_verify_cert_error_string(code) +
                        " (depth " + std::to_string(depth);
  if (at != nullptr) {
    message += ", subject " + name_text(X509_get_subject_name(at));
  }
  message += ")";
  ossl::clear_errors();
  return make_error(Errc::chain_untrusted, std::move(message));
}

}  // namespace rped::crypto
