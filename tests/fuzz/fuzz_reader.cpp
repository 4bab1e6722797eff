// Reader driven by a script: the input is
//   script_length(1) || script(script_length) || data
// and each script op reads a field from `data`. A shadow cursor predicts every
// outcome: a read succeeds exactly when the model says it fits, returns the
// big-endian value or the aliasing view at the model's offset, and moves the
// cursor by exactly its width; a failure is invalid_encoding and never moves
// the cursor past the end.
//
// Op byte: kind = op % 8, and `arg` = op / 8 (0..31); kinds 4 and 5 take the
// next script byte `p` as a parameter.
//   0 u8 (odd arg: boolean)   1 u16   2 u32   3 u64
//   4 bytes(arg * 256 + p)
//   5 vector16(min = p, max = p + arg * 160); p % 4 picks the form: the view,
//     text16, blob16 or secret16 (copies with the same bytes)
//   6 rest()       7 expect_end()
#include <cstddef>
#include <cstdint>
#include <optional>

#include "fuzz/fixture.h"
#include "rped/wire.h"

namespace {

using rped::ByteView;
using rped::fuzz::require;

template <typename T>
void check_failure(const rped::Result<T>& r, const rped::Reader& reader, std::size_t before) {
  require(r.error().code == rped::Errc::invalid_encoding, "failed read is invalid_encoding");
  require(reader.remaining() <= before, "failed read moved the cursor backwards");
}

std::uint64_t big_endian(ByteView b) {
  std::uint64_t v = 0;
  for (const std::uint8_t byte : b) {
    v = (v << 8) | byte;
  }
  return v;
}

// Reads an integer of `width` bytes with `read` and checks it against the model.
template <typename ReadFn>
void integer_op(rped::Reader& reader, ByteView data, std::size_t& offset, std::size_t width,
                ReadFn read) {
  const std::size_t before = reader.remaining();
  const auto r = read();
  const bool fits = data.size() - offset >= width;
  require(r.ok() == fits, "integer read succeeds exactly when it fits");
  if (!r.ok()) {
    check_failure(r, reader, before);
    offset = data.size() - reader.remaining();
    return;
  }
  require(static_cast<std::uint64_t>(r.value()) == big_endian(data.subspan(offset, width)),
          "integer read is big-endian");
  offset += width;
  require(reader.remaining() == data.size() - offset, "integer read consumes its width");
}

void view_result(const rped::Result<ByteView>& r, const rped::Reader& reader, ByteView data,
                 std::size_t& offset, std::size_t view_offset, std::size_t n,
                 std::size_t end_offset) {
  require(r.value().data() == data.data() + view_offset && r.value().size() == n,
          "byte read aliases the input at the cursor");
  offset = end_offset;
  require(reader.remaining() == data.size() - offset, "byte read consumes exactly its field");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* raw, std::size_t size) {
  const ByteView input = rped::fuzz::input_view(raw, size);
  if (input.empty()) {
    return 0;
  }
  const std::size_t script_length = input[0] < input.size() - 1 ? input[0] : input.size() - 1;
  const ByteView script = input.subspan(1, script_length);
  const ByteView data = input.subspan(1 + script_length);

  rped::Reader reader(data);
  std::size_t offset = 0;  // the model's cursor
  for (std::size_t pc = 0; pc < script.size(); ++pc) {
    const std::uint8_t op = script[pc];
    const std::size_t arg = op / 8;
    const std::size_t left = data.size() - offset;
    switch (op % 8) {
      case 0:
        if (arg % 2 == 1) {
          const std::size_t before = reader.remaining();
          const auto r = reader.boolean("f");
          require(r.ok() == (left >= 1 && data[offset] <= 1),
                  "boolean succeeds exactly on a present 0 or 1");
          if (!r.ok()) {
            check_failure(r, reader, before);
            offset = data.size() - reader.remaining();
            break;
          }
          require(r.value() == (data[offset] == 1), "boolean reads the byte");
          offset += 1;
          require(reader.remaining() == data.size() - offset, "boolean moves by one byte");
          break;
        }
        integer_op(reader, data, offset, 1, [&] { return reader.u8("f"); });
        break;
      case 1:
        integer_op(reader, data, offset, 2, [&] { return reader.u16("f"); });
        break;
      case 2:
        integer_op(reader, data, offset, 4, [&] { return reader.u32("f"); });
        break;
      case 3:
        integer_op(reader, data, offset, 8, [&] { return reader.u64("f"); });
        break;
      case 4: {
        const std::size_t p = pc + 1 < script.size() ? script[++pc] : 0;
        const std::size_t n = arg * 256 + p;
        const std::size_t before = reader.remaining();
        const auto r = reader.bytes(n, "f");
        require(r.ok() == (left >= n), "bytes(n) succeeds exactly when n bytes remain");
        if (!r.ok()) {
          check_failure(r, reader, before);
          offset = data.size() - reader.remaining();
          break;
        }
        view_result(r, reader, data, offset, offset, n, offset + n);
        break;
      }
      case 5: {
        const std::size_t min = pc + 1 < script.size() ? script[++pc] : 0;
        const std::size_t max = min + arg * 160;
        const std::size_t before = reader.remaining();
        const std::size_t len = left >= 2 ? big_endian(data.subspan(offset, 2)) : 0;
        const bool fits = left >= 2 && len >= min && len <= max && left - 2 >= len;
        if (min % 4 != 0) {
          // The copying forms: the same bytes, owned.
          std::optional<rped::Bytes> copy;
          bool ok = false;
          if (min % 4 == 1) {
            const auto r = reader.text16(min, max, "f");
            ok = r.ok();
            if (ok)
              copy.emplace(r.value().begin(), r.value().end());
            else
              check_failure(r, reader, before);
          } else if (min % 4 == 2) {
            const auto r = reader.blob16(min, max, "f");
            ok = r.ok();
            if (ok)
              copy.emplace(r.value());
            else
              check_failure(r, reader, before);
          } else {
            const auto r = reader.secret16(min, max, "f");
            ok = r.ok();
            if (ok)
              copy.emplace(r.value().reveal().begin(), r.value().reveal().end());
            else
              check_failure(r, reader, before);
          }
          require(ok == fits, "a vector16 copy succeeds exactly when vector16 would");
          if (!ok) {
            offset = data.size() - reader.remaining();
            break;
          }
          const ByteView expected = data.subspan(offset + 2, len);
          require(*copy == rped::Bytes(expected.begin(), expected.end()),
                  "a vector16 copy holds the field's bytes");
          offset += 2 + len;
          require(reader.remaining() == data.size() - offset,
                  "a vector16 copy moves past the field");
          break;
        }
        const auto r = reader.vector16(min, max, "f");
        require(r.ok() == fits, "vector16 succeeds exactly when its length is allowed and present");
        if (!r.ok()) {
          check_failure(r, reader, before);
          offset = data.size() - reader.remaining();
          break;
        }
        view_result(r, reader, data, offset, offset + 2, len, offset + 2 + len);
        break;
      }
      case 6: {
        const ByteView rest = reader.rest();
        require(rest.data() == data.data() + offset && rest.size() == left,
                "rest() is everything left");
        offset = data.size();
        require(reader.remaining() == 0, "rest() consumes everything");
        break;
      }
      case 7: {
        const auto r = reader.expect_end("m");
        require(r.ok() == (left == 0), "expect_end() succeeds exactly at the end");
        require(reader.remaining() == left, "expect_end() does not move the cursor");
        break;
      }
      default:
        rped::fuzz::violated("unreachable op");
    }
  }
  return 0;
}
