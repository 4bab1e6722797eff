// pedsim's "USB cable": a Unix-domain stream socket where pedserver connects
// as the PED's host. One host at a time (a second connection is closed at
// once); frames are delimited with ped::device_frame_size. The host's
// disconnection is an unplug of the PED (PedDevice::detach_host).
//
// unplug() drops the current host and refuses new ones until replug(), as if
// the cable were pulled; the host sees its connection close and reconnects
// after the replug.
//
// Thread-safety: one I/O thread owns the sockets; unplug()/replug() may be
// called from any thread and return once the I/O thread has done them.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "rped/pedsim/device.h"
#include "rped/result.h"

namespace rped::pedsim {

class SocketHostLink final {
 public:
  using Logger = std::function<void(const std::string& line)>;

  // Binds and listens at `path` (a stale socket file there is replaced).
  static Result<std::unique_ptr<SocketHostLink>> listen(const std::filesystem::path& path,
                                                        PedDevice& device, Logger log);
  ~SocketHostLink();  // disconnects, closes and removes the socket file
  SocketHostLink(const SocketHostLink&) = delete;
  SocketHostLink& operator=(const SocketHostLink&) = delete;

  void unplug();
  void replug();

 private:
  enum class Request : std::uint8_t { unplug, replug, stop };
  SocketHostLink(std::filesystem::path path, int listen_fd, int wake_read, int wake_write,
                 PedDevice& device, Logger log);
  void run();
  void serve();
  void request(Request what);
  void accept_host();
  void read_from_host();
  void disconnect(const std::string& why);

  const std::filesystem::path path_;
  const int listen_fd_;
  const int wake_read_;
  const int wake_write_;
  PedDevice& device_;
  const Logger log_;

  // I/O thread only.
  int host_fd_ = -1;
  bool plugged_ = true;
  std::vector<std::uint8_t> received_;

  std::mutex mu_;
  std::condition_variable done_cv_;
  std::deque<Request> requests_;
  std::uint64_t requested_ = 0;
  std::uint64_t completed_ = 0;
  bool io_running_ = true;

  std::mutex write_mu_;  // the device's link thread writes; the I/O thread closes
  std::thread io_thread_;
};

}  // namespace rped::pedsim
