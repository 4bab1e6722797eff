// PedLink: the host side of the PED device protocol over any PedTransport.
//
// call() and call_async() send one command frame with a fresh request id and
// match the PED's response to it by that id; events (mode_changed,
// remote_mode_exited, display) go to the event handler. The response body
// (status || payload) is returned as SecretBytes because read_secret,
// create_keyset and derive_session_keys responses carry secrets; the caller
// parses it with the codec: ped::parse_response(body.reveal()), then e.g.
// ped::ReadSecretResponse::parse(payload).
//
// Threads: a reader (transport->receive in a loop), a writer (sends queued
// command frames, so call_async never blocks on USB), and a dispatcher that
// runs every callback -- completions, events, the disconnect callback -- one at
// a time, in the order the frames arrived, never on the caller's thread and
// never while the link holds its lock. This is what lets pedserver call
// call_async() from its Asio event loop and post the completion back into its
// io_context. With PedLinkOptions::deliver_on_reader the reader runs the
// completions and events of the frames it reads itself (still one callback at a
// time, in arrival order, never under the lock): one thread hand-off less per
// command, for callbacks that only hand the result on (an Asio post).
//
// Failures: a call not answered by its deadline completes with
// LinkFailure::timeout (the PED may still be running the flow; send Op::cancel
// to stop it; a late response is dropped). When the transport fails (PED
// unplugged, I/O error, malformed frame) every pending call completes with that
// error (LinkFailure::unplugged for a vanished PED), the disconnect callback
// runs once, and later calls fail at once with the same error. close() fails
// pending calls with LinkFailure::closed and does not run the disconnect
// callback.
//
// Thread-safety: every member may be called from any thread, including from
// inside a callback, except the destructor: never destroy a PedLink from its
// own callbacks (it joins the dispatcher and the reader).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "rped/bytes.h"
#include "rped/ped/device_protocol.h"
#include "rped/result.h"
#include "rped/secret.h"
#include "rped/usb/transport.h"

namespace rped::usb {

inline constexpr std::chrono::hours kMaxCallTimeout{24};

struct PedLinkOptions final {
  // One transport->receive() wait; a timeout only re-arms the read (USB reads time out after 10 s).
  std::chrono::milliseconds read_timeout{kDefaultReadTimeout};
  // Calls in flight at once; more fail with LinkFailure::busy (a bounded queue).
  std::size_t max_in_flight = 64;
  // The reader thread runs the completion of each response and the event
  // handler of each event it reads, instead of handing them to the dispatcher
  // (which still runs timeouts, refusals and the disconnect callback). Callbacks
  // stay serialized and in arrival order, but must return quickly and never
  // block: the PED is not read while one runs. For callbacks that only post the
  // result to an event loop (pedserver).
  bool deliver_on_reader = false;
};

class PedLink final {
 public:
  // The response body: ResponseHeader status || payload (ped::parse_response).
  using Completion = std::function<void(Result<SecretBytes> response_body)>;
  using EventHandler = std::function<void(ped::Op event, Bytes body)>;
  using DisconnectHandler = std::function<void(const Error& reason)>;
  struct Handlers final {
    EventHandler on_event;            // may be empty
    DisconnectHandler on_disconnect;  // may be empty
  };

  static Result<std::unique_ptr<PedLink>> start(std::unique_ptr<PedTransport> transport,
                                                Handlers handlers, PedLinkOptions options = {});
  // Closes the link (pending calls complete with closed), runs the callbacks
  // still queued, and joins its threads.
  ~PedLink();
  PedLink(const PedLink&) = delete;
  PedLink& operator=(const PedLink&) = delete;

  // Blocks the calling thread until the response, the deadline, or the link's
  // failure. op must be a command (ped::is_command); timeout covers sending
  // the frame and the PED's whole flow (a login waits for the custodian).
  [[nodiscard]] Result<SecretBytes> call(ped::Op op, ByteView body,
                                         std::chrono::milliseconds timeout);

  // As call(), but returns at once; completion runs exactly once on the
  // dispatcher thread (also when the call is refused or the link is down), or
  // on the reader thread for a response with deliver_on_reader.
  void call_async(ped::Op op, ByteView body, std::chrono::milliseconds timeout,
                  Completion completion);

  // Idempotent. Closes the transport; pending and later calls fail with closed.
  void close();

  bool connected() const;
  std::string description() const;

  struct Impl;

 private:
  explicit PedLink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rped::usb
