// Result<T>: the error-as-value type used at every parse, protocol and crypto
// boundary (ENGINEERING.md convention 4). Nothing in protocol/ throws or aborts
// on bad input; a failure is an Error carrying a stable code and a message that
// names what was wrong. Messages never contain secret bytes: they are built
// only from constants, lengths and library reason strings.
//
// Thread-safety: value types; no shared state.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace rped {

enum class Errc : std::uint16_t {
  invalid_argument = 1,   // a caller-supplied value is out of its allowed range
  invalid_length,         // a buffer has a length the operation does not allow
  invalid_encoding,       // bytes do not parse as the required structure
  invalid_public_key,     // SP 800-56A r3 §5.6.2.3.3 full public-key validation failed
  invalid_private_key,    // private scalar out of [1, n-1] or pair-wise inconsistent
  key_agreement_failed,   // ECC CDH failed or produced the point at infinity / zero
  kdf_failed,
  cipher_failed,
  mac_mismatch,           // authentication tag did not verify
  unwrap_failed,          // AES-KWP integrity or padding check failed
  signature_invalid,
  certificate_invalid,    // a certificate does not parse or violates a required property
  chain_untrusted,        // X.509 path validation failed
  random_failed,
  self_test_failed,
  // Failures of I/O outside protocol/ (transports, files), so callers can act
  // on the kind without reading the message.
  unplugged,              // the device went away (USB disconnect, emulator socket closed)
  timeout,                // a deadline passed
  io_failed,              // any other I/O failure
  closed,                 // this side closed the link
  not_found,              // no device or file matches
  busy,                   // the resource is taken, or a bounded queue is full
  internal,               // an OpenSSL call failed for a reason outside our inputs
};

// Stable lower-case name of an error code, for logs and tests.
std::string_view errc_name(Errc code) noexcept;

struct Error final {
  Errc code;
  std::string message;  // what was wrong and what is allowed; never secret material

  Error(Errc c, std::string m) : code(c), message(std::move(m)) {}
};

template <typename T>
class [[nodiscard]] Result final {
 public:
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Error>, "Result<Error> is not meaningful");

  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  // Accessing the wrong alternative is a bug in our code, not bad input.
  T& value() & {
    assert(ok());
    return *std::get_if<0>(&state_);
  }
  const T& value() const& {
    assert(ok());
    return *std::get_if<0>(&state_);
  }
  T&& value() && {
    assert(ok());
    return std::move(*std::get_if<0>(&state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    assert(!ok());
    return *std::get_if<1>(&state_);
  }
  Error&& error() && {
    assert(!ok());
    return std::move(*std::get_if<1>(&state_));
  }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> final {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT

  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const& {
    assert(failed_);
    return error_;
  }
  Error&& error() && {
    assert(failed_);
    return std::move(error_);
  }

 private:
  Error error_{Errc::internal, {}};
  bool failed_ = false;
};

inline Error make_error(Errc code, std::string message) { return Error(code, std::move(message)); }

}  // namespace rped

#define RPED_CONCAT_INNER(a, b) a##b
#define RPED_CONCAT(a, b) RPED_CONCAT_INNER(a, b)

// RPED_TRY(expr): return the error of a failed Result<...> from the enclosing function.
#define RPED_TRY(expr)                                      \
  do {                                                      \
    auto&& rped_try_result_ = (expr);                       \
    if (!rped_try_result_.ok()) {                           \
      return std::move(rped_try_result_).error();           \
    }                                                       \
  } while (false)

// RPED_TRY_ASSIGN(decl, expr): `decl = value` of a successful Result, else return its error.
#define RPED_TRY_ASSIGN(decl, expr) RPED_TRY_ASSIGN_IMPL(RPED_CONCAT(rped_result_, __LINE__), decl, expr)
#define RPED_TRY_ASSIGN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) {                            \
    return std::move(tmp).error();            \
  }                                           \
  decl = std::move(tmp).value()
