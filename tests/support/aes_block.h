// Raw AES block encryption (ECB, no padding) through OpenSSL EVP: the
// independent reference the CTR and KWP tests build expected values from.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

#include "rped/bytes.h"

namespace rped::test {

// `blocks` is a whole number of 16-byte blocks; the key is 16, 24 or 32 bytes.
inline Bytes aes_ecb_encrypt(ByteView key, ByteView blocks) {
  const char* const name = key.size() == 16   ? "AES-128-ECB"
                           : key.size() == 24 ? "AES-192-ECB"
                                              : "AES-256-ECB";
  const std::unique_ptr<EVP_CIPHER, decltype(&EVP_CIPHER_free)> cipher(
      EVP_CIPHER_fetch(nullptr, name, nullptr), EVP_CIPHER_free);
  const std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                            EVP_CIPHER_CTX_free);
  Bytes out(blocks.size());
  int produced = 0;
  if (!cipher || !ctx || (key.size() != 16 && key.size() != 24 && key.size() != 32) ||
      blocks.size() % 16 != 0 ||
      EVP_EncryptInit_ex2(ctx.get(), cipher.get(), key.data(), nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &produced, blocks.data(),
                        static_cast<int>(blocks.size())) != 1 ||
      static_cast<std::size_t>(produced) != blocks.size()) {
    throw std::runtime_error("reference AES-ECB failed");
  }
  return out;
}

}  // namespace rped::test
