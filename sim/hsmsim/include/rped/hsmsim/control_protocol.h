// The operator control socket between `hsmsim cmd` / `hsmsim shell` and the
// running emulator (docs/hsmsim.md §Control socket). hsmsim-internal: both
// ends are this program.
//
//   frame: length u32 (1 .. kMaxControlFrameBytes, counts what follows) || type u8 || body
//   client -> emulator  0x01 command   u16 word count (1..64), then each word as u16 length ||
//   bytes
//                       0x02 answer    text: the operator's answer to a prompt
//   emulator -> client  0x81 output    text: one line of the command's output
//                       0x82 prompt    text: a question; the client sends one answer
//                       0x83 result    u32 result code, text message (may span lines)
//
// One command per connection: the client sends a command, reads output and
// prompts until the result, and closes.
//
// Thread-safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rped/bytes.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::hsmsim {

inline constexpr std::size_t kMaxControlFrameBytes = 64 * 1024;
inline constexpr std::size_t kMaxControlWords = 64;
inline constexpr std::size_t kMaxControlText = 16 * 1024;

enum class ControlType : std::uint8_t {
  command = 0x01,
  answer = 0x02,
  output = 0x81,
  prompt = 0x82,
  result = 0x83,
};

struct ControlFrame {
  ControlType type = ControlType::command;
  std::vector<std::string> words;  // command
  std::string text;                // answer, output, prompt, result message
  std::uint32_t code = 0;          // result

  // The whole frame, length prefix included. Output frames may carry a
  // secret shown to the operator (the one-time password): the bytes are
  // built in a wiping buffer.
  SecretBytes serialize() const;
  static Result<ControlFrame> parse(ByteView frame);
};

// An output frame showing a secret to the operator (the one-time password):
// prefix || secret || suffix, assembled only in wiping buffers.
SecretBytes secret_output_frame(std::string_view prefix, const SecretBytes& secret,
                                std::string_view suffix);

// Given the first 4 bytes, the whole frame's size, or an error.
Result<std::size_t> control_frame_size(ByteView prefix);

}  // namespace rped::hsmsim
