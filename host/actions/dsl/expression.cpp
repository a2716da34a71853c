// The expression language (spec/reference-implementation.md §2.2). One
// walker serves both the load-time structural check and evaluation so the two
// can never disagree about what is an operator or how big an expression is.
#include <charconv>
#include <cmath>
#include <string>
#include <string_view>

#include "actions/dsl/internal.hpp"

namespace cumulo::actions::dsl {

namespace detail {

std::string text(const json& v) {
  if (v.is_null()) return {};
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

namespace {
bool path_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }
}  // namespace

bool valid_path(std::string_view p) {
  if (p.empty()) return false;
  if (!((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z') || p[0] == '_')) return false;
  bool seg_empty = false;
  for (char c : p) {
    if (c == '.') {
      if (seg_empty) return false;
      seg_empty = true;
    } else if (path_char(c)) {
      seg_empty = false;
    } else {
      return false;
    }
  }
  return !seg_empty;
}

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t dot = p.find('.', start);
    out.emplace_back(p.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

bool is_scope_root(std::string_view n) {
  static constexpr std::string_view kRoots[] = {"action_id",   "type",       "subtype",    "issuer", "audience",   "parent",  "subject",    "content",
                                                "attachments", "created_at", "expires_at", "flags",  "visibility", "context", "is_inbound", "is_outbound"};
  for (auto r : kRoots)
    if (r == n) return true;
  return false;
}

bool json_equal(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    // Integers compare exactly (ids and timestamps exceed 2^53 precision in
    // doubles only rarely, but exact is free); mixed pairs compare as double.
    if (a.is_number_integer() && b.is_number_integer()) {
      if (a.is_number_unsigned() != b.is_number_unsigned()) {
        const json& u = a.is_number_unsigned() ? a : b;
        const json& s = a.is_number_unsigned() ? b : a;
        auto sv = s.get<int64_t>();
        return sv >= 0 && static_cast<uint64_t>(sv) == u.get<uint64_t>();
      }
      return a == b;
    }
    return a.get<double>() == b.get<double>();
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!json_equal(a[i], b[i])) return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto jt = b.find(it.key());
      if (jt == b.end() || !json_equal(*it, *jt)) return false;
    }
    return true;
  }
  return a == b;
}

std::optional<char> status_letter(const json& v, bool resting_only) {
  if (!v.is_string()) return std::nullopt;
  std::string s = v.get<std::string>();
  char c = 0;
  if (s.size() == 1) {
    c = s[0];
  } else {
    for (auto& ch : s)
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    if (s == "active") c = 'A';
    if (s == "confirmation") c = 'C';
    if (s == "notification") c = 'N';
    if (s == "deleted") c = 'D';
    if (s == "pending") c = 'P';
  }
  if (c == 'A' || c == 'C' || c == 'N' || c == 'D') return c;
  if (c == 'P' && !resting_only) return c;
  return std::nullopt;
}

}  // namespace detail

using detail::text;

json Scope::root(std::string_view name) const {
  if (name == "context") return context;
  if (name == "is_inbound") return inbound;
  if (name == "is_outbound") return !inbound;
  if (detail::is_scope_root(name)) {
    // A scope without an action (tests, native-only callers) reads as nulls
    // rather than failing: the roots exist, they are just empty.
    if (!action) return nullptr;
    const ActionFields& a = *action;
    auto opt = [](const std::optional<std::string>& s) { return s ? json(*s) : json(); };
    if (name == "action_id") return a.action_id;
    if (name == "type") return a.type;
    if (name == "subtype") return opt(a.subtype);
    if (name == "issuer") return a.issuer;
    if (name == "audience") return opt(a.audience);
    if (name == "parent") return opt(a.parent);
    if (name == "subject") return opt(a.subject);
    if (name == "content") return a.content ? *a.content : json();
    if (name == "attachments") return a.attachments ? json(*a.attachments) : json();
    if (name == "created_at") return a.created_at;
    if (name == "expires_at") return a.expires_at ? json(*a.expires_at) : json();
    if (name == "flags") return opt(a.flags);
    if (name == "visibility") return a.visibility ? json(std::string(1, *a.visibility)) : json();
  }
  auto it = vars.find(std::string(name));
  if (it == vars.end()) throw HookError("unknown variable \"" + std::string(name) + "\"");
  return *it;
}

bool truthy(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return false;
    case json::value_t::boolean:
      return v.get<bool>();
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return v.get<double>() != 0.0;
    case json::value_t::string:
      return !v.get_ref<const std::string&>().empty();
    case json::value_t::array:
    case json::value_t::object:
      return !v.empty();
    default:
      return true;
  }
}

namespace {

enum class Op {
  kNone,
  kEq,
  kNe,
  kGt,
  kGte,
  kLt,
  kLte,
  kAnd,
  kOr,
  kNot,
  kAdd,
  kSubtract,
  kMultiply,
  kDivide,
  kConcat,
  kContains,
  kStartsWith,
  kEndsWith,
  kIf,
  kCoalesce
};

struct OpName {
  std::string_view name;
  Op op;
};
constexpr OpName kOperators[] = {{"eq", Op::kEq},
                                 {"ne", Op::kNe},
                                 {"gt", Op::kGt},
                                 {"gte", Op::kGte},
                                 {"lt", Op::kLt},
                                 {"lte", Op::kLte},
                                 {"and", Op::kAnd},
                                 {"or", Op::kOr},
                                 {"not", Op::kNot},
                                 {"add", Op::kAdd},
                                 {"subtract", Op::kSubtract},
                                 {"multiply", Op::kMultiply},
                                 {"divide", Op::kDivide},
                                 {"concat", Op::kConcat},
                                 {"contains", Op::kContains},
                                 {"startswith", Op::kStartsWith},
                                 {"endswith", Op::kEndsWith},
                                 {"coalesce", Op::kCoalesce}};

// An object is an operator when it has exactly one key naming one, or is the
// ternary {if, then[, else]}; any other object is a literal whose values are
// evaluated. (So a literal object cannot have a single key "eq" — a price
// the reference pays too.)
Op classify(const json& o, std::string_view& name) {
  if (o.contains("if")) {
    for (auto it = o.begin(); it != o.end(); ++it)
      if (it.key() != "if" && it.key() != "then" && it.key() != "else") return Op::kNone;
    name = "if";
    return Op::kIf;
  }
  if (o.size() != 1) return Op::kNone;
  const std::string& k = o.begin().key();
  for (const auto& op : kOperators)
    if (op.name == k) {
      name = op.name;
      return op.op;
    }
  return Op::kNone;
}

// Operand shape per operator, or an empty string when it is fine.
std::string operand_problem(Op op, std::string_view name, const json& o) {
  const json& arg = o.begin().value();
  switch (op) {
    case Op::kEq:
    case Op::kNe:
    case Op::kGt:
    case Op::kGte:
    case Op::kLt:
    case Op::kLte:
    case Op::kSubtract:
    case Op::kDivide:
    case Op::kContains:
    case Op::kStartsWith:
    case Op::kEndsWith:
      if (!arg.is_array() || arg.size() != 2) return std::string(name) + " expects an array of 2 operands";
      return {};
    case Op::kAnd:
    case Op::kOr:
    case Op::kAdd:
    case Op::kMultiply:
    case Op::kConcat:
    case Op::kCoalesce:
      if (!arg.is_array()) return std::string(name) + " expects an array of operands";
      return {};
    case Op::kNot:
      if (arg.is_array() && arg.size() != 1) return "not expects one operand";
      return {};
    case Op::kIf:
      if (!o.contains("then")) return "if without then";
      return {};
    case Op::kNone:
      break;
  }
  return {};
}

// A placeholder inside a template string: [begin, end) covers "{path}".
struct Placeholder {
  size_t begin, end;
  std::string_view path;
};

std::vector<Placeholder> placeholders(std::string_view s) {
  std::vector<Placeholder> out;
  size_t pos = 0;
  while ((pos = s.find('{', pos)) != std::string_view::npos) {
    size_t close = s.find('}', pos + 1);
    if (close == std::string_view::npos) break;
    std::string_view inner = s.substr(pos + 1, close - pos - 1);
    // "{a {b}" : the inner '{' may start the real placeholder.
    if (detail::valid_path(inner)) {
      out.push_back({pos, close + 1, inner});
      pos = close + 1;
    } else {
      ++pos;
    }
  }
  return out;
}

double finite_or_throw(double d, std::string_view op) {
  if (!std::isfinite(d)) throw HookError(std::string(op) + ": result is not a finite number");
  return d;
}

// Arithmetic is double-precision like the reference, but integral results
// come back as integers so counters stay 3, not 3.0, when stored or printed.
json number_json(double d, std::string_view op) {
  finite_or_throw(d, op);
  constexpr double kExact = 9007199254740992.0;  // 2^53
  if (std::trunc(d) == d && std::fabs(d) <= kExact) return static_cast<int64_t>(d);
  return d;
}

double to_number(const json& v, std::string_view op) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    double d = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (!s.empty() && ec == std::errc() && end == s.data() + s.size() && std::isfinite(d)) return d;
  }
  throw HookError(std::string(op) + ": not a number: " + v.dump());
}

