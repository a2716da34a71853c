// `GET /ws/bus` on a tenant's host (Host: cl-o.<idTag>), spec/reference-
// implementation.md §7/§7.1 and spec/realtime.md §1.4:
//  - before the upgrade: unknown tenant → HTTP 404, the per-IP `websocket`
//    rate-limit bucket → HTTP 429 (with Retry-After);
//  - after it: a token of that tenant (`?token=` or `Authorization: Bearer`)
//    is required, else close 4401 (missing, invalid, expired, another
//    tenant's), 4403 for a share-link token (no user);
//  - client frames {"id","cmd","data"} are acknowledged
//    {"id": same, "cmd": "ack", "data": {"status": "pong"|"ok"}};
//  - server pushes come from realtime::Bus::publish; WS pings every 30 s.
#pragma once

#include <chrono>

#include "net/http.hpp"

namespace cumulo::api {
class Services;
}

namespace cumulo::realtime {

inline constexpr std::chrono::seconds kBusPingInterval{30};

/// The WsRouter decision for an upgrade request to /ws/bus.
net::WsRoute bus_route(api::Services& services, const net::HttpRequest& req);

}  // namespace cumulo::realtime
