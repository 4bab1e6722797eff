#include "ped_connection.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "rped/usb/device_id.h"
#include "rped/usb/libusb_transport.h"
#include "rped/usb/link_error.h"
#include "rped/usb/ped_monitor.h"
#include "rped/usb/unix_socket_transport.h"
#include "rped/usb/usb_context.h"

namespace rped::pedserver {
namespace {

constexpr std::chrono::milliseconds kCheckEvery{20};

usb::PedUsbId usb_id_of(const config::PedDevice& device) {
  usb::PedUsbId id;
  if (device.vendor_id && device.product_id) {
    id.vendor_id = *device.vendor_id;
    id.product_id = *device.product_id;
  }
  id.serial = device.serial_number;
  return id;
}

}  // namespace

PedConnection::PedConnection(boost::asio::io_context& io, config::PedDevice device,
                             std::chrono::microseconds write_delay,
                             std::shared_ptr<spdlog::logger> log)
    : io_(io),
      device_(std::move(device)),
      write_delay_(write_delay),
      log_(std::move(log)),
      retry_timer_(io),
      drain_timer_(io) {}

PedConnection::~PedConnection() {
  stop();
}

std::string PedConnection::device_description() const {
  if (device_.transport == config::PedDevice::Transport::simulator) {
    return "PED emulator at " + device_.socket_path;
  }
  return "USB PED " + usb_id_of(device_).to_string();
}

void PedConnection::start(std::function<void()> first_probe_done) {
  first_probe_done_ = std::move(first_probe_done);
  if (device_.transport == config::PedDevice::Transport::usb) {
    auto context = usb::UsbContext::create();
    if (context.ok()) {
      usb_context_ = std::move(context).value();
      usb::PedMonitorOptions options;
      options.device = usb_id_of(device_);
      options.context = usb_context_;
      // Arrivals come on the monitor's thread: hand them to the io_context.
      auto monitor = usb::PedMonitor::start(
          std::move(options),
          [this](const usb::PedPresence& ped) {
            log_->info("USB PED attached: {}", ped.description());
            boost::asio::post(io_, [this] { attempt_open(); });
          },
          [this](const usb::PedPresence& ped) {
            log_->info("USB PED detached: {}", ped.description());
          });
      if (monitor.ok()) {
        monitor_ = std::move(monitor).value();
      } else {
        log_->warn("USB hot-plug monitor unavailable ({}); looking for the PED every {} ms instead",
                   monitor.error().message, kPedRetryInterval.count());
      }
    } else {
      log_->warn("libusb context unavailable: {}", context.error().message);
    }
  }
  attempt_open();
}

void PedConnection::stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  listener_ = nullptr;
  retry_timer_.cancel();
  if (monitor_) {
    monitor_->stop();
  }
  ++generation_;
  link_.reset();  // closes the transport and joins the link's threads
  blocking_.join();
  monitor_.reset();
  usb_context_.reset();
}

void PedConnection::attempt_open() {
  if (stopped_ || opening_ || link_) {
    return;
  }
  opening_ = true;
  boost::asio::post(blocking_, [this] {
    Result<std::unique_ptr<usb::PedTransport>> transport = make_error(Errc::internal, "not opened");
    if (device_.transport == config::PedDevice::Transport::simulator) {
      auto opened = usb::UnixSocketTransport::connect(device_.socket_path);
      transport = opened.ok()
                      ? Result<std::unique_ptr<usb::PedTransport>>(std::move(opened).value())
                      : Result<std::unique_ptr<usb::PedTransport>>(std::move(opened).error());
    } else {
      usb::LibusbTransportOptions options;
      options.device = usb_id_of(device_);
      options.write_delay = write_delay_;
      options.context = usb_context_;
      auto opened = usb::LibusbTransport::open(std::move(options));
      transport = opened.ok()
                      ? Result<std::unique_ptr<usb::PedTransport>>(std::move(opened).value())
                      : Result<std::unique_ptr<usb::PedTransport>>(std::move(opened).error());
    }
    boost::asio::post(io_, [this, transport = std::move(transport)]() mutable {
      on_opened(std::move(transport));
    });
  });
}

