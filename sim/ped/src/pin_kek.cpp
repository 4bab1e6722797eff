#include "pin_kek.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <memory>
#include <string>

#include "rped/pedsim/constants.h"

namespace rped::pedsim {

namespace {

struct KdfDeleter {
  void operator()(EVP_KDF* kdf) const noexcept { EVP_KDF_free(kdf); }
};
struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* ctx) const noexcept { EVP_KDF_CTX_free(ctx); }
};

}  // namespace

Result<SecretArray<crypto::kAes256KeyBytes>> derive_pin_kek(ByteView pin, ByteView salt,
                                                            std::uint32_t iterations) {
  if (iterations < kMinPinKdfIterations || iterations > kMaxPinKdfIterations) {
    return make_error(Errc::invalid_argument, "PBKDF2 iteration count " +
                                                  std::to_string(iterations) + " is outside " +
                                                  std::to_string(kMinPinKdfIterations) + " to " +
                                                  std::to_string(kMaxPinKdfIterations));
  }
  if (salt.size() < kPinSaltBytes) {
    return make_error(Errc::invalid_length,
                      "PBKDF2 salt must be at least 16 bytes (SP 800-132 §5.1)");
  }
  const std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, "PBKDF2", nullptr));
  if (!kdf) {
    return make_error(Errc::kdf_failed, "OpenSSL has no PBKDF2");
  }
  const std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) {
    return make_error(Errc::kdf_failed, "PBKDF2 context allocation failed");
  }
  // OSSL_PARAM wants non-const pointers; OpenSSL copies and never writes them.
  // An empty PIN still needs a valid pointer.
  static std::uint8_t empty_pin = 0;
  auto* pin_data = pin.empty() ? &empty_pin : const_cast<std::uint8_t*>(pin.data());
  std::uint64_t iteration_count = iterations;
  std::string digest(kPinKdfDigest);
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, pin_data, pin.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_ITER, &iteration_count),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest.data(), 0),
      OSSL_PARAM_construct_end(),
  };
  SecretArray<crypto::kAes256KeyBytes> kek;
  if (EVP_KDF_derive(ctx.get(), kek.reveal_mutable().data(), kek.size(), params) != 1) {
    return make_error(Errc::kdf_failed, "PBKDF2-HMAC-SHA512 failed");
  }
  return kek;
}

}  // namespace rped::pedsim