class Walker {
 public:
  // check_only: structural pass (load time): every branch is visited, nothing
  // is resolved, problems are DefinitionErrors carrying the JSON path.
  Walker(const Scope* scope, const Limits& limits, std::string where) : scope_(scope), limits_(limits), where_(std::move(where)) {}

  json eval(const json& e, int depth, const std::string& path) {
    if (depth > limits_.max_depth) fail(path, "expression too deep");
    if (++nodes_ > limits_.max_nodes) fail(path, "too many nodes");
    if (e.is_string()) return scope_ ? interpolate(e.get_ref<const std::string&>()) : json();
    if (e.is_array()) {
      json out = json::array();
      for (size_t i = 0; i < e.size(); ++i) out.push_back(eval(e[i], depth + 1, path + "[" + std::to_string(i) + "]"));
      return out;
    }
    if (!e.is_object()) return e;
    std::string_view name;
    Op op = classify(e, name);
    if (op == Op::kNone) {
      json out = json::object();
      for (auto it = e.begin(); it != e.end(); ++it) out[it.key()] = eval(it.value(), depth + 1, path + "." + it.key());
      return out;
    }
    if (auto problem = operand_problem(op, name, e); !problem.empty()) fail(path, problem);
    return scope_ ? apply(op, name, e, depth, path) : check(op, e, depth, path);
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& problem) const {
    if (scope_) throw HookError(problem);
    throw DefinitionError(where_ + path + ": " + problem);
  }

