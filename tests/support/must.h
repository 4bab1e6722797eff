// Setup helpers with no GoogleTest dependency, shared by tests, fuzz targets
// and benchmarks:
//   const auto key = must(EcKeyPair::generate());  // a setup step that cannot fail
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "rped/bytes.h"
#include "rped/result.h"

namespace rped::test {

inline std::string describe(const Error& error) {
  return std::string(errc_name(error.code)) + " (" + error.message + ")";
}

// The value of a Result that the caller's setup relies on; a failure throws,
// which GoogleTest reports as a failure of the current test (never reads a missing value).
template <typename T>
T must(Result<T> result) {
  if (!result.ok()) {
    throw std::runtime_error("setup step failed: " + describe(result.error()));
  }
  return std::move(result).value();
}

inline Bytes hex(std::string_view text) { return must(from_hex(text)); }

inline Bytes bytes_of(std::string_view text) { return Bytes(text.begin(), text.end()); }

}  // namespace rped::test
