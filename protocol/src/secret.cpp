#include "rped/secret.h"

#include <openssl/crypto.h>

#include <ostream>

namespace rped {

void secure_wipe(void* data, std::size_t size) noexcept {
  if (data != nullptr && size != 0) {
    OPENSSL_cleanse(data, size);
  }
}

bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::ostream& print_redacted(std::ostream& os) { return os << "<redacted>"; }

}  // namespace rped
