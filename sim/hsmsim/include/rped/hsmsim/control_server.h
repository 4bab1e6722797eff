// The emulator's end of the operator control socket (control_protocol.h):
// one thread per operator connection runs its one command (run_command, so
// commands are serialized), streams the output and the result back, and asks
// the operator when a command needs confirmation.
//
// Thread-safety: start() and stop() from one thread (main).
#pragma once

#include <filesystem>
#include <memory>

#include "rped/hsmsim/hsm.h"
#include "rped/result.h"

namespace rped::hsmsim {

class ControlServer final {
 public:
  static Result<std::unique_ptr<ControlServer>> start(const std::filesystem::path& socket, Hsm& hsm,
                                                      Logger log);
  ~ControlServer();  // stop(), then removes the socket file
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Stops accepting, closes every operator connection and joins their
  // threads (a command waiting for pedclient returns once the backend is stopped).
  void stop();

  struct Impl;

 private:
  explicit ControlServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The client side, for `hsmsim cmd` and `hsmsim shell`: runs one command on
// the emulator behind `socket`, printing its output to `out` and asking
// prompts on `in`. Returns the command's result code.
Result<ResultCode> run_remote_command(const std::filesystem::path& socket,
                                      const std::vector<std::string>& words, std::FILE* in,
                                      std::FILE* out);

}  // namespace rped::hsmsim
