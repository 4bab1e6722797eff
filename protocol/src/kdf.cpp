#include "rped/crypto/kdf.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "ossl.h"

namespace rped::crypto {

std::size_t digest_bytes(Hash hash) noexcept {
  switch (hash) {
    case Hash::sha1: return 20;
    case Hash::sha224: return 28;
    case Hash::sha256: return 32;
    case Hash::sha512: return 64;
    default: return 0;
  }
}

const char* hash_name(Hash hash) noexcept {
  switch (hash) {
    case Hash::sha1: return "SHA1";
    case Hash::sha224: return "SHA224";
    case Hash::sha256: return "SHA256";
    case Hash::sha512: return "SHA512";
    default: return "";
  }
}

Result<Bytes> digest(Hash hash, ByteView message) {
  Bytes out(digest_bytes(hash));
  unsigned int len = 0;
  if (out.empty() || EVP_Digest(message.data(), message.size(), out.data(), &len,
                                EVP_get_digestbyname(hash_name(hash)), nullptr) != 1 ||
      len != out.size()) {
    return ossl::error(Errc::internal, std::string("digest ") + hash_name(hash) + " failed");
  }
  return out;
}

Result<SecretBytes> one_step_kdf(Hash hash, ByteView z, ByteView fixed_info, std::size_t out_bytes) {
  if (z.empty()) {
    return make_error(Errc::invalid_argument, "one-step KDF: the shared secret Z is empty");
  }
  if (out_bytes == 0 || out_bytes > kMaxKdfOutputBytes) {
    return make_error(Errc::invalid_argument, "one-step KDF: output length " + std::to_string(out_bytes) +
                                                  " is outside [1, " + std::to_string(kMaxKdfOutputBytes) + "]");
  }
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_SSKDF, nullptr);
  if (kdf == nullptr) {
    return ossl::error(Errc::internal, "SSKDF unavailable");
  }
  ossl::KdfCtx ctx(EVP_KDF_CTX_new(kdf));
  if (!ctx) {
    return ossl::error(Errc::internal, "SSKDF context allocation failed");
  }
  // SP 800-56C r1 §4.1 option 1: H is a hash function, no salt. OpenSSL's SSKDF
  // takes Z as the "key" and FixedInfo as "info", and prefixes the 32-bit counter.
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(hash_name(hash)), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(z.data()), z.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<std::uint8_t*>(fixed_info.data()),
                                        fixed_info.size()),
      OSSL_PARAM_construct_end(),
  };
  SecretBytes dkm(out_bytes);
  if (EVP_KDF_derive(ctx.get(), dkm.reveal_mutable().data(), out_bytes, params) != 1) {
    return ossl::error(Errc::kdf_failed, "one-step KDF derivation failed");
  }
  return dkm;
}

}  // namespace rped::crypto
