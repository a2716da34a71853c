// The response envelope of spec/rest-api.md §1.4/§1.6:
//   success {"data": …, "time": "<ISO-8601 UTC>", "reqId": "…"}
//   error   {"error": {"code": "E-…", "message": "…", "details"?}, "time", "reqId"}
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

#include "net/http.hpp"

namespace cumulo::api {

/// Thrown by handlers; becomes an error envelope with this status and code.
class ApiError : public std::runtime_error {
 public:
  ApiError(unsigned status, std::string code, const std::string& message, nlohmann::json details = nullptr)
      : std::runtime_error(message), status_(status), code_(std::move(code)), details_(std::move(details)) {}
  unsigned status() const { return status_; }
  const std::string& code() const { return code_; }
  const nlohmann::json& details() const { return details_; }

 private:
  unsigned status_;
  std::string code_;
  nlohmann::json details_;
};

/// Current time as "2025-01-01T12:00:00Z" (cached per second).
std::string iso_now();

void send_data(const net::HttpRequest& req, net::HttpResponse& res, const nlohmann::json& data, unsigned status = 200);
/// The same envelope around `data_json`, already serialised (cached bodies).
void send_data_json(const net::HttpRequest& req, net::HttpResponse& res, std::string_view data_json, unsigned status = 200);
void send_error(const net::HttpRequest& req, net::HttpResponse& res, unsigned status, std::string_view code, std::string_view message,
                const nlohmann::json& details = nullptr);

/// Parses the request body as JSON; throws ApiError 400 E-VAL-INVALID.
nlohmann::json parse_body(const net::HttpRequest& req);

}  // namespace cumulo::api
