// What a PED flow runs on. A flow is straight-line firmware code: show a
// screen, wait for the custodian (a keypress, in order with key insertions and
// removals), read or write a key file, and so on. Every wait can end early:
// the host cancels, the PED is unplugged, the held key is pulled out, or the
// operation times out. A flow's failure is a ped::Status with a message for
// the host, never secret.
//
// FirmwarePort is the PED's hardware as the firmware sees it; PedDevice
// implements it. Flow is one running flow: the port, the operation timeout
// and the key the flow currently relies on.
//
// Thread-safety: a Flow and the FirmwarePort calls it makes belong to the
// device's firmware thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "rped/ped/device_protocol.h"
#include "rped/pedsim/device.h"
#include "rped/pedsim/key_store.h"
#include "rped/pedsim/screen.h"
#include "rped/result.h"

namespace rped::pedsim {

// Text lines before layout (see compose()).
using Lines = std::vector<std::string>;

struct FlowFailure {
  ped::Status status = ped::Status::internal;
  std::string message;  // for the host; never secret
};

template <typename T>
class [[nodiscard]] FlowResult final {
 public:
  FlowResult(T value)
      : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  FlowResult(FlowFailure failure) : state_(std::in_place_index<1>, std::move(failure)) {}  // NOLINT

  bool ok() const noexcept { return state_.index() == 0; }
  T& value() & { return *std::get_if<0>(&state_); }
  T&& value() && { return std::move(*std::get_if<0>(&state_)); }
  T* operator->() { return &value(); }
  const FlowFailure& failure() const& { return *std::get_if<1>(&state_); }
  FlowFailure&& failure() && { return std::move(*std::get_if<1>(&state_)); }

 private:
  std::variant<T, FlowFailure> state_;
};

template <>
class [[nodiscard]] FlowResult<void> final {
 public:
  FlowResult() = default;
  FlowResult(FlowFailure failure) : failure_(std::move(failure)), failed_(true) {}  // NOLINT

  bool ok() const noexcept { return !failed_; }
  const FlowFailure& failure() const& { return failure_; }
  FlowFailure&& failure() && { return std::move(failure_); }

 private:
  FlowFailure failure_;
  bool failed_ = false;
};

inline FlowFailure flow_failure(ped::Status status, std::string message) {
  return FlowFailure{status, std::move(message)};
}

// A crypto or file failure inside a flow: the PED reports an internal error.
template <typename T>
FlowResult<T> or_internal(Result<T> result) {
  if (!result.ok()) {
    return flow_failure(ped::Status::internal, result.error().message);
  }
  if constexpr (std::is_void_v<T>) {
    return {};
  } else {
    return std::move(result).value();
  }
}

}  // namespace rped::pedsim

#define RPED_FLOW_TRY(expr)                          \
  do {                                               \
    auto&& rped_flow_result_ = (expr);               \
    if (!rped_flow_result_.ok()) {                   \
      return std::move(rped_flow_result_).failure(); \
    }                                                \
  } while (false)

#define RPED_FLOW_TRY_ASSIGN(decl, expr) \
  RPED_FLOW_TRY_ASSIGN_IMPL(RPED_CONCAT(rped_flow_, __LINE__), decl, expr)
#define RPED_FLOW_TRY_ASSIGN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) {                                 \
    return std::move(tmp).failure();               \
  }                                                \
  decl = std::move(tmp).value()

namespace rped::pedsim {

// A key in the port: its file name and which insertion it is (every insertion
// gets a new number, so pulling a key out and putting it back is noticed).
struct KeySlot {
  std::string name;
  std::uint64_t insertion = 0;
};

class FirmwarePort {
 public:
  virtual ~FirmwarePort() = default;
  virtual void show(const Screen& screen) = 0;
  // The next keypress, taken in order with the key insertions and removals
  // before it. Fails with cancelled (host cancel, unplug, shutdown),
  // key_removed (`held` left the port) or timeout (`deadline` passed).
  virtual FlowResult<Keypad> next_keypress(std::chrono::steady_clock::time_point deadline,
                                           const std::optional<KeySlot>& held) = 0;
  // The key in the port as of the custodian events consumed so far.
  virtual std::optional<KeySlot> inserted_key() const = 0;
  // Whether `slot` is physically still in the port right now (checked before a write).
  virtual bool still_inserted(const KeySlot& slot) const = 0;
  virtual const KeyDirectory& key_directory() const = 0;
  virtual std::string remote_peer() const = 0;  // "HSM 1234567", or empty
};

// The operation timeout bounds the whole flow, not each prompt: the host
// waits for the response timeout_ms plus its own margin (docs/ped-device.md §3).
class Flow final {
 public:
  Flow(FirmwarePort& port, std::chrono::milliseconds timeout)
      : port_(port), deadline_(std::chrono::steady_clock::now() + timeout), timeout_(timeout) {}

  void show(const Lines& lines) { port_.show(compose(lines)); }
  FlowResult<Keypad> next_keypress() {
    auto key = port_.next_keypress(deadline_, held_);
    if (!key.ok() && key.failure().status == ped::Status::timeout) {
      return flow_failure(ped::Status::timeout, "no answer at the PED within " +
                                                    std::to_string(timeout_.count()) + " ms");
    }
    return key;
  }
  std::optional<KeySlot> inserted_key() const { return port_.inserted_key(); }
  const KeyDirectory& keys() const { return port_.key_directory(); }
  std::string remote_peer() const { return port_.remote_peer(); }

  // While a key is held, pulling it out ends the flow with key_removed.
  void hold(KeySlot slot) { held_ = std::move(slot); }
  void release() { held_.reset(); }
  // The held key is still in the port (physically, now).
  bool holding() const { return held_.has_value() && port_.still_inserted(*held_); }

 private:
  FirmwarePort& port_;
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::milliseconds timeout_;
  std::optional<KeySlot> held_;
};

// Holds a key for a scope.
class HeldKey final {
 public:
  HeldKey(Flow& flow, KeySlot slot) : flow_(flow) { flow_.hold(std::move(slot)); }
  ~HeldKey() { flow_.release(); }
  HeldKey(const HeldKey&) = delete;
  HeldKey& operator=(const HeldKey&) = delete;

 private:
  Flow& flow_;
};

}  // namespace rped::pedsim
