// pedsim --interactive: the PED on a terminal. Draws the LCD and reads keys
// raw (termios, no echo, no line buffering):
//   0-9 digits   y YES   n NO   Enter ENTER   Backspace CLEAR   < back/exit   > log
//   i insert a key (asks for its name)   r remove the key   q quit
// The terminal is restored when the TerminalUi is destroyed (or restore() is called).
//
// Thread-safety: draw() may be called from any thread (the device's display
// callback); run() belongs to one thread.
#pragma once

#include <termios.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "rped/pedsim/device.h"
#include "rped/pedsim/key_store.h"
#include "rped/pedsim/screen.h"
#include "rped/result.h"

namespace rped::pedsim {

class TerminalUi final {
 public:
  // Needs a terminal on stdin and stdout.
  static Result<std::unique_ptr<TerminalUi>> open(PedDevice& device, const KeyDirectory& keys);
  ~TerminalUi();
  TerminalUi(const TerminalUi&) = delete;
  TerminalUi& operator=(const TerminalUi&) = delete;

  void draw(const Screen& screen);
  // Reads keys until 'q' (returns) or until `stop` becomes true.
  void run(const std::atomic<bool>& stop);
  void restore();

 private:
  TerminalUi(PedDevice& device, const KeyDirectory& keys, const termios& saved);
  void redraw_locked();
  void handle(char c);
  void insert_prompt_key(char c);
  void set_message(std::string message);

  PedDevice& device_;
  const KeyDirectory& keys_;
  const termios saved_;
  bool restored_ = false;

  std::mutex mu_;
  Screen screen_;
  std::string message_;
  std::string key_in_port_;
  bool asking_name_ = false;  // 'i' pressed: collecting a key name
  std::string name_;
  bool quit_ = false;
};

}  // namespace rped::pedsim