  json check(Op op, const json& e, int depth, const std::string& path) {
    if (op == Op::kIf) {
      for (auto it = e.begin(); it != e.end(); ++it) eval(it.value(), depth + 1, path + "." + it.key());
      return nullptr;
    }
    const std::string sub = path + "." + e.begin().key();
    const json& arg = e.begin().value();
    if (arg.is_array()) {
      for (size_t i = 0; i < arg.size(); ++i) eval(arg[i], depth + 1, sub + "[" + std::to_string(i) + "]");
    } else {
      eval(arg, depth + 1, sub);
    }
    return nullptr;
  }

  json resolve(std::string_view path) const {
    auto segs = detail::split_path(path);
    json cur = scope_->root(segs[0]);
    for (size_t i = 1; i < segs.size(); ++i) {
      if (cur.is_null()) return nullptr;
      if (!cur.is_object()) throw HookError("cannot read \"" + segs[i] + "\" of a non-object in {" + std::string(path) + "}");
      auto it = cur.find(segs[i]);
      if (it == cur.end()) return nullptr;
      json next = *it;
      cur = std::move(next);
    }
    return cur;
  }

  json interpolate(const std::string& s) const {
    auto ph = placeholders(s);
    if (ph.empty()) return s;
    if (ph.size() == 1 && ph[0].begin == 0 && ph[0].end == s.size()) return resolve(ph[0].path);
    std::string out;
    size_t at = 0;
    for (const auto& p : ph) {
      out.append(s, at, p.begin - at);
      out += text(resolve(p.path));
      at = p.end;
    }
    out.append(s, at, std::string::npos);
    return out;
  }

