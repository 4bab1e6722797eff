// The key-encryption key of a PED key file, derived from its PIN:
// PBKDF2 (SP 800-132 / RFC 8018 §5.2) with HMAC-SHA512, through OpenSSL's
// EVP_KDF "PBKDF2". The PIN is the ASCII digits; a key without PIN uses the
// empty string.
//
// Thread-safety: pure function.
#pragma once

#include <cstdint>

#include "rped/bytes.h"
#include "rped/crypto/symmetric.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::pedsim {

Result<SecretArray<crypto::kAes256KeyBytes>> derive_pin_kek(ByteView pin, ByteView salt,
                                                            std::uint32_t iterations);

}  // namespace rped::pedsim
