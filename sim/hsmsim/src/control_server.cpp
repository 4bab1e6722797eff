#include "rped/hsmsim/control_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "rped/hsmsim/command_line.h"
#include "rped/hsmsim/control_protocol.h"
#include "unix_socket.h"

namespace rped::hsmsim {

namespace {

constexpr std::chrono::milliseconds kCommandReadTimeout{
    30'000};  // the command frame follows the connect
constexpr std::chrono::milliseconds kAnswerTimeout{
    600'000};  // an operator thinking about "proceed"
constexpr std::chrono::milliseconds kWriteTimeout{5'000};
constexpr std::size_t kMaxQueuedBytes = 1 << 20;

Result<ControlFrame> read_control_frame(int fd) {
  std::uint8_t prefix[4];
  RPED_TRY(read_exact(fd, prefix));
  RPED_TRY_ASSIGN(const std::size_t size, control_frame_size(prefix));
  SecretBytes wire(size);
  std::copy(std::begin(prefix), std::end(prefix), wire.reveal_mutable().begin());
  RPED_TRY(read_exact(fd, wire.reveal_mutable().subspan(4)));
  return ControlFrame::parse(wire.reveal());
}

// What a log line may say about a command: its name only (option values can
// be secrets, e.g. `-password 12345678`).
std::string command_name(const std::vector<std::string>& words) {
  std::string name;
  for (std::size_t i = 0; i < words.size() && i < 3; ++i) {
    if (words[i].empty() || words[i][0] == '-') {
      break;
    }
    name += (name.empty() ? "" : " ") + words[i];
  }
  return name;
}

// One operator connection's console: output frames are queued and written by
// a writer thread, so line() never blocks the HSM (hsm.h's Console contract).
class SocketConsole final : public Console {
 public:
  explicit SocketConsole(int fd) : fd_(fd), writer_([this] { write_loop(); }) {}
  ~SocketConsole() override { finish(); }
  SocketConsole(const SocketConsole&) = delete;
  SocketConsole& operator=(const SocketConsole&) = delete;

  void line(std::string_view text) override {
    ControlFrame frame;
    frame.type = ControlType::output;
    frame.text = std::string(text);
    enqueue(frame.serialize());
  }

  void secret_line(std::string_view prefix, const SecretBytes& secret,
                   std::string_view suffix) override {
    enqueue(secret_output_frame(prefix, secret, suffix));
  }

  std::optional<std::string> ask(std::string_view prompt) override {
    ControlFrame frame;
    frame.type = ControlType::prompt;
    frame.text = std::string(prompt);
    enqueue(frame.serialize());
    if (!drained()) {
      return std::nullopt;
    }
    if (!set_timeouts(fd_, kWriteTimeout, kAnswerTimeout).ok()) {
      return std::nullopt;
    }
    auto answer = read_control_frame(fd_);
    if (!answer.ok() || answer->type != ControlType::answer) {
      return std::nullopt;
    }
    return answer->text;
  }

  void result(const CommandResult& r) {
    ControlFrame frame;
    frame.type = ControlType::result;
    frame.code = static_cast<std::uint32_t>(r.code);
    frame.text = r.message;
    enqueue(frame.serialize());
  }

  // Writes what is queued and stops the writer.
  void finish() {
    {
      const std::lock_guard lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    if (writer_.joinable()) {
      writer_.join();
    }
  }

 private:
  void enqueue(SecretBytes frame) {
    {
      const std::lock_guard lock(mu_);
      if (broken_ || queued_bytes_ + frame.size() > kMaxQueuedBytes) {
        broken_ = true;  // the operator stopped reading: drop the rest
        return;
      }
      queued_bytes_ += frame.size();
      queue_.push_back(std::move(frame));
    }
    cv_.notify_all();
  }

  // Waits until everything queued is written; false if the link broke.
  bool drained() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return (queue_.empty() && !writing_) || broken_; });
    return !broken_;
  }

  void write_loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty()) {
        return;  // closing, all written
      }
      SecretBytes frame = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= frame.size();
      if (broken_) {
        continue;
      }
      writing_ = true;
      lock.unlock();
      const bool ok = write_all(fd_, frame.reveal()).ok();
      lock.lock();
      writing_ = false;
      broken_ = broken_ || !ok;
      cv_.notify_all();
    }
  }

  const int fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SecretBytes> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool broken_ = false;
  bool closing_ = false;
  std::thread writer_;
};

}  // namespace

struct ControlServer::Impl {
  struct Connection {
    int fd = -1;
    std::atomic<bool> done{false};
    std::thread thread;
  };

  Impl(std::filesystem::path p, int listen, WakePipe w, Hsm& h, Logger l)
      : path(std::move(p)), listen_fd(listen), wake(w), hsm(h), log(std::move(l)) {}

  const std::filesystem::path path;
  const int listen_fd;
  WakePipe wake;
  Hsm& hsm;
  const Logger log;
  std::thread acceptor;
  std::mutex mu;
  bool stopping = false;
  bool stopped = false;
  std::list<Connection> connections;

  void say(const std::string& text) const {
    if (log) {
      log(text);
    }
  }

