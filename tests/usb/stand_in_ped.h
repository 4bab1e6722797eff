// A minimal PED firmware for the driver tests: answers identify and get_status
// at once, never answers read_secret (a custodian who never presents a key),
// refuses everything else with bad_request, and sends events on request. It
// exercises the driver, not the PED's flows; PedDevice (rped_pedsim_core) is
// the real firmware.
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include <mutex>
#include <string>

#include "mock_usb_ped.h"
#include "rped/ped/device_protocol.h"

namespace rped::usbtest {

class StandInPed final : public DeviceLogic {
 public:
  explicit StandInPed(std::string serial = "PED0000001") : serial_(std::move(serial)) {}

  void attach_host(FrameSink sink) override {
    const std::lock_guard lock(mutex_);
    sink_ = std::move(sink);
  }
  void detach_host() override {
    const std::lock_guard lock(mutex_);
    sink_ = nullptr;
  }
  void on_host_frame(ByteView bytes) override {
    auto parsed = ped::DeviceFrame::parse(bytes);
    if (!parsed.ok() || parsed->kind != ped::FrameKind::command) {
      return;
    }
    const ped::DeviceFrame& command = parsed.value();
    {
      const std::lock_guard lock(mutex_);
      ++commands_;
    }
    ped::DeviceFrame response{ped::FrameKind::response, command.op, command.request_id, {}};
    switch (command.op) {
      case ped::Op::identify: {
        ped::IdentifyResponse identity;
        identity.firmware_version = "stand-in";
        identity.serial = serial_;
        identity.model = "StandInPed";
        identity.mode = ped::Mode::remote;
        response.body = ped::ok_response(identity.serialize());
        break;
      }
      case ped::Op::get_status: {
        ped::StatusResponse status;
        status.mode = ped::Mode::remote;
        response.body = ped::ok_response(status.serialize());
        break;
      }
      case ped::Op::read_secret:
        return;  // waits for a key that never comes
      default:
        response.body =
            ped::error_response(ped::Status::bad_request, "the stand-in PED does not do that");
        break;
    }
    send(response.serialize());
  }

  void emit_event(ped::Op op, Bytes body) {
    send(ped::DeviceFrame{ped::FrameKind::event, op, 0, std::move(body)}.serialize());
  }

  int commands() const {
    const std::lock_guard lock(mutex_);
    return commands_;
  }

 private:
  void send(Bytes frame) {
    FrameSink sink;
    {
      const std::lock_guard lock(mutex_);
      sink = sink_;
    }
    if (sink) {
      sink(std::move(frame));
    }
  }

  const std::string serial_;
  mutable std::mutex mutex_;
  FrameSink sink_;
  int commands_ = 0;
};

}  // namespace rped::usbtest
