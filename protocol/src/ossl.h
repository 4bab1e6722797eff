// Internal to protocol/: RAII owners for OpenSSL objects and the one way an
// OpenSSL failure becomes an Error (reason string from the error queue, which
// OpenSSL fills with fixed texts only, never key material).
#pragma once

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

#include "rped/bytes.h"
#include "rped/result.h"

namespace rped::ossl {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX_free>>;
using KdfCtx = std::unique_ptr<EVP_KDF_CTX, Deleter<EVP_KDF_CTX_free>>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;
using Bn = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using SecretBn = std::unique_ptr<BIGNUM, Deleter<BN_clear_free>>;
using BnCtx = std::unique_ptr<BN_CTX, Deleter<BN_CTX_free>>;
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;

// DER of an OpenSSL object through its i2d_* function; empty on failure.
template <typename T, typename I2d>
Bytes to_der(I2d i2d, T* object) {
  unsigned char* der = nullptr;
  const int len = i2d(object, &der);
  if (len <= 0) {
    ERR_clear_error();
    return {};
  }
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

// Drains OpenSSL's thread-local error queue into "what: reason".
Error error(Errc code, std::string_view what);

// Clears the error queue after an expected, handled failure.
void clear_errors() noexcept;

}  // namespace rped::ossl
