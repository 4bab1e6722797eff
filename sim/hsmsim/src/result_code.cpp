#include "rped/hsmsim/result_code.h"

#include <array>
#include <cstdio>
#include <utility>

namespace rped::hsmsim {

namespace {

constexpr std::array<std::pair<ResultCode, std::string_view>, 24> kNames{{
    {ResultCode::ok, "CKR_OK"},
    {ResultCode::general_error, "CKR_GENERAL_ERROR"},
    {ResultCode::function_failed, "CKR_FUNCTION_FAILED"},
    {ResultCode::arguments_bad, "CKR_ARGUMENTS_BAD"},
    {ResultCode::device_error, "CKR_DEVICE_ERROR"},
    {ResultCode::function_canceled, "CKR_FUNCTION_CANCELED"},
    {ResultCode::pin_incorrect, "CKR_PIN_INCORRECT"},
    {ResultCode::pin_locked, "CKR_PIN_LOCKED"},
    {ResultCode::token_not_present, "CKR_TOKEN_NOT_PRESENT"},
    {ResultCode::user_already_logged_in, "CKR_USER_ALREADY_LOGGED_IN"},
    {ResultCode::user_not_logged_in, "CKR_USER_NOT_LOGGED_IN"},
    {ResultCode::user_pin_not_initialized, "CKR_USER_PIN_NOT_INITIALIZED"},
    {ResultCode::user_type_invalid, "CKR_USER_TYPE_INVALID"},
    {ResultCode::user_another_already_logged_in, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN"},
    {ResultCode::user_not_authorized, "CKR_USER_NOT_AUTHORIZED"},
    {ResultCode::so_login_failure_threshold, "CKR_SO_LOGIN_FAILURE_THRESHOLD"},
    {ResultCode::unable_to_connect, "CKR_UNABLE_TO_CONNECT"},
    {ResultCode::callback_error, "CKR_CALLBACK_ERROR"},
    {ResultCode::timeout, "CKR_TIMEOUT"},
    {ResultCode::ped_client_not_running, "CKR_PED_CLIENT_NOT_RUNNING"},
    {ResultCode::ped_unplugged, "CKR_PED_UNPLUGGED"},
    {ResultCode::operation_not_allowed, "CKR_OPERATION_NOT_ALLOWED"},
    {ResultCode::log_full, "CKR_LOG_FULL"},
    {ResultCode::audit_login_failure_threshold, "CKR_AUDIT_LOGIN_FAILURE_THRESHOLD"},
}};

}  // namespace

std::string_view result_name(ResultCode code) noexcept {
  for (const auto& [value, name] : kNames) {
    if (value == code) {
      return name;
    }
  }
  return "CKR_UNKNOWN";
}

std::optional<ResultCode> result_from_name(std::string_view name) noexcept {
  for (const auto& [value, known] : kNames) {
    if (known == name) {
      return value;
    }
  }
  return std::nullopt;
}

std::string result_line(ResultCode code) {
  if (code == ResultCode::ok) {
    return "Command Result : No Error";
  }
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%x", static_cast<unsigned>(code));
  return "Command Result : " + std::string(hex) + " (" + std::string(result_name(code)) + ")";
}

}  // namespace rped::hsmsim
