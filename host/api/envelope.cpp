#include "api/envelope.hpp"

#include <ctime>

namespace cumulo::api {

std::string iso_now() {
  thread_local std::time_t cached_sec = 0;
  thread_local std::string cached;
  std::time_t now = std::time(nullptr);
  if (now != cached_sec) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cached = buf;
    cached_sec = now;
  }
  return cached;
}

void send_data(const net::HttpRequest& req, net::HttpResponse& res, const nlohmann::json& data, unsigned status) {
  send_data_json(req, res, data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), status);
}

void send_data_json(const net::HttpRequest& req, net::HttpResponse& res, std::string_view data_json, unsigned status) {
  res.status = status;
  // Assembled directly: the envelope's own keys need no JSON tree, and the
  // request id is already restricted to [A-Za-z0-9_.-] (no escaping needed).
  std::string body;
  body.reserve(64 + data_json.size() + req.req_id.size());
  body += R"({"data":)";
  body += data_json;
  body += R"(,"time":")";
  body += iso_now();
  body += R"(","reqId":")";
  body += req.req_id;
  body += R"("})";
  res.body = std::move(body);
}

void send_error(const net::HttpRequest& req, net::HttpResponse& res, unsigned status, std::string_view code, std::string_view message,
                const nlohmann::json& details) {
  res.status = status;
  res.content_type = "application/json; charset=utf-8";
  nlohmann::json err = {{"code", code}, {"message", message}};
  if (!details.is_null()) err["details"] = details;
  nlohmann::json body = {{"error", err}, {"time", iso_now()}, {"reqId", req.req_id}};
  // Invalid UTF-8 in a message must not turn a 4xx into a 500.
  res.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json parse_body(const net::HttpRequest& req) {
  if (req.body.empty()) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: empty body, JSON expected");
  try {
    return nlohmann::json::parse(req.body);
  } catch (const nlohmann::json::parse_error& e) {
    throw ApiError(400, "E-VAL-INVALID", std::string("Request validation failed: malformed JSON at byte ") + std::to_string(e.byte));
  }
}

}  // namespace cumulo::api
