#include "rped/ped/remote_ops.h"

#include <initializer_list>
#include <span>

#include "rped/crypto/symmetric.h"
#include "rped/wire.h"

namespace rped::ped {

bool allowed_over_channel(Op op) noexcept {
  switch (op) {
    case Op::identify:
    case Op::get_status:
    case Op::read_secret:
    case Op::create_keyset:
    case Op::create_rpk_keyset:
    case Op::cancel:
    case Op::self_test: return true;
    default: return false;
  }
}

namespace {

// The layout of a body as a list of fields, enough to find its CSPs.
enum class Field : std::uint8_t { u8, u16, u32, u64, keyset_id, blob, csp };

// A wrapped CSP is at most 15 bytes longer than the CSP (KWP padding + ICV).
constexpr std::size_t kMaxWrappedBytes = kMaxSecretBytes + 16;

// The bodies that carry CSPs; every other body passes unchanged. Responses
// are described after their 2-byte ok status.
std::optional<std::span<const Field>> csp_layout(FrameKind kind, Op op) {
  static constexpr Field kCreateKeysetCommand[] = {Field::u8, Field::blob, Field::u8, Field::csp, Field::u32};
  static constexpr Field kCreateRpkCommand[] = {Field::u64, Field::u64, Field::csp, Field::csp, Field::blob, Field::u32};
  static constexpr Field kReadSecretResponse[] = {Field::u8, Field::u8, Field::keyset_id, Field::csp};
  static constexpr Field kCreateKeysetResponse[] = {Field::u8, Field::u8, Field::u8, Field::u8, Field::keyset_id,
                                                     Field::csp};
  if (kind == FrameKind::command && op == Op::create_keyset) {
    return kCreateKeysetCommand;
  }
  if (kind == FrameKind::command && op == Op::create_rpk_keyset) {
    return kCreateRpkCommand;
  }
  if (kind == FrameKind::response && op == Op::read_secret) {
    return kReadSecretResponse;
  }
  if (kind == FrameKind::response && op == Op::create_keyset) {
    return kCreateKeysetResponse;
  }
  return std::nullopt;
}

using Transform = std::function<Result<SecretBytes>(ByteView csp_field)>;

// Copies `body` field by field, passing each CSP through `transform`. The
// output holds CSPs in clear in one direction, so it is a SecretBytes.
Result<SecretBytes> rewrite(ByteView body, std::span<const Field> layout, std::size_t max_csp,
                            const Transform& transform) {
  Reader r(body);
  SecretBytes out;
  for (const Field f : layout) {
    switch (f) {
      case Field::u8:
      case Field::u16:
      case Field::u32:
      case Field::u64:
      case Field::keyset_id: {
        static constexpr std::size_t kSizes[] = {1, 2, 4, 8, kKeysetIdBytes};
        RPED_TRY_ASSIGN(const ByteView v, r.bytes(kSizes[static_cast<std::size_t>(f)], "field"));
        out.append(v);
        break;
      }
      case Field::blob: {
        RPED_TRY_ASSIGN(const ByteView v, r.vector16(0, kMaxDeviceFrameBytes, "field"));
        Writer w;
        w.vector16(v);
        out.append(w.data());
        break;
      }
      case Field::csp: {
        RPED_TRY_ASSIGN(const ByteView v, r.vector16(1, max_csp, "CSP"));
        RPED_TRY_ASSIGN(const SecretBytes t, transform(v));
        const std::uint8_t len[2] = {static_cast<std::uint8_t>(t.size() >> 8), static_cast<std::uint8_t>(t.size())};
        out.append(len);
        out.append(t.reveal());
        break;
      }
      default: return make_error(Errc::internal, "unknown field kind");
    }
  }
  RPED_TRY(r.expect_end("PED operation body"));
  return out;
}

// The frame's body with `transform` applied to its CSPs (after the status of
// a response); bodies without CSPs, and error responses, come back unchanged.
Result<SecretBytes> rewrite_frame_body(const DeviceFrame& frame, std::size_t max_csp, const Transform& transform) {
  const ByteView body = frame.body;
  const auto layout = csp_layout(frame.kind, frame.op);
  if (!layout) {
    return SecretBytes::copy_of(body);
  }
  std::size_t prefix = 0;
  if (frame.kind == FrameKind::response) {
    RPED_TRY_ASSIGN(const auto parsed, parse_response(body));
    if (parsed.first.status != Status::ok) {
      return SecretBytes::copy_of(body);
    }
    prefix = 2;  // the ok status
  }
  RPED_TRY_ASSIGN(const SecretBytes rewritten, rewrite(body.subspan(prefix), *layout, max_csp, transform));
  SecretBytes out = SecretBytes::copy_of(body.first(prefix));
  out.append(rewritten.reveal());
  return out;
}

}  // namespace

Result<Bytes> to_channel_form(const DeviceFrame& frame, const CspWrap& wrap) {
  RPED_TRY_ASSIGN(const SecretBytes body, rewrite_frame_body(frame, kMaxSecretBytes, [&](ByteView csp) -> Result<SecretBytes> {
    RPED_TRY_ASSIGN(const Bytes wrapped, wrap(csp));
    return SecretBytes::copy_of(wrapped);
  }));
  // The body now holds only wrapped CSPs; the frame is ordinary bytes.
  return DeviceFrame{frame.kind, frame.op, frame.request_id, Bytes(body.reveal().begin(), body.reveal().end())}
      .serialize();
}

Result<DeviceFrame> from_channel_form(ByteView payload, const CspUnwrap& unwrap) {
  RPED_TRY_ASSIGN(DeviceFrame frame, DeviceFrame::parse(payload));
  RPED_TRY_ASSIGN(const SecretBytes body,
                  rewrite_frame_body(frame, kMaxWrappedBytes, [&](ByteView wrapped) { return unwrap(wrapped); }));
  frame.body.assign(body.reveal().begin(), body.reveal().end());
  return frame;
}

}  // namespace rped::ped