  void serve(Connection& c) {
    const int fd = c.fd;
    if (set_timeouts(fd, kWriteTimeout, kCommandReadTimeout).ok()) {
      auto request = read_control_frame(fd);
      if (request.ok() && request->type == ControlType::command) {
        SocketConsole console(fd);
        const CommandResult result = run_command(hsm, request->words, console);
        say("command '" + command_name(request->words) +
            "': " + std::string(result_name(result.code)));
        console.result(result);
        console.finish();
      }
    }
    ::shutdown(fd, SHUT_RDWR);
    c.done = true;
  }

  void reap() {
    for (auto it = connections.begin(); it != connections.end();) {
      if (it->done) {
        it->thread.join();
        ::close(it->fd);
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }

  void run() {
    for (;;) {
      pollfd fds[2] = {{wake.read_fd, POLLIN, 0}, {listen_fd, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) {
          continue;
        }
        say(std::string("control poll failed: ") + std::strerror(errno));
        return;
      }
      const std::lock_guard lock(mu);
      if (stopping) {
        return;
      }
      wake.drain();
      reap();
      if (fds[1].revents == 0) {
        continue;
      }
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        continue;
      }
      Connection& c = connections.emplace_back();
      c.fd = fd;
      c.thread = std::thread([this, &c] { serve(c); });
    }
  }
};

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<ControlServer>> ControlServer::start(const std::filesystem::path& socket,
                                                            Hsm& hsm, Logger log) {
  RPED_TRY_ASSIGN(const int listen_fd, listen_unix(socket));
  auto wake = WakePipe::create();
  if (!wake.ok()) {
    ::close(listen_fd);
    return std::move(wake).error();
  }
  auto server = std::unique_ptr<ControlServer>(new ControlServer(
      std::make_unique<Impl>(socket, listen_fd, wake.value(), hsm, std::move(log))));
  Impl* const impl = server->impl_.get();
  impl->acceptor = std::thread([impl] { impl->run(); });
  return server;
}

void ControlServer::stop() {
  Impl& m = *impl_;
  {
    const std::lock_guard lock(m.mu);
    if (m.stopped) {
      return;
    }
    m.stopping = true;
    for (Impl::Connection& c : m.connections) {
      ::shutdown(c.fd, SHUT_RDWR);  // unblocks reads; a running command finishes on its own
    }
  }
  m.wake.wake();
  if (m.acceptor.joinable()) {
    m.acceptor.join();
  }
  const std::lock_guard lock(m.mu);
  for (Impl::Connection& c : m.connections) {
    if (c.thread.joinable()) {
      c.thread.join();
    }
    ::close(c.fd);
  }
  m.connections.clear();
  m.stopped = true;
}

ControlServer::~ControlServer() {
  stop();
  ::close(impl_->listen_fd);
  impl_->wake.close();
  ::unlink(impl_->path.c_str());
}

// ---------------------------------------------------------------------------
// Client

Result<ResultCode> run_remote_command(const std::filesystem::path& socket,
                                      const std::vector<std::string>& words, std::FILE* in,
                                      std::FILE* out) {
  auto connected = connect_unix(socket);
  if (!connected.ok()) {
    return make_error(Errc::internal,
                      "the emulator is not running (" + connected.error().message + ")");
  }
  const int fd = connected.value();
  struct Close {
    int fd;
    ~Close() { ::close(fd); }
  } close_fd{fd};
  ControlFrame command;
  command.type = ControlType::command;
  command.words = words;
  RPED_TRY(write_all(fd, command.serialize().reveal()));
  for (;;) {
    auto frame = read_control_frame(fd);
    if (!frame.ok()) {
      return make_error(Errc::internal, "the emulator closed the connection before the result (" +
                                            frame.error().message + ")");
    }
    switch (frame->type) {
      case ControlType::output:
        std::fprintf(out, "%s\n", frame->text.c_str());
        std::fflush(out);
        break;
      case ControlType::prompt: {
        std::fprintf(out, "%s", frame->text.c_str());
        std::fflush(out);
        std::string answer;
        char buffer[256];
        if (in != nullptr && std::fgets(buffer, sizeof buffer, in) != nullptr) {
          answer = buffer;
          while (!answer.empty() && (answer.back() == '\n' || answer.back() == '\r')) {
            answer.pop_back();
          }
        } else {
          std::fprintf(out, "\n");
        }
        ControlFrame reply;
        reply.type = ControlType::answer;
        reply.text = answer;
        RPED_TRY(write_all(fd, reply.serialize().reveal()));
        break;
      }
      case ControlType::result: {
        const auto code = static_cast<ResultCode>(frame->code);
        if (!frame->text.empty()) {
          std::fprintf(out, "%s\n", frame->text.c_str());
        }
        std::fprintf(out, "\n%s\n", result_line(code).c_str());
        std::fflush(out);
        return code;
      }
      case ControlType::command:
      case ControlType::answer:
      default:
        return make_error(Errc::invalid_encoding, "the emulator sent an unexpected control frame");
    }
  }
}

}  // namespace rped::hsmsim
