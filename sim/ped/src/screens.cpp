#include "screens.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "rped/pedsim/constants.h"

namespace rped::pedsim::screens {

namespace {

Lines with(Lines lines, std::initializer_list<std::string_view> more) {
  for (const std::string_view line : more) {
    lines.emplace_back(line);
  }
  return lines;
}

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string two_digits(std::size_t value) {
  char text[8];
  std::snprintf(text, sizeof text, "%02zu", value % 100);
  return text;
}

}  // namespace

Lines context_lines(std::string_view context) {
  Lines lines;
  std::size_t start = 0;
  while (start <= context.size() && lines.size() < kMaxContextLines) {
    const std::size_t newline = context.find('\n', start);
    const std::size_t slash = context.find(" / ", start);
    const std::size_t end = std::min(newline, slash);
    const std::string_view piece =
        context.substr(start, end == std::string_view::npos ? end : end - start);
    for (std::string& line : wrap_to_lcd(piece)) {
      if (!line.empty() && lines.size() < kMaxContextLines) {
        lines.push_back(std::move(line));
      }
    }
    if (end == std::string_view::npos) {
      break;
    }
    start = end + (end == slash ? 3 : 1);
  }
  return lines;
}

std::string key_colour_line(ped::KeyType type) {
  return "PED Key (" + upper(ped::key_type_name(type)) + ")";
}

std::string keys_read(std::size_t read, std::size_t m) {
  return "Keys read: " + two_digits(read) + " of " + two_digits(m);
}

Lines idle(ped::Mode mode, bool remote_session, std::string_view peer) {
  switch (mode) {
    case ped::Mode::remote:
      return {"Remote PED mode",
              remote_session && !peer.empty() ? std::string(peer) : "No remote session",
              "",
              "Awaiting command...",
              "",
              "",
              "",
              "< Exit Remote PED"};
    case ped::Mode::admin:
      return {"Admin mode", "", "1 List types",     "2 Duplicate key", "3 Self test",
              "",           "", "< Exit Admin mode"};
    case ped::Mode::local:
      return {"Local PED-USB mode",
              "Awaiting command...",
              "",
              "Select a mode:",
              "1 Admin",
              "7 Remote PED",
              "",
              "> Log"};
    default:
      return {"Unknown mode"};
  }
}

Lines insert_key(const Lines& context, ped::KeyType type, std::string_view note) {
  return with(context, {"Insert a", ped::key_type_holder(type), key_colour_line(type),
                        "Press ENTER.", note});
}

std::string no_key_in_port() {
  return "No PED key found.";
}

Lines enter_pin(const Lines& context) {
  return with(context, {"", "Enter PED PIN:"});
}

Lines enter_new_pin(const Lines& context, std::string_view note) {
  return with(context, {"Enter new PED PIN", "(ENTER alone: no PIN)", note});
}

Lines confirm_new_pin(const Lines& context) {
  return with(context, {"Confirm new PED PIN:"});
}

std::string pin_rules() {
  return "PIN: 4-48 digits, not 0 first.";
}
std::string pins_differ() {
  return "PINs did not match.";
}
std::string masked(std::size_t digits) {
  return std::string(std::min(digits, ped::kLcdColumns), '*');
}

Lines reuse_keyset(const Lines& context) {
  return with(context, {"Do you wish to reuse", "an existing keyset?", "YES/NO"});
}

Lines enter_m(const Lines& context, std::string_view note) {
  return with(context, {"Enter M value:", "(1-16)", note});
}

Lines enter_n(const Lines& context, std::uint8_t m, std::string_view note) {
  return with(context,
              {"Enter N value:", std::string("(").append(std::to_string(m)).append("-16)"), note});
}

Lines overwrite_blank(const Lines& context) {
  return with(context, {"This PED key is", "blank. Overwrite?", "YES/NO"});
}

Lines overwrite_holds(const Lines& context, ped::KeyType type) {
  return with(context, {"This PED key holds", ped::key_type_holder(type), key_colour_line(type),
                        "Overwrite? YES/NO"});
}

Lines overwrite_sure(const Lines& context, ped::KeyType type) {
  return with(context,
              {"Are you sure? The", ped::key_type_holder(type), "secret will be lost.", "YES/NO"});
}

std::string key_number(std::size_t index, std::size_t n) {
  return "Key " + std::to_string(index) + " of " + std::to_string(n);
}

std::string duplicate_key_number(std::size_t set, std::size_t index, std::size_t n) {
  return "Dup " + std::to_string(set) + ": key " + std::to_string(index) + " of " +
         std::to_string(n);
}

std::string key_already_used() {
  return "Key already used.";
}
std::string insert_another_key() {
  return "Insert another key.";
}

Lines key_written(const Lines& context, std::string_view which) {
  return with(context, {"PED key written.", which});
}

Lines duplicates_wanted(const Lines& context) {
  return with(context, {"Create duplicate", "keysets?", "YES/NO"});
}

Lines duplicate_count(const Lines& context, std::string_view note) {
  return with(context,
              {"Number of duplicate", "sets: (1-" + std::to_string(kMaxDuplicateSets) + ")", note});
}

std::string value_out_of_range(unsigned lo, unsigned hi) {
  return "Enter " + std::to_string(lo) + " to " + std::to_string(hi) + ".";
}

Lines rpv_context() {
  return {"REMOTE PED VECTOR", "INITIALIZING..."};
}

Lines remote_context(std::string_view peer, std::string_view activity) {
  return {peer.empty() ? std::string("REMOTE PED") : std::string(peer), std::string(activity)};
}

Lines compute_session_key(std::string_view peer) {
  return {peer.empty() ? std::string("REMOTE PED") : std::string(peer), "", "COMPUTE SESSION KEY."};
}

Lines enter_password(std::string_view peer, std::string_view note) {
  return {peer.empty() ? std::string("REMOTE PED") : std::string(peer), "", "Enter PED Password.",
          std::string(note)};
}

std::string password_rules() {
  return "8 digits, then ENTER.";
}

Lines exit_remote_confirm() {
  return {"Exiting now will", "invalidate the RPK.", "Confirm? YES/NO"};
}

Lines identify_prompt() {
  return {"LIST TYPES", "Insert a PED Key", "to identify.", "Press ENTER."};
}

Lines key_identity(const PedKeyRecord& record) {
  if (record.is_blank()) {
    return {"LIST TYPES", "This PED key is", "blank.", "", "", "", "", "Press ENTER."};
  }
  Lines lines{
      "LIST TYPES",
      std::string(ped::key_type_holder(record.type)),
      key_colour_line(record.type),
      "Split " + std::to_string(record.split_index) + " of " + std::to_string(record.n) +
          ", M=" + std::to_string(record.m),
      "Keyset " +
          to_hex(
              ByteView(record.keyset_id).first(std::min<std::size_t>(4, record.keyset_id.size()))),
      record.has_pin ? "PIN: yes" : "PIN: no"};
  lines.emplace_back(
      record.type == ped::KeyType::orange ? "RPK " + std::to_string(record.rpk_serial) : "");
  lines.emplace_back("Press ENTER.");
  return lines;
}

Lines duplicate_source_prompt() {
  return {"DUPLICATE KEY", "Insert the PED Key", "to duplicate.", "Press ENTER."};
}

Lines duplicate_target_prompt(std::string_view note) {
  return {"DUPLICATE KEY", "Insert a blank", "PED Key for the copy.", "Press ENTER.",
          std::string(note)};
}

std::string that_is_the_source() {
  return "That is the source.";
}

Lines source_blank() {
  return {"DUPLICATE KEY", "The source key is", "blank.", "", "", "", "", "Press ENTER."};
}

Lines pin_incorrect() {
  return {"PED PIN incorrect.", "", "", "", "", "", "", "Press ENTER."};
}

Lines duplicate_written() {
  return {"DUPLICATE KEY", "Duplicate written.", "", "", "", "", "", "Press ENTER."};
}

Lines self_test_running() {
  return {"SELF TEST", "Running..."};
}

Lines self_test_result(std::size_t passed, std::size_t total) {
  return {"SELF TEST",
          passed == total ? "Self test passed." : "Self test FAILED.",
          std::to_string(passed) + " of " + std::to_string(total) + " tests passed.",
          "",
          "",
          "",
          "",
          "Press ENTER."};
}

Lines log(const std::deque<std::string>& entries) {
  Lines lines{"PED LOG"};
  for (const std::string& entry : entries) {
    lines.push_back(entry.substr(0, ped::kLcdColumns));
  }
  while (lines.size() < ped::kLcdLines - 1) {
    lines.emplace_back();
  }
  lines.emplace_back("Press any key.");
  return lines;
}

Lines flow_ended(ped::Status status) {
  switch (status) {
    case ped::Status::timeout:
      return {"Operation timed out."};
    case ped::Status::cancelled:
      return {"Operation cancelled."};
    case ped::Status::key_removed:
      return {"PED key removed."};
    default:
      return {"Operation failed:", std::string(ped::status_name(status))};
  }
}

}  // namespace rped::pedsim::screens
