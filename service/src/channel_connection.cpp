#include "rped/service/channel_connection.h"

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <deque>
#include <exception>
#include <variant>

#include "frame_tracker.h"

namespace rped::service {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using channel::AlertCode;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunkBytes = 16 * 1024;

TcpSocket& lowest_layer(TcpSocket& socket) {
  return socket;
}
TcpSocket& lowest_layer(TlsStream& stream) {
  return stream.next_layer();
}

// The states in which the endpoint waits for the peer's next handshake message.
bool awaits_peer_handshake(channel::State state) {
  return state == channel::State::ped_await_hello || state == channel::State::ped_await_confirm ||
         state == channel::State::hsm_await_key_share;
}

template <class Stream>
class Connection final : public ChannelConnection,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(Stream stream, channel::Endpoint endpoint, ChannelLabel label,
             ChannelTimeouts timeouts, std::shared_ptr<spdlog::logger> log,
             std::shared_ptr<ChannelDelegate> delegate)
      : ChannelConnection(std::move(label)),
        stream_(std::move(stream)),
        strand_(stream_.get_executor()),
        endpoint_(std::move(endpoint)),
        timeouts_(timeouts),
        log_(std::move(log)),
        delegate_(std::move(delegate)),
        writer_wake_(strand_),
        drained_(strand_),
        watchdog_timer_(strand_) {}

  Strand strand() const override { return strand_; }

  void start() override {
    auto self = this->shared_from_this();
    asio::post(strand_, [self] { self->begin(); });
  }

  void complete_key_request(Result<SecretBytes> dkm) override {
    if (!closing_) {
      handle(endpoint_.complete_key_request(std::move(dkm)));
    }
  }
  void complete_rpk_request(Result<channel::RpkInfo> rpk) override {
    if (!closing_) {
      handle(endpoint_.complete_rpk_request(std::move(rpk)));
    }
  }
  void complete_identity(Result<void> confirmed) override {
    if (!closing_) {
      handle(endpoint_.complete_identity(std::move(confirmed)));
    }
  }
  Result<void> send(ByteView payload) override {
    if (closing_) {
      return make_error(Errc::closed, "the connection is closing");
    }
    RPED_TRY_ASSIGN(channel::Output out, endpoint_.send(payload));
    last_activity_ = Clock::now();
    handle(std::move(out));
    return {};
  }
  void operation_started() override {
    ++operations_in_flight_;
    poke();
  }
  void operation_finished() override {
    if (operations_in_flight_ > 0) {
      --operations_in_flight_;
    }
    last_activity_ = Clock::now();  // the idle clock restarts when the operation is answered
    poke();
  }
  const channel::Endpoint& endpoint() const override { return endpoint_; }
  bool closing() const override { return closing_; }
  Clock::time_point connected_at() const override { return connected_at_; }
  Clock::time_point last_activity() const override { return last_activity_; }
  void close(AlertCode code, std::string reason) override {
    if (!closing_) {
      close_with(code, reason);
    }
  }

  void shutdown(AlertCode code, std::string reason) override {
    auto self = this->shared_from_this();
    asio::post(strand_, [self, code, reason = std::move(reason)] {
      if (!self->closing_) {
        self->close_with(code, reason);
      }
    });
  }

  void force_close(std::string reason) override {
    auto self = this->shared_from_this();
    asio::post(strand_, [self, reason = std::move(reason)] { self->transport_lost(reason); });
  }

 private:
  enum class Deadline : std::uint8_t {
    handshake,
    frame_stalled,
    write_stalled,
    idle,
    ping_due,
    pong_missing
  };
  struct Due {
    Clock::time_point at;
    Deadline what;
  };

  // --- start and the three loops ------------------------------------------

  void begin() {
    connected_at_ = last_activity_ = last_progress_ = last_ping_ = Clock::now();
    phase_deadline_ = connected_at_ + timeouts_.handshake;
    previous_state_ = endpoint_.state();
    spawn(read_loop());
    spawn(write_loop());
    spawn(watchdog());
    if (endpoint_.side() == channel::Side::hsm) {
      handle(endpoint_.start());
    }
  }

