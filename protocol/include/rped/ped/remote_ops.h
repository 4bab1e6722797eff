// PED operations carried over the secure channel (docs/protocol.md §10).
//
// The HSM side asks for PED operations with the same frames the host uses on
// USB (docs/ped-device.md), carried one per record. The only difference is the
// "channel form": every CSP field (a PED key secret, the RPV, the RPK private
// key) is replaced by AES-256-KWP(CWK of the sender, CSP) in the same place, so
// a CSP never sits in clear in a record buffer. pedserver converts between the
// two forms; the PED sees only the device form, the HSM side only the channel form.
//
// Thread-safety: pure functions.
#pragma once

#include <functional>

#include "rped/bytes.h"
#include "rped/ped/device_protocol.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::ped {

// The commands the HSM side may send through the channel. The rest
// (derive_session_keys, read_rpk_info, set_remote_session) belong to
// pedserver's own handling of the channel and are refused.
bool allowed_over_channel(Op op) noexcept;

using CspWrap = std::function<Result<Bytes>(ByteView csp)>;
using CspUnwrap = std::function<Result<SecretBytes>(ByteView wrapped)>;

// Device form -> channel form: the whole frame, CSP fields wrapped.
Result<Bytes> to_channel_form(const DeviceFrame& frame, const CspWrap& wrap);
// Channel form -> device form: parses the frame, unwraps CSP fields. The
// returned frame's body holds CSPs in clear: callers wipe it after use.
Result<DeviceFrame> from_channel_form(ByteView payload, const CspUnwrap& unwrap);

}  // namespace rped::ped
