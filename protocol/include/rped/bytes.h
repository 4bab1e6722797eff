// Byte-string helpers shared by tests, tools and the protocol: hex coding,
// fixed-width big-endian integers, and printable ASCII.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rped/result.h"

namespace rped {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// Lower-case hex of public data. Never call it on revealed secret bytes outside tests.
std::string to_hex(ByteView bytes);

// Parses hex (either case, even length, no separators).
Result<Bytes> from_hex(std::string_view hex);

// Big-endian fixed-width integer encoding (SP 800-56A r3 §5.8.2: integers in
// FixedInfo and counters are fixed-length big-endian bit strings).
void append_u32_be(Bytes& out, std::uint32_t v);
void append_u64_be(Bytes& out, std::uint64_t v);

// Printable ASCII (0x20-0x7E): text a peer sends that reaches a PED's LCD, an
// audit record or a log line must be this, so it cannot forge lines or
// control the terminal.
constexpr bool is_printable_ascii(char c) noexcept { return c >= 0x20 && c <= 0x7E; }
bool is_printable_ascii(std::string_view text) noexcept;
// `text` with every other character replaced by '?' (for our own text).
std::string to_printable_ascii(std::string text);

}  // namespace rped