  template <typename Awaitable>
  void spawn(Awaitable coroutine) {
    auto self = this->shared_from_this();
    asio::co_spawn(strand_, std::move(coroutine), [self](std::exception_ptr failure) {
      if (!failure) {
        return;
      }
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        self->log_->error("connection {}: internal error: {}", self->label().id, e.what());
      }
      self->transport_lost("internal error");
    });
  }

  awaitable<void> read_loop() {
    auto self = this->shared_from_this();
    std::array<std::uint8_t, kReadChunkBytes> buffer{};
    while (!closing_) {
      boost::system::error_code error;
      // Backpressure: a peer that sends but does not read (pings, say) is not
      // read from until the writer has caught up.
      while (queued_bytes_ >= kWriteQueueHighWater && !closing_) {
        drained_.expires_at(Clock::time_point::max());
        co_await drained_.async_wait(asio::redirect_error(use_awaitable, error));
      }
      if (closing_) {
        break;
      }
      const std::size_t n = co_await stream_.async_read_some(
          asio::buffer(buffer), asio::redirect_error(use_awaitable, error));
      if (error || n == 0) {
        if (!closing_) {
          transport_lost(error == asio::error::eof ? label().peer_name + " closed the connection"
                                                   : "connection failed: " + error.message());
        }
        break;
      }
      const ByteView bytes(buffer.data(), n);
      last_progress_ = Clock::now();
      tracker_.feed(bytes);
      handle(endpoint_.receive(bytes));
      secure_wipe(buffer.data(), n);
    }
    reader_done_ = true;
    poke();
  }

  awaitable<void> write_loop() {
    auto self = this->shared_from_this();
    for (;;) {
      boost::system::error_code error;
      if (!queue_.empty() && !transport_closed_) {
        Bytes chunk;
        while (!queue_.empty()) {
          chunk.insert(chunk.end(), queue_.front().begin(), queue_.front().end());
          queue_.pop_front();
        }
        write_started_ = Clock::now();
        poke();
        co_await asio::async_write(stream_, asio::buffer(chunk),
                                   asio::redirect_error(use_awaitable, error));
        write_started_.reset();
        queued_bytes_ = queued_bytes_ > chunk.size() ? queued_bytes_ - chunk.size() : 0;
        drained_.cancel();
        if (error) {
          if (!closing_) {
            transport_lost("cannot send to " + label().peer_name + ": " + error.message());
          }
          break;
        }
        continue;
      }
      if (closing_ || transport_closed_) {
        break;
      }
      writer_wake_.expires_at(Clock::time_point::max());
      co_await writer_wake_.async_wait(asio::redirect_error(use_awaitable, error));
    }
    close_transport();
    writer_done_ = true;
    poke();
  }

  awaitable<void> watchdog() {
    auto self = this->shared_from_this();
    while (!(reader_done_ && writer_done_)) {
      const std::optional<Due> due = next_due();
      watchdog_timer_.expires_at(due ? due->at : Clock::time_point::max());
      boost::system::error_code error;
      co_await watchdog_timer_.async_wait(asio::redirect_error(use_awaitable, error));
      if (reader_done_ && writer_done_) {
        break;
      }
      // Re-evaluate: the state may have moved on while the timer ran.
      const std::optional<Due> now_due = next_due();
      if (now_due && Clock::now() >= now_due->at) {
        expire(now_due->what);
      }
    }
    finish();
  }

  void poke() { watchdog_timer_.cancel(); }

  std::optional<Due> next_due() const {
    std::optional<Due> best;
    const auto consider = [&best](Clock::time_point at, Deadline what) {
      if (!best || at < best->at) {
        best = Due{at, what};
      }
    };
    if (write_started_) {
      consider(*write_started_ + timeouts_.socket_write, Deadline::write_stalled);
    }
    if (closing_ || transport_closed_) {
      return best;
    }
    const channel::State state = endpoint_.state();
    if (awaits_peer_handshake(state)) {
      consider(phase_deadline_, Deadline::handshake);
    }
    if (tracker_.mid_frame()) {
      consider(last_progress_ + timeouts_.socket_read, Deadline::frame_stalled);
    }
    if (state == channel::State::established) {
      if (operations_in_flight_ == 0 && timeouts_.idle_enabled) {
        consider(last_activity_ + timeouts_.idle, Deadline::idle);
      }
      if (ping_outstanding_) {
        consider(ping_sent_ + timeouts_.ping_timeout, Deadline::pong_missing);
      } else {
        consider(last_ping_ + timeouts_.ping_interval, Deadline::ping_due);
      }
    }
    return best;
  }

  void expire(Deadline what) {
    switch (what) {
      case Deadline::handshake:
        close_with(AlertCode::timeout, label().peer_name + " did not send its " +
                                           std::string(handshake_message_awaited()) + " within " +
                                           seconds_text(timeouts_.handshake) + " (" +
                                           (delegate_ ? delegate_->handshake_deadline_name()
                                                      : std::string("handshake deadline")) +
                                           ")");
        return;
      case Deadline::frame_stalled:
        close_with(AlertCode::timeout, "a frame from " + label().peer_name + " stalled for " +
                                           seconds_text(timeouts_.socket_read) +
                                           " (-socketreadtimeout)");
        return;
      case Deadline::write_stalled:
        transport_lost("a write to " + label().peer_name + " made no progress for " +
                       seconds_text(timeouts_.socket_write) + " (-socketwritetimeout)");
        return;
      case Deadline::idle:
        close_with(AlertCode::timeout,
                   "no PED operation for " + seconds_text(timeouts_.idle) + " (-idletimeout)");
        return;
      case Deadline::ping_due:
        send_ping();
        return;
      case Deadline::pong_missing:
        close_with(AlertCode::timeout, "no answer to a ping within " +
                                           seconds_text(timeouts_.ping_timeout) +
                                           " (-pingtimeout)");
        return;
      default:
        close_with(AlertCode::internal_error, "unknown deadline");
        return;
    }
  }

  std::string_view handshake_message_awaited() const {
    switch (endpoint_.state()) {
      case channel::State::ped_await_hello:
        return "HsmHello";
      case channel::State::ped_await_confirm:
        return "HsmConfirm";
      case channel::State::hsm_await_key_share:
        return "PedKeyShare";
      default:
        return "handshake message";
    }
  }

  void send_ping() {
    ++ping_counter_;
    Bytes payload;
    append_u64_be(payload, ping_counter_);
    auto out = endpoint_.ping(payload);
    if (!out.ok()) {
      close_with(AlertCode::internal_error, "cannot send a ping: " + out.error().message);
      return;
    }
    ping_outstanding_ = true;
    ping_sent_ = Clock::now();
    expected_pong_ = std::move(payload);
    log_->trace("connection {}: ping {}", label().id, ping_counter_);
    handle(std::move(out).value());
  }

  // --- endpoint output and events -------------------------------------------

  void enqueue(Bytes bytes) {
    if (bytes.empty() || transport_closed_) {
      return;
    }
    queued_bytes_ += bytes.size();
    queue_.push_back(std::move(bytes));
    writer_wake_.cancel();
  }

  void handle(channel::Output out) {
    enqueue(std::move(out.send));
    for (channel::Event& event : out.events) {
      std::visit([this](auto& e) { on_event(e); }, event);
    }
    const channel::State state = endpoint_.state();
    if (state != previous_state_) {
      if (awaits_peer_handshake(state)) {
        phase_deadline_ = Clock::now() + timeouts_.handshake;  // a new network phase
      }
      previous_state_ = state;
    }
    poke();
  }

  void on_event(channel::KeyRequestEvent& event) {
    if (delegate_) {
      delegate_->on_key_request(*this, std::move(event));
    }
  }
  void on_event(channel::RpkRequestEvent& event) {
    if (delegate_) {
      delegate_->on_rpk_request(*this, event.hsm_serial);
    }
  }
  void on_event(channel::DataEvent& event) {
    last_activity_ = Clock::now();
    if (delegate_) {
      delegate_->on_data(*this, std::move(event.payload));
    }
  }
  void on_event(channel::IdentityEvent& event) {
    if (delegate_) {
      delegate_->on_identity(*this, std::move(event));
    }
  }
  void on_event(channel::PongEvent& event) {
    if (ping_outstanding_ && event.payload == expected_pong_) {
      ping_outstanding_ = false;
      last_ping_ = Clock::now();
      log_->trace("connection {}: pong {}", label().id, ping_counter_);
    }
  }
  void on_event(channel::EstablishedEvent& event) {
    last_activity_ = last_ping_ = Clock::now();
    if (delegate_) {
      delegate_->on_established(*this, event);
    }
  }
  void on_event(channel::ClosedEvent& event) {
    begin_closing(ChannelEnd{event.detail, event.code, event.by_peer, false, {}, true});
  }

  void begin_closing(ChannelEnd end) {
    if (closing_) {
      return;
    }
    closing_ = true;
    end_ = std::move(end);
    writer_wake_.cancel();
    drained_.cancel();
    if (delegate_) {
      delegate_->on_closing(*this, end_);
    }
  }

  void close_with(AlertCode code, const std::string& detail) {
    if (closing_) {
      return;
    }
    handle(endpoint_.close(code, detail));
  }

  // The connection is gone (or must go now): nothing more can be sent.
  void transport_lost(const std::string& why) {
    if (!closing_) {
      // Wipes the keys; what it would send has nowhere to go.
      (void)endpoint_.close(AlertCode::internal_error, why);
      begin_closing(ChannelEnd{why, AlertCode::internal_error, false, true, {}, true});
    }
    queue_.clear();
    queued_bytes_ = 0;
    close_transport();
  }

  void close_transport() {
    if (transport_closed_) {
      return;
    }
    transport_closed_ = true;
    boost::system::error_code ignored;
    lowest_layer(stream_).shutdown(asio::socket_base::shutdown_both, ignored);
    lowest_layer(stream_).close(ignored);
    writer_wake_.cancel();
    drained_.cancel();
    poke();
  }

  void finish() {
    if (finished_) {
      return;
    }
    finished_ = true;
    end_.duration = Clock::now() - connected_at_;
    end_.keys_wiped = !endpoint_.holds_key_material();
    if (!closing_) {
      end_.reason = "closed";
    }
    if (auto delegate = std::exchange(delegate_, nullptr)) {
      delegate->on_finished(*this, end_);
    }
  }

  Stream stream_;
  Strand strand_;
  channel::Endpoint endpoint_;
  const ChannelTimeouts timeouts_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<ChannelDelegate> delegate_;  // released after on_finished

  asio::steady_timer writer_wake_;     // an event: cancelled when there is something to write
  asio::steady_timer drained_;         // an event: cancelled when the write queue shrank
  asio::steady_timer watchdog_timer_;  // sleeps until the nearest deadline; cancelled to recompute
  std::deque<Bytes> queue_;
  std::size_t queued_bytes_ = 0;
  FrameTracker tracker_;

  Clock::time_point connected_at_{};
  Clock::time_point last_progress_{};  // bytes last arrived
  Clock::time_point last_activity_{};  // an operation last came or went
  Clock::time_point phase_deadline_{};
  std::optional<Clock::time_point> write_started_;
  channel::State previous_state_ = channel::State::closed;

  bool ping_outstanding_ = false;
  Clock::time_point ping_sent_{};
  Clock::time_point last_ping_{};
  std::uint64_t ping_counter_ = 0;
  Bytes expected_pong_;

  unsigned operations_in_flight_ = 0;
  bool closing_ = false;
  bool transport_closed_ = false;
  bool reader_done_ = false;
  bool writer_done_ = false;
  bool finished_ = false;
  ChannelEnd end_;
};

}  // namespace

