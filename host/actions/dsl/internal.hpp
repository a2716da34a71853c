// Helpers shared by the three DSL translation units; not part of the
// contract in dsl.hpp (nothing outside host/actions/dsl includes this).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actions/dsl/dsl.hpp"

namespace cumulo::actions::dsl::detail {

/// Text form used by templates, concat, switch and key patterns: null → "",
/// strings bare, everything else JSON-encoded.
std::string text(const json& v);

/// A dotted path `root.seg.seg`: segments of [A-Za-z0-9_-], the root starting
/// with a letter or '_'. Anything else between braces is literal text, so a
/// message may contain `{` or `}` without an escape syntax.
bool valid_path(std::string_view p);
std::vector<std::string> split_path(std::string_view p);

/// Roots the scope provides itself; variables may not shadow them (the root
/// would silently win), so `as`/`var` names are checked against this list.
bool is_scope_root(std::string_view name);

/// Deep JSON equality where numbers compare by value (1 == 1.0).
bool json_equal(const json& a, const json& b);

/// "A" "C" "N" "D" "P" or confirmation/notification/active/deleted/pending
/// (case-insensitive words) → the status letter; nullopt for anything else.
/// `resting_only` rejects P (HookResult.status is a resting status).
std::optional<char> status_letter(const json& v, bool resting_only);

/// Structural check of an operation list (definition load and native hook
/// results): known ops, required/unknown fields, nested lists, expressions.
/// `count` accumulates executed-op slots recursively; the caller compares it
/// with the limit. Throws DefinitionError "<where>…: <problem>".
void check_ops(const json& ops, const std::string& where, const Limits& limits, int& count);

}  // namespace cumulo::actions::dsl::detail
