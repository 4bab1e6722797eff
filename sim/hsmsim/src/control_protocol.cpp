#include "rped/hsmsim/control_protocol.h"

#include <algorithm>

#include "rped/wire.h"
#include "secret_writer.h"

namespace rped::hsmsim {

namespace {

Result<std::string> read_text(Reader& r, std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView b, r.vector16(0, kMaxControlText, field));
  return std::string(b.begin(), b.end());
}

}  // namespace

Result<std::size_t> control_frame_size(ByteView prefix) {
  Reader r(prefix);
  RPED_TRY_ASSIGN(const std::uint32_t length, r.u32("control frame length"));
  if (length < 1 || length > kMaxControlFrameBytes) {
    return make_error(Errc::invalid_encoding, "control frame length " + std::to_string(length) +
                                                  " is outside 1 to " +
                                                  std::to_string(kMaxControlFrameBytes));
  }
  return std::size_t{length} + 4;
}

SecretBytes ControlFrame::serialize() const {
  SecretWriter body;
  body.u8(static_cast<std::uint8_t>(type));
  switch (type) {
    case ControlType::command:
      body.u16(static_cast<std::uint16_t>(std::min(words.size(), kMaxControlWords)));
      for (std::size_t i = 0; i < words.size() && i < kMaxControlWords; ++i) {
        body.text(words[i], kMaxControlText);
      }
      break;
    case ControlType::result:
      body.u32(code);
      body.text(text, kMaxControlText);
      break;
    case ControlType::answer:
    case ControlType::output:
    case ControlType::prompt:
    default:
      body.text(text, kMaxControlText);
      break;
  }
  const SecretBytes bytes = body.take();
  SecretWriter frame;
  frame.u32(static_cast<std::uint32_t>(bytes.size()));
  frame.bytes(bytes.reveal());
  return frame.take();
}

SecretBytes secret_output_frame(std::string_view prefix, const SecretBytes& secret,
                                std::string_view suffix) {
  SecretWriter text;
  text.bytes(ByteView(reinterpret_cast<const std::uint8_t*>(prefix.data()), prefix.size()));
  text.bytes(secret.reveal());
  text.bytes(ByteView(reinterpret_cast<const std::uint8_t*>(suffix.data()), suffix.size()));
  const SecretBytes line = text.take();
  SecretWriter frame;
  frame.u32(static_cast<std::uint32_t>(1 + 2 + line.size()));
  frame.u8(static_cast<std::uint8_t>(ControlType::output));
  frame.vector16(line.reveal());
  return frame.take();
}

Result<ControlFrame> ControlFrame::parse(ByteView wire) {
  RPED_TRY_ASSIGN(const std::size_t size, control_frame_size(wire));
  if (size != wire.size()) {
    return make_error(Errc::invalid_encoding, "control frame length does not match the frame");
  }
  Reader r(wire.subspan(4));
  ControlFrame f;
  RPED_TRY_ASSIGN(const std::uint8_t type, r.u8("type"));
  switch (static_cast<ControlType>(type)) {
    case ControlType::command: {
      f.type = ControlType::command;
      RPED_TRY_ASSIGN(const std::uint16_t count, r.u16("word count"));
      if (count < 1 || count > kMaxControlWords) {
        return make_error(Errc::invalid_encoding, "a command has 1 to 64 words");
      }
      for (std::uint16_t i = 0; i < count; ++i) {
        RPED_TRY_ASSIGN(std::string word, read_text(r, "word"));
        f.words.push_back(std::move(word));
      }
      break;
    }
    case ControlType::result: {
      f.type = ControlType::result;
      RPED_TRY_ASSIGN(f.code, r.u32("code"));
      RPED_TRY_ASSIGN(f.text, read_text(r, "message"));
      break;
    }
    case ControlType::answer:
    case ControlType::output:
    case ControlType::prompt: {
      f.type = static_cast<ControlType>(type);
      RPED_TRY_ASSIGN(f.text, read_text(r, "text"));
      break;
    }
    default:
      return make_error(Errc::invalid_encoding,
                        "unknown control frame type " + std::to_string(type));
  }
  RPED_TRY(r.expect_end("control frame"));
  return f;
}

}  // namespace rped::hsmsim
