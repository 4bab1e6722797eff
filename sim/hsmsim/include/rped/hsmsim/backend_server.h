// The HSM's end of the backend socket (docs/hsm-backend.md): serves one
// pedclient at a time, answers its requests (identity, key derivation) and
// notifications at once on its I/O thread, and carries the HSM's own requests
// (connect, disconnect, PED operations) to pedclient for the operator commands
// that wait on them.
//
// A second pedclient is refused (its connection is closed at once and the
// refusal logged): the HSM has one host-side PED client.
//
// Thread-safety: call() may be used from any thread (the operator commands);
// everything else happens on the server's own I/O thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>

#include "rped/hsmsim/hsm.h"
#include "rped/result.h"

namespace rped::hsmsim {

class BackendServer final : public PedclientLink {
 public:
  // Listens on `socket` and starts the I/O thread; registers itself with `hsm`.
  static Result<std::unique_ptr<BackendServer>> start(const std::filesystem::path& socket, Hsm& hsm,
                                                      Logger log);
  ~BackendServer() override;  // stop(), then releases the socket file

  BackendServer(const BackendServer&) = delete;
  BackendServer& operator=(const BackendServer&) = delete;

  // Closes the pedclient session (its pending calls fail as `lost`), stops
  // accepting and joins the I/O thread. Idempotent.
  void stop();

  bool attached() const override;
  LinkReply call(hsm::MessageType type, ByteView body, std::chrono::milliseconds timeout) override;

  struct Impl;

 private:
  explicit BackendServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rped::hsmsim
