#include "ped_ids.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "rped/config/atomic_file.h"

namespace rped::pedclient {
namespace {

constexpr std::size_t kMaxFileBytes = 4 * 1024 * 1024;
constexpr std::size_t kMaxHostBytes = 255;

Error file_error(const std::filesystem::path& file, const std::string& what) {
  return make_error(Errc::invalid_encoding, file.string() + ": " + what +
                                                " (fix or remove the file; `pedclient -mode setid` "
                                                "rewrites it)");
}

Result<void> check_id(std::uint32_t id) {
  if (id == 0) {
    return make_error(Errc::invalid_argument,
                      "PED id 0 is the HSM's local PED and maps to no PED server; use 1-" +
                          std::to_string(kMaxPedId));
  }
  if (id > kMaxPedId) {
    return make_error(
        Errc::invalid_argument,
        "PED id " + std::to_string(id) + " is out of range; use 1-" + std::to_string(kMaxPedId));
  }
  return {};
}

}  // namespace

Result<PedIdTable> PedIdTable::load(const std::filesystem::path& file) {
  std::error_code error;
  if (!std::filesystem::exists(file, error)) {
    return PedIdTable{};
  }
  const auto size = std::filesystem::file_size(file, error);
  if (error || size > kMaxFileBytes) {
    return file_error(file, error ? error.message() : "larger than 4 MiB");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return make_error(Errc::internal, "cannot read " + file.string());
  }
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json document = nlohmann::json::parse(text.str(), nullptr, false);
  if (!document.is_object() || !document.contains("ped_ids") || !document["ped_ids"].is_object()) {
    return file_error(file, "not a PED id table (a JSON object with \"ped_ids\")");
  }
  PedIdTable table;
  for (const auto& [key, entry] : document["ped_ids"].items()) {
    std::uint32_t id = 0;
    const auto [end, parse_error] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (parse_error != std::errc{} || end != key.data() + key.size() || !check_id(id).ok()) {
      return file_error(file, "PED id '" + key.substr(0, 16) + "' is not 1-65534");
    }
    if (!entry.is_object() || !entry.contains("host") || !entry["host"].is_string() ||
        !entry.contains("port") || !entry["port"].is_number_unsigned()) {
      return file_error(file, "PED id " + key + ": needs \"host\" (text) and \"port\" (1-65535)");
    }
    PedIdMapping mapping;
    mapping.host = entry["host"].get<std::string>();
    const auto port = entry["port"].get<std::uint64_t>();
    if (mapping.host.empty() || mapping.host.size() > kMaxHostBytes || port == 0 || port > 65535) {
      return file_error(file, "PED id " + key + ": host must be 1-255 bytes, port 1-65535");
    }
    mapping.port = static_cast<std::uint16_t>(port);
    if (entry.contains("assigned_serial")) {
      if (!entry["assigned_serial"].is_number_unsigned()) {
        return file_error(file, "PED id " + key + ": \"assigned_serial\" must be a number");
      }
      mapping.assigned_serial = entry["assigned_serial"].get<std::uint64_t>();
    }
    table.entries_.emplace(id, std::move(mapping));
  }
  return table;
}

Result<void> PedIdTable::save(const std::filesystem::path& file) const {
  nlohmann::json ids = nlohmann::json::object();
  for (const auto& [id, mapping] : entries_) {
    nlohmann::json entry = {{"host", mapping.host}, {"port", mapping.port}};
    if (mapping.assigned_serial) {
      entry["assigned_serial"] = *mapping.assigned_serial;
    }
    ids[std::to_string(id)] = std::move(entry);
  }
  const nlohmann::json document = {{"ped_ids", std::move(ids)}};
  return config::write_file_atomically(file, document.dump(2) + "\n");
}

Result<void> PedIdTable::set(std::uint32_t id, std::string host, std::uint16_t port) {
  RPED_TRY(check_id(id));
  if (host.empty() || host.size() > kMaxHostBytes) {
    return make_error(Errc::invalid_argument, "-id_ip must be 1-255 bytes");
  }
  PedIdMapping& mapping = entries_[id];
  if (mapping.assigned_serial && (mapping.host != host || mapping.port != port)) {
    return make_error(Errc::invalid_argument,
                      "PED id " + std::to_string(id) + " is assigned to HSM " +
                          std::to_string(*mapping.assigned_serial) +
                          "; release it first (pedclient -mode releaseid -id " +
                          std::to_string(id) + ")");
  }
  mapping.host = std::move(host);
  mapping.port = port;
  return {};
}

Result<void> PedIdTable::erase(std::uint32_t id) {
  RPED_TRY(check_id(id));
  const auto it = entries_.find(id);
  if (it == entries_.end()) {
    return make_error(Errc::not_found, "PED id " + std::to_string(id) + " is not mapped");
  }
  if (it->second.assigned_serial) {
    return make_error(Errc::invalid_argument,
                      "PED id " + std::to_string(id) + " is assigned to HSM " +
                          std::to_string(*it->second.assigned_serial) +
                          "; release it first (pedclient -mode releaseid -id " +
                          std::to_string(id) + ")");
  }
  entries_.erase(it);
  return {};
}

Result<const PedIdMapping*> PedIdTable::find(std::uint32_t id) const {
  RPED_TRY(check_id(id));
  const auto it = entries_.find(id);
  if (it == entries_.end()) {
    return make_error(Errc::not_found, "PED id " + std::to_string(id) +
                                           " is not mapped to a PED server (pedclient -mode "
                                           "setid -id " +
                                           std::to_string(id) + " -id_ip ADDRESS)");
  }
  return &it->second;
}

Result<void> PedIdTable::assign(std::uint32_t id, std::uint64_t serial) {
  RPED_TRY(find(id));
  if (const auto other = id_of(serial); other && *other != id) {
    return make_error(Errc::invalid_argument, "HSM " + std::to_string(serial) +
                                                  " is assigned to PED id " +
                                                  std::to_string(*other) + " already");
  }
  PedIdMapping& mapping = entries_.at(id);
  if (mapping.assigned_serial && *mapping.assigned_serial != serial) {
    return make_error(Errc::invalid_argument,
                      "PED id " + std::to_string(id) + " is assigned to HSM " +
                          std::to_string(*mapping.assigned_serial) + " already");
  }
  mapping.assigned_serial = serial;
  return {};
}

std::optional<std::uint32_t> PedIdTable::id_of(std::uint64_t serial) const {
  for (const auto& [id, mapping] : entries_) {
    if (mapping.assigned_serial == serial) {
      return id;
    }
  }
  return std::nullopt;
}

void PedIdTable::release(std::uint32_t id) {
  if (const auto it = entries_.find(id); it != entries_.end()) {
    it->second.assigned_serial.reset();
  }
}

Result<std::uint64_t> parse_hsm_serial(std::string_view text) {
  std::uint64_t serial = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), serial);
  if (text.empty() || text.size() > 20 || error != std::errc{} ||
      end != text.data() + text.size() || serial == 0) {
    return make_error(Errc::invalid_argument,
                      "-id_serialnumber '" + std::string(text.substr(0, 32)) +
                          "' is not an HSM serial number (1-20 decimal digits, not 0)");
  }
  return serial;
}

}  // namespace rped::pedclient
