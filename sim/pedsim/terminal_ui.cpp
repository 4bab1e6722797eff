#include "terminal_ui.h"

#include <poll.h>
#include <unistd.h>

#include <cstdio>

namespace rped::pedsim {

namespace {

constexpr char kEscape = 0x1b;
constexpr char kBackspace = 0x7f;
constexpr char kCtrlH = 0x08;
constexpr int kPollMs = 100;

void write_out(const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) {
      return;
    }
    done += static_cast<std::size_t>(n);
  }
}

std::string mode_line(ped::Mode mode) {
  return "Mode: " + std::string(ped::mode_name(mode));
}

}  // namespace

Result<std::unique_ptr<TerminalUi>> TerminalUi::open(PedDevice& device, const KeyDirectory& keys) {
  if (::isatty(STDIN_FILENO) == 0 || ::isatty(STDOUT_FILENO) == 0) {
    return make_error(Errc::invalid_argument, "--interactive needs a terminal on stdin and stdout");
  }
  termios saved{};
  if (::tcgetattr(STDIN_FILENO, &saved) != 0) {
    return make_error(Errc::internal, "cannot read the terminal settings");
  }
  termios raw = saved;
  // No line buffering, no echo; ISIG stays so Ctrl-C still stops pedsim.
  raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
  raw.c_iflag &= static_cast<tcflag_t>(~(ICRNL | IXON));
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0) {
    return make_error(Errc::internal, "cannot put the terminal in raw mode");
  }
  write_out("\x1b[?1049h\x1b[?25l");  // alternate screen, hide the cursor
  return std::unique_ptr<TerminalUi>(new TerminalUi(device, keys, saved));
}

TerminalUi::TerminalUi(PedDevice& device, const KeyDirectory& keys, const termios& saved)
    : device_(device), keys_(keys), saved_(saved) {}

TerminalUi::~TerminalUi() {
  restore();
}

void TerminalUi::restore() {
  const std::lock_guard lock(mu_);
  if (restored_) {
    return;
  }
  restored_ = true;
  write_out("\x1b[?25h\x1b[?1049l");
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
}

void TerminalUi::draw(const Screen& screen) {
  const std::lock_guard lock(mu_);
  screen_ = screen;
  redraw_locked();
}

void TerminalUi::set_message(std::string message) {
  const std::lock_guard lock(mu_);
  message_ = std::move(message);
  redraw_locked();
}

void TerminalUi::redraw_locked() {
  if (restored_) {
    return;
  }
  std::string out = "\x1b[H\x1b[2J";
  out += "pedsim - emulated Luna PED\r\n\r\n";
  for (const char c : boxed(screen_)) {
    out += c == '\n' ? std::string("\r\n") : std::string(1, c);
  }
  out += "\r\n" + mode_line(device_.mode()) +
         "    Key in port: " + (key_in_port_.empty() ? std::string("(none)") : key_in_port_) +
         "\r\n\r\n";
  out += "0-9 digits  y YES  n NO  Enter ENTER  Backspace CLEAR\r\n";
  out += "< back/exit  > log  i insert key  r remove key  q quit\r\n\r\n";
  out += message_ + "\r\n";
  if (asking_name_) {
    out += "Insert which key? " + name_ + "_\r\n";
  }
  write_out(out);
}

void TerminalUi::run(const std::atomic<bool>& stop) {
  {
    const std::lock_guard lock(mu_);
    screen_ = device_.lcd();
    redraw_locked();
  }
  while (!stop.load() && !quit_) {
    pollfd input{STDIN_FILENO, POLLIN, 0};
    const int ready = ::poll(&input, 1, kPollMs);
    if (ready <= 0) {
      continue;
    }
    char c = 0;
    if (::read(STDIN_FILENO, &c, 1) != 1) {
      return;  // end of input
    }
    handle(c);
  }
}

void TerminalUi::handle(char c) {
  if (asking_name_) {
    insert_prompt_key(c);
    return;
  }
  if (c >= '0' && c <= '9') {
    device_.press(static_cast<Keypad>(c - '0'));
    return;
  }
  switch (c) {
    case 'y':
    case 'Y':
      device_.press(Keypad::yes);
      return;
    case 'n':
    case 'N':
      device_.press(Keypad::no);
      return;
    case '\r':
    case '\n':
      device_.press(Keypad::enter);
      return;
    case kBackspace:
    case kCtrlH:
      device_.press(Keypad::clear);
      return;
    case '<':
      device_.press(Keypad::back);
      return;
    case '>':
      device_.press(Keypad::log);
      return;
    case 'i': {
      std::string names;
      for (const std::string& name : keys_.names()) {
        names += (names.empty() ? "" : " ") + name;
      }
      const std::lock_guard lock(mu_);
      asking_name_ = true;
      name_.clear();
      message_ = "Keys: " + names;
      redraw_locked();
      return;
    }
    case 'r': {
      device_.remove_key();
      {
        const std::lock_guard lock(mu_);
        key_in_port_.clear();
      }
      set_message("Key removed.");
      return;
    }
    case 'q':
      quit_ = true;
      return;
    default:
      return;
  }
}

void TerminalUi::insert_prompt_key(char c) {
  if (c == '\r' || c == '\n') {
    std::string name;
    {
      const std::lock_guard lock(mu_);
      asking_name_ = false;
      name = name_;
    }
    if (name.empty()) {
      set_message("");
      return;
    }
    auto inserted = device_.insert_key(name);
    if (inserted.ok()) {
      const std::lock_guard lock(mu_);
      key_in_port_ = name;
    }
    set_message(inserted.ok() ? "Inserted " + name + "." : inserted.error().message);
    return;
  }
  const std::lock_guard lock(mu_);
  if (c == kEscape) {
    asking_name_ = false;
    message_.clear();
  } else if (c == kBackspace || c == kCtrlH) {
    if (!name_.empty()) {
      name_.pop_back();
    }
  } else if (c >= 0x20 && c < 0x7f && name_.size() < 64) {
    name_ += c;
  }
  redraw_locked();
}

}  // namespace rped::pedsim