void ChannelDelegate::on_rpk_request(ChannelConnection& connection, std::uint64_t) {
  connection.complete_rpk_request(
      make_error(Errc::invalid_argument, "this side does not read RPKs"));
}

void ChannelDelegate::on_identity(ChannelConnection& connection, channel::IdentityEvent) {
  connection.complete_identity(make_error(Errc::invalid_argument, "this side cannot ask a custodian to confirm an HSM"));
}

std::shared_ptr<ChannelConnection> make_channel_connection(
    TcpSocket socket, channel::Endpoint endpoint, ChannelLabel label, ChannelTimeouts timeouts,
    std::shared_ptr<spdlog::logger> log, std::shared_ptr<ChannelDelegate> delegate) {
  return std::make_shared<Connection<TcpSocket>>(std::move(socket), std::move(endpoint),
                                                 std::move(label), timeouts, std::move(log),
                                                 std::move(delegate));
}

std::shared_ptr<ChannelConnection> make_channel_connection(
    TlsStream stream, channel::Endpoint endpoint, ChannelLabel label, ChannelTimeouts timeouts,
    std::shared_ptr<spdlog::logger> log, std::shared_ptr<ChannelDelegate> delegate) {
  return std::make_shared<Connection<TlsStream>>(std::move(stream), std::move(endpoint),
                                                 std::move(label), timeouts, std::move(log),
                                                 std::move(delegate));
}

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint) {
  const boost::asio::ip::address address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; show them as IPv4.
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6())
               .to_string() +
           ":" + std::to_string(endpoint.port());
  }
  if (address.is_v6()) {
    return "[" + address.to_string() + "]:" + std::to_string(endpoint.port());
  }
  return address.to_string() + ":" + std::to_string(endpoint.port());
}

std::string seconds_text(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) {
    return std::to_string(duration.count() / 1000) + " s";
  }
  return std::to_string(duration.count()) + " ms";
}

}  // namespace rped::service
