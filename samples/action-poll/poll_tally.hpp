// The one native hook of action-poll, `tally`, as a pure function: JSON in,
// JSON out, no SDK, no state. The plugin (action_poll.cpp) only parses and
// serialises around it, and tests/actions/poll_definition_test.cpp runs it
// through the DSL engine without loading the plugin.
//
// It runs after the DSL part of the POLL:VOTE slot (poll.json), which has
// loaded the poll into the variable `poll` and checked that it is an open
// poll of this tenant. Input, as dsl::Env::run_native gives it:
//   {"hook": "on_receive" | "on_create",
//    "action": {"issuer", "subject", "content": {"option": N}, …},  the vote
//    "context": {"tenant_tag", …},
//    "vars": {"poll": {"content": {"options": […]}, "x": {"votes", "voters"}, …}}}
// Output: what the DSL engine should do next (dsl.hpp, run_hook):
//   - option out of range: {"status":"D","stop":true,"ops":[log]}: the vote
//     rests at D, is not forwarded, and the tally is untouched;
//   - otherwise {"ops":[update_action]} writing the poll's x:
//       x.votes  {"0": n0, "1": n1, …}  one count per option
//       x.voters {"@<voter>": option}    who chose what, so that a new vote
//                                        of the same voter moves their count
//     The host merges x, so only the voter's own entry is sent.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace action_poll {

using json = nlohmann::json;

/// j[key] for reading: null when j is not an object or has no such key.
inline const json& field(const json& j, const std::string& key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

inline json tally(const json& input) {
  const json& poll = field(field(input, "vars"), "poll");
  if (!poll.is_object()) throw std::invalid_argument("tally: no vars.poll (run get_action … \"as\": \"poll\" first)");
  const json& vote = field(input, "action");
  const json& options = field(field(poll, "content"), "options");
  const json& option = field(field(vote, "content"), "option");
  const int64_t n = options.is_array() ? static_cast<int64_t>(options.size()) : 0;

  // The check the DSL cannot make: it has no array length.
  if (!option.is_number_integer() || option.get<int64_t>() < 0 || option.get<int64_t>() >= n) {
    // Strings in returned ops are DSL templates: the engine fills in the vote's fields.
    json log = {{"op", "log"},
                {"level", "info"},
                {"message", "POLL:VOTE {action_id} of {issuer} refused: option {content.option} is not one of the " + std::to_string(n) + " options"}};
    return {{"status", "D"}, {"stop", true}, {"ops", json::array({log})}};
  }
  const int64_t choice = option.get<int64_t>();

  // "@" + idTag, as in "@idTag" subjects: a key that can never read as a DSL
  // operator ("and", "not"…) when the ops below are evaluated.
  const std::string voter = "@" + field(vote, "issuer").get<std::string>();
  const json& x = field(poll, "x");
  const json& previous = field(field(x, "voters"), voter);
  if (previous == option) return json::object();  // the same vote again: nothing changes

  json votes = json::object();
  for (int64_t i = 0; i < n; ++i) {
    const json& count = field(field(x, "votes"), std::to_string(i));
    int64_t c = count.is_number_integer() ? count.get<int64_t>() : 0;
    if (previous.is_number_integer() && previous.get<int64_t>() == i && c > 0) --c;  // the superseded vote
    if (i == choice) ++c;
    votes[std::to_string(i)] = c;
  }
  json voters = json::object();
  voters[voter] = choice;
  json update = {{"op", "update_action"}, {"target", "{subject}"}, {"set", {{"x", {{"votes", votes}, {"voters", voters}}}}}};
  return {{"ops", json::array({update})}};
}

}  // namespace action_poll
