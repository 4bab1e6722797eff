// Internal: message building. concat() instead of `"literal" + std::string`,
// because GCC 12 at -O3 reports a false -Wrestrict inside
// operator+(const char*, std::string&&) (GCC bug 105329), and -Werror is on.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace rped::config {

inline std::string concat(std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (const std::string_view part : parts) {
    size += part.size();
  }
  std::string out;
  out.reserve(size);
  for (const std::string_view part : parts) {
    out.append(part);
  }
  return out;
}

}  // namespace rped::config
