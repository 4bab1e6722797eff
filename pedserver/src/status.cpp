#include "status.h"

#include <string_view>

namespace rped::pedserver {
namespace {

constexpr std::size_t kValueColumn = 39;

// Reads a member of any JSON type as display text; absent or null: "".
std::string text_of(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) {
    return {};
  }
  const auto found = object.find(key);
  if (found == object.end() || found->is_null()) {
    return {};
  }
  if (found->is_string()) {
    return found->get<std::string>();
  }
  if (found->is_boolean()) {
    return found->get<bool>() ? "Yes" : "No";
  }
  return found->dump();
}

std::int64_t number_of(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) {
    return 0;
  }
  const auto found = object.find(key);
  return found != object.end() && found->is_number_integer() ? found->get<std::int64_t>() : 0;
}

const nlohmann::json& member(const nlohmann::json& object, std::string_view key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) {
    return kNull;
  }
  const auto found = object.find(key);
  return found == object.end() ? kNull : *found;
}

bool flag_of(const nlohmann::json& object, std::string_view key) {
  const nlohmann::json& value = member(object, key);
  return value.is_boolean() && value.get<bool>();
}

void line(std::string& out, std::string_view label, const std::string& value,
          std::size_t indent = 4) {
  std::string row(indent, ' ');
  row += label;
  row += ':';
  if (row.size() < kValueColumn) {
    row.resize(kValueColumn, ' ');
  } else {
    row += ' ';
  }
  out += row + value + "\n";
}

std::string seconds(std::int64_t s) {
  return std::to_string(s) + " (secs)";
}

std::string percent_of(std::int64_t part, std::int64_t whole) {
  const std::int64_t p = whole <= 0 ? 0 : (part * 100) / whole;
  return " (" + std::to_string(p) + "%)";
}

}  // namespace

std::string render_status_text(const nlohmann::json& status) {
  const nlohmann::json& server = member(status, "server");
  const nlohmann::json& ped = member(status, "ped");
  const nlohmann::json& client = member(status, "client");
  const nlohmann::json& connections = member(status, "connections");
  const nlohmann::json& appliance = member(status, "appliance");
  std::string out;
  out += "Ped Server Version: " + text_of(server, "software_version") + "\n";
  out += "Ped Server PID: " + text_of(server, "pid") + "\n";
  out += "Ped Server Information:\n";
  line(out, "Hostname", text_of(server, "hostname"));
  line(out, "IP", text_of(server, "ip"));
  line(out, "Firmware Version", flag_of(ped, "connected") ? text_of(ped, "firmware_version") : "");
  line(out, "Ped2 Protocol Version",
       flag_of(ped, "connected") ? text_of(ped, "protocol_version") : "");
  line(out, "Software Version", text_of(server, "software_version"));
  line(out, "Ped2 Connection Status", text_of(ped, "connection_status"));
  line(out, "Ped2 Device", text_of(ped, "device"));
  if (flag_of(ped, "connected")) {
    line(out, "Ped2 Serial Number", text_of(ped, "serial"));
    line(out, "Ped2 Model", text_of(ped, "model"));
    line(out, "Ped2 Mode", text_of(ped, "mode"));
  } else if (!text_of(ped, "last_error").empty()) {
    line(out, "Ped2 Last Error", text_of(ped, "last_error"));
  }
  line(out, "Ped2 RPK Count", std::to_string(number_of(ped, "rpk_count")));
  std::string serials;
  if (member(ped, "rpk_serials").is_array()) {
    for (const nlohmann::json& serial : member(ped, "rpk_serials")) {
      serials += (serials.empty() ? "" : ", ") + serial.dump();
    }
  }
  line(out, "Ped2 RPK Serial Numbers", "(" + serials + ")");
  if (!client.is_object()) {
    line(out, "Client Information", "Not Available", 0);
  } else {
    out += "Client Information:\n";
    line(out, "Client IP", text_of(client, "peer"));
    line(out, "Connected Via", text_of(client, "via"));
    line(out, "HSM Serial Number",
         text_of(client, "hsm_serial").empty() ? "not yet known" : text_of(client, "hsm_serial"));
    line(out, "Session State", text_of(client, "state"));
    if (!text_of(client, "scheme").empty()) {
      line(out, "Key Agreement Scheme", text_of(client, "scheme"));
    }
    line(out, "PED Operations", text_of(client, "operations"));
  }
  if (appliance.is_object()) {
    out += "Appliance (PED-initiated) Information:\n";
    line(out, "Name", text_of(appliance, "name"));
    line(out, "Address", text_of(appliance, "address"));
    line(out, "State", text_of(appliance, "state"));
    if (!text_of(appliance, "last_error").empty()) {
      line(out, "Last Error", text_of(appliance, "last_error"));
    }
  }
  out += "Operating Information:\n";
  line(out, "Server Port", text_of(server, "server_port"));
  line(out, "External Server Interface", text_of(server, "external_server_interface"));
  line(out, "Admin Port", text_of(server, "admin_port"));
  line(out, "External Admin Interface", text_of(server, "external_admin_interface"));
  const std::int64_t up = number_of(server, "up_time_s");
  line(out, "Server Up Time", seconds(up));
  line(
      out, "Server Idle Time",
      seconds(number_of(server, "idle_time_s")) + percent_of(number_of(server, "idle_time_s"), up));
  line(out, "Idle Timeout Value", seconds(number_of(server, "idle_timeout_s")));
  line(out, "Current Connection Time",
       seconds(number_of(connections, "current_connection_time_s")));
  line(out, "Current Connection Idle Time",
       seconds(number_of(connections, "current_connection_idle_time_s")));
  line(out, "Total Connection Time",
       seconds(number_of(connections, "total_connection_time_s")) +
           percent_of(number_of(connections, "total_connection_time_s"), up));
  line(out, "Connections Served", std::to_string(number_of(connections, "sessions")));
  line(out, "Connections Refused (PED busy)",
       std::to_string(number_of(connections, "refused_busy")));
  line(out, "Connections Refused (no PED)",
       std::to_string(number_of(connections, "refused_no_ped")));
  out += "Show command passed.\n";
  return out;
}

}  // namespace rped::pedserver