void PedConnection::on_opened(Result<std::unique_ptr<usb::PedTransport>> transport) {
  opening_ = false;
  if (stopped_) {
    return;
  }
  if (!transport.ok()) {
    report_failure(device_description() + ": " + transport.error().message);
    first_probe_finished();
    schedule_retry();
    return;
  }
  const std::uint64_t generation = ++generation_;
  usb::PedLink::Handlers handlers;
  handlers.on_event = [this, generation](ped::Op op, Bytes body) {
    boost::asio::post(io_, [this, generation, op, body = std::move(body)] {
      on_link_event(generation, op, body);
    });
  };
  handlers.on_disconnect = [this, generation](const Error& reason) {
    boost::asio::post(
        io_, [this, generation, message = reason.message] { on_link_down(generation, message); });
  };
  // Every callback of this link only posts into the io_context: the reader may
  // run them itself, saving a hand-off to the dispatcher on each PED answer.
  usb::PedLinkOptions options;
  options.deliver_on_reader = true;
  auto link = usb::PedLink::start(std::move(transport).value(), std::move(handlers), options);
  if (!link.ok()) {
    report_failure(device_description() + ": " + link.error().message);
    first_probe_finished();
    schedule_retry();
    return;
  }
  link_ = std::move(link).value();
  link_->call_async(
      ped::Op::identify, {}, kPedIdentifyTimeout, [this, generation](PedCallResult response) {
        boost::asio::post(io_, [this, generation, response = std::move(response)]() mutable {
          on_identified(generation, std::move(response));
        });
      });
}

void PedConnection::on_identified(std::uint64_t generation, PedCallResult response) {
  if (generation != generation_ || !link_) {
    return;
  }
  auto payload = ok_payload(ped::Op::identify, response);
  Result<ped::IdentifyResponse> identity = payload.ok()
                                               ? ped::IdentifyResponse::parse(payload->reveal())
                                               : Result<ped::IdentifyResponse>(payload.error());
  if (!identity.ok()) {
    report_failure(device_description() + " did not identify itself: " + identity.error().message);
    drop_link();
    first_probe_finished();
    schedule_retry();
    return;
  }
  identity_ = std::move(identity).value();
  last_error_.clear();
  last_reported_.clear();
  log_->info("PED connected: {} (serial {}, model {}, firmware {}, device protocol {}, {} mode)",
             link_->description(), identity_->serial, identity_->model, identity_->firmware_version,
             identity_->protocol_version, ped::mode_name(identity_->mode));
  if (identity_->mode != ped::Mode::remote) {
    log_->warn(
        "the PED is in {} mode: the custodian selects Remote PED mode (menu 7) before an HSM "
        "connects",
        ped::mode_name(identity_->mode));
  }
  first_probe_finished();
}

void PedConnection::on_link_event(std::uint64_t generation, ped::Op op, const Bytes& body) {
  if (generation != generation_) {
    return;
  }
  switch (op) {
    case ped::Op::mode_changed: {
      const auto changed = ped::ModeChangedEvent::parse(body);
      if (changed.ok()) {
        log_->info("PED mode changed to {}", ped::mode_name(changed->mode));
        if (identity_) {
          identity_->mode = changed->mode;
        }
      }
      return;
    }
    case ped::Op::remote_mode_exited:
      log_->warn("the custodian left Remote PED mode on the PED");
      if (listener_) {
        listener_(PedEvent::remote_mode_exited, "the custodian left Remote PED mode");
      }
      return;
    case ped::Op::display: {
      // The PED never shows PIN digits (they are '*'), so its screen may be logged.
      if (log_->should_log(spdlog::level::trace)) {
        const auto screen = ped::DisplayEvent::parse(body);
        if (screen.ok()) {
          std::string text;
          for (const std::string& line : screen->lines) {
            if (!line.empty()) {
              text += (text.empty() ? "" : " | ") + line;
            }
          }
          log_->trace("PED screen: {}", text);
        }
      }
      return;
    }
    default:
      log_->trace("PED event {} ignored", ped::op_name(op));
      return;
  }
}

