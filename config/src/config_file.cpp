// The only translation unit that includes toml++. It is used header-only with
// exceptions off (TOML_HEADER_ONLY=1, TOML_EXCEPTIONS=0, set in CMakeLists.txt):
// toml::parse returns a parse_result instead of throwing, matching our
// Result<T> boundary, and the daemons need no libtomlplusplus.so at run time.
#include "rped/config/config_file.h"

#include "concat.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "rped/config/atomic_file.h"
#include "rped/config/option_value.h"
#include "rped/config/paths.h"

namespace rped::config {
namespace {

Error file_error(const DaemonOptions& table, Errc code, std::string_view file, std::uint32_t line,
                 const std::string& what) {
  return make_error(code,
                    concat({table.daemon, ": ", file, ":", std::to_string(line), ": ", what}));
}

Error io_error(const DaemonOptions& table, const std::filesystem::path& file,
               const std::string& what) {
  return make_error(Errc::internal, concat({table.daemon, ": ", file.string(), ": ", what}));
}

// TOML basic string (TOML 1.0 §String): quote, backslash and control characters escaped.
std::string toml_quote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          std::array<char, 7> escaped{};
          std::snprintf(escaped.data(), escaped.size(), "\\u%04X", static_cast<unsigned>(byte));
          out += escaped.data();
        } else {
          out += c;
        }
        break;
    }
  }
  return out + "\"";
}

// The value as written in the file, for messages (one line: strings are TOML-escaped).
std::string node_for_message(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::integer:
      return std::to_string(node.as_integer()->get());
    case toml::node_type::string:
      return escape_for_message(toml_quote(node.as_string()->get()));
    case toml::node_type::boolean:
      return node.as_boolean()->get() ? "true" : "false";
    case toml::node_type::floating_point:
      return "(a float)";
    case toml::node_type::array:
      return "(an array)";
    case toml::node_type::table:
      return "(a table)";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "(a date or time)";
    case toml::node_type::none:
    default:
      return "(no value)";
  }
}

bool takes_integer(OptionKind kind) noexcept {
  return kind == OptionKind::integer || kind == OptionKind::port || kind == OptionKind::boolean;
}

bool takes_text(OptionKind kind) noexcept {
  return kind == OptionKind::enumeration || kind == OptionKind::string ||
         kind == OptionKind::path || kind == OptionKind::host || kind == OptionKind::ped_device;
}

// Same rules as the command line; a TOML type that cannot hold the option's
// value gets the same "what is allowed" text as a bad value.
Result<OptionValue> value_from_node(const OptionSpec& spec, const toml::node& node) {
  if (takes_integer(spec.kind) && node.is_integer()) {
    return parse_option_integer(spec, node.as_integer()->get());
  }
  if (spec.kind == OptionKind::boolean && node.is_boolean()) {
    return OptionValue(node.as_boolean()->get());
  }
  if (takes_text(spec.kind) && node.is_string()) {
    const std::string& text = node.as_string()->get();
    RPED_TRY_ASSIGN(OptionValue value, parse_option_text(spec, text));
    if (spec.kind == OptionKind::path && !std::filesystem::path(text).is_absolute()) {
      return make_error(Errc::invalid_argument, "must be an absolute path in the config file");
    }
    return value;
  }
  return make_error(Errc::invalid_argument, describe_allowed(spec));
}

struct Entry final {
  std::string key;
  std::uint32_t line;
  const toml::node* node;
};

Result<std::string> read_bounded(const DaemonOptions& table, const std::filesystem::path& file,
                                 int descriptor) {
  struct stat status {};
  if (::fstat(descriptor, &status) != 0) {
    return io_error(table, file, std::string("cannot read: ") + std::strerror(errno));
  }
  if (!S_ISREG(status.st_mode)) {
    return io_error(table, file, "not a regular file");
  }
  if ((status.st_mode & S_IWOTH) != 0) {
    // Anyone could redirect the log file or the listening address.
    std::array<char, 8> mode{};
    std::snprintf(mode.data(), mode.size(), "%04o", static_cast<unsigned>(status.st_mode & 07777));
    return io_error(table, file,
                    concat({"refusing a world-writable configuration file (mode ", mode.data(),
                            "); run chmod o-w on it"}));
  }
  if (static_cast<std::uint64_t>(status.st_size) > kMaxConfigFileSize) {
    return io_error(table, file,
                    concat({"larger than ", std::to_string(kMaxConfigFileSize), " bytes"}));
  }
  std::string contents;
  std::array<char, 8192> buffer{};
  for (;;) {
    const ssize_t got = ::read(descriptor, buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      return io_error(table, file, std::string("cannot read: ") + std::strerror(errno));
    }
    if (got == 0) {
      break;
    }
    contents.append(buffer.data(), static_cast<std::size_t>(got));
    if (contents.size() > kMaxConfigFileSize) {
      return io_error(table, file,
                      concat({"larger than ", std::to_string(kMaxConfigFileSize), " bytes"}));
    }
  }
  return contents;
}

}  // namespace

