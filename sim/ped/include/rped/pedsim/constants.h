// Every number the PED emulator's firmware and its key files use, in one place.
// The protocol's own limits (quorum, LCD size, timeouts on the wire) live in
// rped/ped/device_protocol.h; the channel's in rped/channel/limits.h.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rped/channel/limits.h"
#include "rped/ped/device_protocol.h"

namespace rped::pedsim {

// PED PINs: optional; when set, 4 to 48 digits, the first not 0, typed twice.
inline constexpr std::size_t kMinPinDigits = 4;
inline constexpr std::size_t kMaxPinDigits = 48;

// The one-time password of C(1e,1s) is typed on the keypad.
inline constexpr std::size_t kPasswordDigits = channel::kPasswordDigits;

// The key that wraps a split on a PED key file: PBKDF2-HMAC-SHA512 over the PIN
// (SP 800-132), then AES-256-KWP. Few iterations on purpose: this is an
// emulator and tests read many keys; each file records its own count, so the
// constant may change without invalidating older key files.
inline constexpr std::uint32_t kPinKdfIterations = 2000;
inline constexpr std::uint32_t kMinPinKdfIterations = 1000;  // SP 800-132 §5.2 lower bound
inline constexpr std::uint32_t kMaxPinKdfIterations =
    10'000'000;                                   // a file asking for more is refused
inline constexpr std::size_t kPinSaltBytes = 16;  // SP 800-132 §5.1: at least 128 bits
inline constexpr std::string_view kPinKdfDigest = "SHA512";

// Key files: one JSON document per PED key, <name>.json in the key directory.
inline constexpr std::string_view kKeyFileFormat = "rped-pedsim-key/1";
inline constexpr std::string_view kKeyFileSuffix = ".json";
inline constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;
inline constexpr std::size_t kMaxKeyNameChars = 64;
inline constexpr std::size_t kKeySerialBytes = 6;  // printed as 12 hex digits
inline constexpr std::size_t kMaxLabelChars = 64;

// Key creation, stage 4: at most this many duplicate sets of one keyset.
inline constexpr std::uint8_t kMaxDuplicateSets = 16;

// Lines of the host's context text shown above a prompt.
inline constexpr std::size_t kMaxContextLines = 2;

// Local (keypad-started) flows and the Remote PED exit confirmation wait this
// long for the custodian, like a host operation with the default timeout.
inline constexpr std::chrono::milliseconds kLocalFlowTimeout{ped::kDefaultKeyOperationTimeoutMs};

// Frames waiting for the host link. A host that stops reading loses display
// events beyond this (responses and other events are always kept).
inline constexpr std::size_t kMaxQueuedFrames = 256;

// Screens kept for PedDevice::wait_for_screen (a 48-digit PIN alone is 50 screens).
inline constexpr std::size_t kDisplayHistory = 256;

// The '>' log screen keeps this many recent entries.
inline constexpr std::size_t kLogEntries = 6;

// Custodian scripts: `expect TEXT` waits this long unless the step says otherwise.
inline constexpr std::chrono::milliseconds kDefaultExpectTimeout{10'000};

}  // namespace rped::pedsim
