// Containers for secret material: keys, shared secrets, RPVs, PINs, role secrets.
//
// Model: Tink's SecretData / SanitizingAllocator. Every byte that held a secret
// is overwritten with OPENSSL_cleanse before the memory is released, including
// on reallocation. The containers are move-only (copy is an explicit clone()),
// have no implicit conversion to a byte view, and stream as "<redacted>"; the
// only way to the bytes is reveal(), which is easy to grep for in review.
//
// Thread-safety: like std::vector / std::array; no shared state.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <span>
#include <vector>

namespace rped {

// Overwrites memory in a way the compiler may not elide.
void secure_wipe(void* data, std::size_t size) noexcept;

// Constant-time equality of two byte strings of equal length; unequal lengths
// compare unequal (the length of a MAC or secret is not itself secret).
bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept;

template <typename T>
struct CleansingAllocator {
  using value_type = T;
  CleansingAllocator() noexcept = default;
  template <typename U>
  CleansingAllocator(const CleansingAllocator<U>&) noexcept {}  // NOLINT
  T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    secure_wipe(p, n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }
  template <typename U>
  bool operator==(const CleansingAllocator<U>&) const noexcept {
    return true;
  }
};

class SecretBytes final {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size) : bytes_(size) {}
  // Copies `bytes` in; the caller remains responsible for wiping its own copy.
  static SecretBytes copy_of(std::span<const std::uint8_t> bytes);

  SecretBytes(SecretBytes&&) noexcept = default;
  SecretBytes& operator=(SecretBytes&&) noexcept = default;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes() { clear(); }

  SecretBytes clone() const { return copy_of(reveal()); }

  std::size_t size() const noexcept { return bytes_.size(); }
  bool empty() const noexcept { return bytes_.empty(); }
  void clear() noexcept {
    secure_wipe(bytes_.data(), bytes_.size());
    bytes_.clear();
  }
  // The members that grow the vector are out of line (secret.cpp): inlined,
  // they trip GCC 12's -Wstringop-overflow false positive (GCC PR 106199).
  void append(std::span<const std::uint8_t> more);
  void resize(std::size_t n);

  // The only access to the bytes. Grep for reveal() to audit secret use.
  std::span<const std::uint8_t> reveal() const noexcept { return bytes_; }
  std::span<std::uint8_t> reveal_mutable() noexcept { return bytes_; }

  friend bool operator==(const SecretBytes& a, const SecretBytes& b) noexcept {
    return constant_time_equal(a.reveal(), b.reveal());
  }

 private:
  std::vector<std::uint8_t, CleansingAllocator<std::uint8_t>> bytes_;
};

// Fixed-size secret, e.g. a 32-byte AES key or a 66-byte P-521 CDH output.
template <std::size_t N>
class SecretArray final {
 public:
  static constexpr std::size_t kSize = N;
  SecretArray() noexcept { bytes_.fill(0); }
  static SecretArray copy_of(std::span<const std::uint8_t, N> bytes) noexcept {
    SecretArray s;
    std::copy(bytes.begin(), bytes.end(), s.bytes_.begin());
    return s;
  }
  SecretArray(SecretArray&& other) noexcept : bytes_(other.bytes_) { other.wipe(); }
  SecretArray& operator=(SecretArray&& other) noexcept {
    if (this != &other) {
      bytes_ = other.bytes_;
      other.wipe();
    }
    return *this;
  }
  SecretArray(const SecretArray&) = delete;
  SecretArray& operator=(const SecretArray&) = delete;
  ~SecretArray() { wipe(); }

  SecretArray clone() const noexcept { return copy_of(reveal()); }
  static constexpr std::size_t size() noexcept { return N; }
  void wipe() noexcept { secure_wipe(bytes_.data(), N); }

  std::span<const std::uint8_t, N> reveal() const noexcept { return bytes_; }
  std::span<std::uint8_t, N> reveal_mutable() noexcept { return bytes_; }

  friend bool operator==(const SecretArray& a, const SecretArray& b) noexcept {
    return constant_time_equal(a.reveal(), b.reveal());
  }

 private:
  std::array<std::uint8_t, N> bytes_;
};

// Secrets are never printed: streaming shows a placeholder (so test failure
// messages and any accidental logging stay clean). fmt/spdlog get no formatter
// at all, so logging a secret does not compile.
std::ostream& print_redacted(std::ostream& os);
inline std::ostream& operator<<(std::ostream& os, const SecretBytes&) { return print_redacted(os); }
template <std::size_t N>
std::ostream& operator<<(std::ostream& os, const SecretArray<N>&) {
  return print_redacted(os);
}

}  // namespace rped