  json apply(Op op, std::string_view name, const json& e, int depth, const std::string& path) {
    const int d = depth + 1;
    if (op == Op::kIf) {
      if (truthy(eval(e["if"], d, path))) return eval(e["then"], d, path);
      return e.contains("else") ? eval(e["else"], d, path) : json();
    }
    const json& arg = e.begin().value();
    auto at = [&](size_t i) { return eval(arg[i], d, path); };
    switch (op) {
      case Op::kEq:
        return detail::json_equal(at(0), at(1));
      case Op::kNe:
        return !detail::json_equal(at(0), at(1));
      case Op::kGt:
      case Op::kGte:
      case Op::kLt:
      case Op::kLte: {
        double a = to_number(at(0), name), b = to_number(at(1), name);
        if (op == Op::kGt) return a > b;
        if (op == Op::kGte) return a >= b;
        if (op == Op::kLt) return a < b;
        return a <= b;
      }
      case Op::kAnd:
        for (size_t i = 0; i < arg.size(); ++i)
          if (!truthy(at(i))) return false;
        return true;
      case Op::kOr:
        for (size_t i = 0; i < arg.size(); ++i)
          if (truthy(at(i))) return true;
        return false;
      case Op::kNot:
        return !truthy(eval(arg.is_array() ? arg[0] : arg, d, path));
      case Op::kAdd:
      case Op::kMultiply: {
        double acc = op == Op::kAdd ? 0.0 : 1.0;
        for (size_t i = 0; i < arg.size(); ++i) {
          double v = to_number(at(i), name);
          acc = finite_or_throw(op == Op::kAdd ? acc + v : acc * v, name);
        }
        return number_json(acc, name);
      }
      case Op::kSubtract:
        return number_json(to_number(at(0), name) - to_number(at(1), name), name);
      case Op::kDivide: {
        double a = to_number(at(0), name), b = to_number(at(1), name);
        if (b == 0.0) throw HookError("divide: division by zero");
        return number_json(a / b, name);
      }
      case Op::kConcat: {
        std::string out;
        for (size_t i = 0; i < arg.size(); ++i) out += text(at(i));
        return out;
      }
      case Op::kContains:
      case Op::kStartsWith:
      case Op::kEndsWith: {
        json hay = at(0), needle = at(1);
        if (hay.is_null()) return false;
        if (op == Op::kContains && hay.is_array()) {
          for (const auto& item : hay)
            if (detail::json_equal(item, needle)) return true;
          return false;
        }
        if (!hay.is_string()) throw HookError(std::string(name) + (op == Op::kContains ? ": expects a string or an array" : ": expects a string"));
        const std::string& h = hay.get_ref<const std::string&>();
        std::string n = text(needle);
        if (op == Op::kContains) return h.find(n) != std::string::npos;
        if (op == Op::kStartsWith) return h.starts_with(n);
        return h.ends_with(n);
      }
      case Op::kCoalesce:
        for (size_t i = 0; i < arg.size(); ++i)
          if (json v = at(i); !v.is_null()) return v;
        return nullptr;
      case Op::kIf:
      case Op::kNone:
        break;
    }
    return nullptr;
  }

  const Scope* scope_;
  const Limits& limits_;
  std::string where_;
  int nodes_ = 0;
};

}  // namespace

json evaluate(const json& expr, const Scope& scope, const Limits& limits) { return Walker(&scope, limits, {}).eval(expr, 1, ""); }

void check_expression(const json& expr, const std::string& where, const Limits& limits) { Walker(nullptr, limits, where).eval(expr, 1, ""); }

}  // namespace cumulo::actions::dsl
