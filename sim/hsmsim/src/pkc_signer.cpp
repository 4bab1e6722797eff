#include "rped/hsmsim/pkc_signer.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include <memory>
#include <string>

namespace rped::hsmsim {

namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

Error openssl_error(const std::string& what) {
  std::string reason = "signing a PKC: " + what;
  if (const unsigned long code = ERR_get_error(); code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    reason += ": ";
    reason += text;
  }
  ERR_clear_error();
  return make_error(Errc::internal, reason);
}

}  // namespace

Result<Bytes> sign_pkc(ByteView statement_der, const crypto::EcKeyPair& attestation_key,
                       const crypto::Certificate& attestation_certificate,
                       std::span<const crypto::Certificate> chain,
                       std::string_view content_type_oid) {
  if (statement_der.empty() || statement_der.size() > attestation::kMaxPkcBytes) {
    return make_error(Errc::invalid_argument, "a PKC statement has 1 to 64 KiB");
  }
  const std::string oid(content_type_oid);
  std::unique_ptr<ASN1_OBJECT, Deleter<ASN1_OBJECT_free>> type(OBJ_txt2obj(oid.c_str(), 1));
  if (!type) {
    return openssl_error("content type " + oid);
  }
  std::unique_ptr<BIO, Deleter<BIO_free>> in(
      BIO_new_mem_buf(statement_der.data(), static_cast<int>(statement_der.size())));
  // CMS_PARTIAL: the content type and signer are set before CMS_final;
  // CMS_BINARY: the statement is bytes, never MIME-canonicalized text.
  std::unique_ptr<CMS_ContentInfo, Deleter<CMS_ContentInfo_free>> cms(
      CMS_sign(nullptr, nullptr, nullptr, nullptr, CMS_PARTIAL | CMS_BINARY));
  if (!in || !cms) {
    return openssl_error("CMS_sign");
  }
  if (CMS_set1_eContentType(cms.get(), type.get()) != 1) {
    return openssl_error("CMS_set1_eContentType");
  }
  // CMS_NOSMIMECAP: an attestation is not S/MIME; signingTime, contentType
  // and messageDigest are the signed attributes.
  if (CMS_add1_signer(cms.get(), attestation_certificate.native(), attestation_key.native(),
                      EVP_sha512(), CMS_BINARY | CMS_NOSMIMECAP) == nullptr) {
    return openssl_error("CMS_add1_signer");
  }
  for (const crypto::Certificate& cert : chain) {
    if (CMS_add1_cert(cms.get(), cert.native()) != 1) {
      return openssl_error("CMS_add1_cert");
    }
  }
  if (CMS_final(cms.get(), in.get(), nullptr, CMS_BINARY) != 1) {
    return openssl_error("CMS_final");
  }
  unsigned char* der = nullptr;
  const int len = i2d_CMS_ContentInfo(cms.get(), &der);
  if (len <= 0) {
    return openssl_error("i2d_CMS_ContentInfo");
  }
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

}  // namespace rped::hsmsim