void PedConnection::on_link_down(std::uint64_t generation, const std::string& reason) {
  if (generation != generation_) {
    return;
  }
  const bool was_connected = connected();
  identity_.reset();
  drop_link();
  if (was_connected) {
    log_->warn("PED disconnected: {}", reason);
    last_reported_.clear();
  } else {
    report_failure(device_description() + ": " + reason);
  }
  last_error_ = reason;
  if (listener_) {
    listener_(PedEvent::disconnected, reason);
  }
  first_probe_finished();
  schedule_retry();
}

void PedConnection::drop_link() {
  ++generation_;
  identity_.reset();
  if (link_) {
    // The destructor joins the link's threads: not on the io_context.
    std::shared_ptr<usb::PedLink> link(std::move(link_));
    boost::asio::post(blocking_, [link]() mutable { link.reset(); });
  }
}

void PedConnection::schedule_retry() {
  if (stopped_) {
    return;
  }
  retry_timer_.expires_after(kPedRetryInterval);
  retry_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) {
      attempt_open();
    }
  });
}

void PedConnection::report_failure(const std::string& what) {
  last_error_ = what;
  if (what != last_reported_) {
    log_->warn("PED not available: {} (trying again every {} ms)", what, kPedRetryInterval.count());
    last_reported_ = what;
  }
}

void PedConnection::first_probe_finished() {
  if (first_probe_done_) {
    auto done = std::move(first_probe_done_);
    first_probe_done_ = nullptr;
    done();
  }
}

void PedConnection::call(ped::Op op, ByteView body, std::chrono::milliseconds timeout,
                         usb::PedLink::Completion completion) {
  if (!link_ || !identity_) {
    completion(usb::link_error(usb::LinkFailure::unplugged, "no PED is connected"));
    return;
  }
  link_->call_async(op, body, timeout, std::move(completion));
}

void PedConnection::notify(ped::Op op, ByteView body) {
  ++notifications_in_flight_;
  call(op, body, kPedIdentifyTimeout, [this](const PedCallResult&) {
    boost::asio::post(io_, [this] { --notifications_in_flight_; });
  });
}

void PedConnection::after_pending_notifications(std::chrono::milliseconds limit,
                                                std::function<void()> done) {
  if (notifications_in_flight_ == 0 || limit <= std::chrono::milliseconds::zero()) {
    boost::asio::post(io_, std::move(done));
    return;
  }
  drain_timer_.expires_after(kCheckEvery);
  drain_timer_.async_wait(
      [this, limit, done = std::move(done)](const boost::system::error_code&) mutable {
        after_pending_notifications(limit - kCheckEvery, std::move(done));
      });
}

Result<SecretBytes> ok_payload(ped::Op op, const PedCallResult& response) {
  if (!response.ok()) {
    return response.error();  // a link error keeps its "PED unplugged: ..." form
  }
  auto parsed = ped::parse_response(response.value().reveal());
  if (!parsed.ok()) {
    return make_error(
        Errc::invalid_encoding,
        std::string(ped::op_name(op)) + ": malformed PED response: " + parsed.error().message);
  }
  const ped::ResponseHeader& header = parsed->first;
  if (header.status != ped::Status::ok) {
    std::string message = std::string(ped::op_name(op)) + ": the PED answered " +
                          std::string(ped::status_name(header.status));
    if (!header.message.empty()) {
      message += " (" + header.message + ")";
    }
    return make_error(Errc::invalid_argument, message);
  }
  return SecretBytes::copy_of(parsed->second);
}

}  // namespace rped::pedserver
