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

SecretBytes SecretBytes::copy_of(std::span<const std::uint8_t> bytes) {
  SecretBytes s(bytes.size());
  std::copy(bytes.begin(), bytes.end(), s.bytes_.begin());
  return s;
}

void SecretBytes::append(std::span<const std::uint8_t> more) { bytes_.insert(bytes_.end(), more.begin(), more.end()); }

void SecretBytes::resize(std::size_t n) {
  if (n < bytes_.size()) {
    secure_wipe(bytes_.data() + n, bytes_.size() - n);
  }
  bytes_.resize(n);
}

std::ostream& print_redacted(std::ostream& os) { return os << "<redacted>"; }

}  // namespace rped