std::string toml_value_text(const OptionValue& value) {
  if (const auto* const text = std::get_if<std::string>(&value)) {
    return toml_quote(*text);
  }
  return option_value_text(value);
}

Result<OptionValues> parse_config_text(const DaemonOptions& table, std::string_view text,
                                       std::string_view source_name) {
  toml::parse_result parsed = toml::parse(text, source_name);
  if (!parsed) {
    const toml::parse_error& error = parsed.error();
    return make_error(
        Errc::invalid_encoding,
        concat({table.daemon, ": ", source_name, ":", std::to_string(error.source().begin.line),
                ":", std::to_string(error.source().begin.column), ": ",
                escape_for_message(error.description())}));
  }
  // toml::table iterates in key order; report problems in file order.
  std::vector<Entry> entries;
  for (auto&& [key, node] : parsed.table()) {
    entries.push_back(
        Entry{.key = std::string(key.str()), .line = key.source().begin.line, .node = &node});
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.line < b.line; });

  OptionValues values;
  std::map<std::string, std::pair<std::string, std::uint32_t>, std::less<>>
      seen;  // canonical -> key, line
  for (const Entry& entry : entries) {
    const std::string key_label = concat({"key '", escape_for_message(entry.key), "'"});
    const OptionSpec* const spec = find_option(table, entry.key);
    if (spec == nullptr) {
      return file_error(table, Errc::invalid_argument, source_name, entry.line,
                        concat({key_label, ": unknown key; see '", table.daemon, " -help'"}));
    }
    if (spec->storage != Storage::config_file) {
      return file_error(table, Errc::invalid_argument, source_name, entry.line,
                        concat({key_label, ": command-line only; not allowed in the config file"}));
    }
    const auto earlier = seen.find(spec->name);
    if (earlier != seen.end()) {
      return file_error(table, Errc::invalid_argument, source_name, entry.line,
                        concat({key_label, ": same setting as key '", earlier->second.first,
                                "' (line ", std::to_string(earlier->second.second), ")"}));
    }
    seen.emplace(std::string(spec->name), std::make_pair(entry.key, entry.line));
    Result<OptionValue> value = value_from_node(*spec, *entry.node);
    if (!value.ok()) {
      return file_error(
          table, Errc::invalid_argument, source_name, entry.line,
          concat({key_label, " = ", node_for_message(*entry.node), ": ", value.error().message}));
    }
    values.insert_or_assign(std::string(spec->name), std::move(value).value());
  }
  return values;
}

Result<OptionValues> load_config_file(const DaemonOptions& table, const std::filesystem::path& file,
                                      MissingFile missing) {
  const int descriptor = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (descriptor < 0) {
    const int error = errno;
    if (error == ENOENT && missing == MissingFile::is_empty) {
      return OptionValues{};
    }
    return io_error(table, file, std::string("cannot read: ") + std::strerror(error));
  }
  Result<std::string> contents = read_bounded(table, file, descriptor);
  static_cast<void>(::close(descriptor));
  if (!contents.ok()) {
    return std::move(contents).error();
  }
  return parse_config_text(table, contents.value(), file.string());
}

std::string render_config_file(const DaemonOptions& table, const OptionValues& values) {
  std::string out =
      concat({"# ", table.daemon, " configuration (TOML): the command-line options without the\n",
              "# dash, see '", table.daemon, " -help'. Written by '", table.daemon,
              " -mode config -set',\n# which does not keep comments.\n"});
  for (const OptionSpec& spec : table.options) {
    const auto found = values.find(spec.name);
    if (spec.storage != Storage::config_file || found == values.end()) {
      continue;
    }
    out += concat({spec.name, " = ", toml_value_text(found->second), "\n"});
  }
  return out;
}

Result<void> write_config_file(const DaemonOptions& table, const std::filesystem::path& file,
                               const OptionValues& values) {
  const std::string text = render_config_file(table, values);
  // Never write a file we would refuse to read (e.g. a path that is not UTF-8).
  Result<OptionValues> reread = parse_config_text(table, text, file.string());
  if (!reread.ok()) {
    return make_error(Errc::invalid_argument,
                      concat({table.daemon, ": refusing to write ", file.string(),
                              ": it would not read back: ", reread.error().message}));
  }
  OptionValues stored;
  for (const auto& [name, value] : values) {
    const OptionSpec* const spec = find_option(table, name);
    if (spec != nullptr && spec->storage == Storage::config_file) {
      stored.insert_or_assign(name, value);
    }
  }
  if (reread.value() != stored) {
    return make_error(Errc::internal, concat({table.daemon, ": refusing to write ", file.string(),
                                              ": it would not read back the same"}));
  }
  if (file.has_parent_path()) {
    RPED_TRY(ensure_private_directory(file.parent_path()));
  }
  return write_file_atomically(file, text);
}

}  // namespace rped::config
