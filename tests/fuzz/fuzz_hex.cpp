// from_hex: any text; on success the bytes re-encode to the same hex digits
// (to_hex writes lower case), on failure the input was odd-length or had a
// non-hex character.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fixture.h"
#include "rped/bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using rped::fuzz::require;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = rped::from_hex(text);
  const bool all_hex = text.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
  require(parsed.ok() == (size % 2 == 0 && all_hex),
          "from_hex accepts exactly the even-length hex strings");
  if (!parsed.ok()) {
    require(parsed.error().code == rped::Errc::invalid_encoding,
            "from_hex fails with invalid_encoding");
    return 0;
  }
  require(parsed.value().size() == size / 2, "from_hex yields one byte per two digits");
  std::string lower(text);
  for (char& c : lower) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  require(rped::to_hex(parsed.value()) == lower, "to_hex(from_hex(s)) is s in lower case");
  return 0;
}
