// rules: compile and evaluate feature-flag rules. See include/appconfig/flags/rules.h.
#include "appconfig/flags/rules.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string.h>  // memmem: linear-time substring search (two-way in glibc and musl)

#include "appconfig/core/error.h"
#include "appconfig/core/text.h"
#include "appconfig/flags/regex.h"

namespace appconfig::rules {
namespace {

enum Op : uint8_t {
  kOpInvalid,
  kOpAnd, kOpOr, kOpNot,
  kOpEq, kOpGt, kOpGte, kOpLt, kOpLte,
  kOpBeginsWith, kOpEndsWith, kOpContains, kOpIn, kOpMatches, kOpExists, kOpSplit,
  kOpConst,  // true/false; flags bit 0 = value
  kOpLit,    // literal operand
  kOpVar,    // $key operand: a,b = key
  kOpList,   // list operand: count items from child
};

constexpr struct {
  std::string_view name;
  Op op;
} kOperators[] = {
    {"and", kOpAnd}, {"or", kOpOr}, {"not", kOpNot}, {"eq", kOpEq}, {"gt", kOpGt}, {"gte", kOpGte},
    {"lt", kOpLt}, {"lte", kOpLte}, {"begins_with", kOpBeginsWith}, {"ends_with", kOpEndsWith},
    {"contains", kOpContains}, {"in", kOpIn}, {"matches", kOpMatches}, {"exists", kOpExists},
    {"split", kOpSplit},
};

// Evaluation cost model, in steps (regex::run's unit: one Pike VM thread step,
// about 2 ns). Weighted so that every kind of work costs 1-3 ns per step on
// the reference machine; docs/feature-flags.md has the measurements.
constexpr uint64_t kStepsPerNode = 4;           // load a 40-byte node, dispatch
constexpr uint64_t kStepsPerValueParse = 8;     // parse_number + parse_timestamp of a context value
constexpr uint64_t kStepsPerListItem = 4;       // on top of the item's node: load, decode, compare
constexpr uint64_t kStepsPerHashedChunk = 8;    // FNV-1a: one multiply per byte
constexpr uint64_t bytes_steps(size_t bytes) { return bytes / 16 + 1; }  // memcmp-like work per 16 bytes

// Literal flags.
constexpr uint8_t kHasText = 1, kHasNum = 2, kNumInt = 4, kHasTs = 8;

// One compiled node, stored unaligned (read with memcpy) so a blob can be
// copied anywhere. Offsets are absolute in the blob; 0 means none (a blob
// never holds a node at offset 0).
struct RNode {
  uint8_t op;
  uint8_t flags;
  uint16_t count;  // children (operators, lists)
  uint32_t next;   // next sibling
  uint32_t child;  // first child
  uint32_t a, b;   // text / key / seed (offset, length); regex program (offset, length)
  uint32_t nanos;  // timestamp literal
  int64_t x;       // int value, or double bits (numbers, split pct × 1000)
  int64_t y;       // timestamp literal: epoch seconds
};
static_assert(sizeof(RNode) == 40);

int64_t bits_of(double d) {
  int64_t v;
  std::memcpy(&v, &d, 8);
  return v;
}
double double_of(int64_t v) {
  double d;
  std::memcpy(&d, &v, 8);
  return d;
}

struct Number {
  bool is_int;
  int64_t i;
  double d;
};

// Decimal number text: [+-]?digits[.digits][(e|E)[+-]?digits]. Integers that
// fit in 64 bits stay integers; everything else becomes a double.
bool parse_number(std::string_view t, Number& out) {
  if (t.empty() || t.size() > kMaxNumberText) return false;
  size_t i = 0;
  if (t[i] == '+' || t[i] == '-') ++i;
  const size_t d0 = i;
  while (i < t.size() && text::is_digit(t[i])) ++i;
  if (i == d0) return false;
  bool integral = true;
  if (i < t.size() && t[i] == '.') {
    integral = false;
    const size_t f0 = ++i;
    while (i < t.size() && text::is_digit(t[i])) ++i;
    if (i == f0) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    integral = false;
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    const size_t e0 = i;
    while (i < t.size() && text::is_digit(t[i])) ++i;
    if (i == e0) return false;
  }
  if (i != t.size()) return false;
  if (integral) {
    uint64_t mag = 0;
    bool overflow = false;
    for (size_t k = d0; k < t.size(); ++k) {
      const uint64_t dg = static_cast<uint64_t>(t[k] - '0');
      if (mag > (UINT64_MAX - dg) / 10) {
        overflow = true;
        break;
      }
      mag = mag * 10 + dg;
    }
    const bool negative = t[0] == '-';
    if (!overflow && mag <= (negative ? (uint64_t{1} << 63) : uint64_t{INT64_MAX})) {
      out.is_int = true;
      out.i = negative ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
      out.d = static_cast<double>(out.i);
      return true;
    }
  }
  char buf[kMaxNumberText + 1];
  std::memcpy(buf, t.data(), t.size());
  buf[t.size()] = 0;
  out.is_int = false;
  out.d = std::strtod(buf, nullptr);
  return true;
}

// ---------------------------------------------------------------- compile

// Rule compiler: an ion::Node tree -> RNodes, texts and regex programs appended to the Writer.
// Every function that compiles a value returns the offset of the node it wrote, or 0 with the
// error recorded in the CompileResult (offset 0 never holds a node; the first error wins).
// In order: the two entry points (boolean, operand), one function per operator family, the
// argument readers, then output and errors.
class Compiler {
 public:
  Compiler(Writer& w, CompileResult& r, uint64_t* work_left) : w_(w), r_(r), work_left_(work_left) {}

  // A boolean expression: the literal true or false, or (operator argument…).
  uint32_t boolean(const ion::Node& n, size_t depth) {
    if (depth > kMaxRuleDepth) return fail(Error::kTooDeep, n, "rule nested deeper than %zu levels", kMaxRuleDepth);
    if (n.type == ion::Type::kBool && !n.is_null) {
      RNode r{};
      r.op = kOpConst;
      r.flags = n.bool_value ? 1 : 0;
      return emit(r, n);
    }
    if (n.type != ion::Type::kSexp || n.is_null) {
      return fail(Error::kNotARule, n, "expected an operator expression such as (eq $key \"value\"), got %s",
                  n.is_null ? "null" : ion::type_name(n.type));
    }
    const ion::Node* head = n.first_child;
    if (head == nullptr || head->type != ion::Type::kSymbol || head->is_null) {
      return fail(Error::kNotARule, n, "an expression must start with an operator symbol");
    }
    const Op op = operator_named(head->text);
    if (op == kOpInvalid) {
      return fail(Error::kUnknownOperator, *head, "unknown operator '%.*s'", clip(head->text), head->text.data());
    }
    RNode r{};
    r.op = op;
    const uint32_t self = emit(r, n);
    if (self == 0) return 0;
    const Expr e{.n = n, .name = head->text, .first = head->next_sibling, .argc = n.num_children - 1, .op = op,
                 .self = self, .depth = depth};
    switch (op) {
      case kOpAnd:
      case kOpOr:
      case kOpNot: return logical(e);
      case kOpEq:
      case kOpGt:
      case kOpGte:
      case kOpLt:
      case kOpLte:
      case kOpBeginsWith:
      case kOpEndsWith:
      case kOpContains:
      case kOpIn: return comparison(e);
      case kOpMatches: return matches(e);
      case kOpExists: return exists(e);
      case kOpSplit: return split(e);
      default: break;
    }
    return fail(Error::kUnknownOperator, n, "unhandled operator");
  }

 private:
  Writer& w_;
  CompileResult& r_;
  size_t nodes_ = 0;
  uint64_t* work_left_;

  // An operator expression (name first …) whose node is already written at self.
  struct Expr {
    const ion::Node& n;
    std::string_view name;   // the operator as written
    const ion::Node* first;  // the first argument, null when there is none
    size_t argc;
    Op op;
    uint32_t self;
    size_t depth;
  };

  static Op operator_named(std::string_view name) {
    Op op = kOpInvalid;
    for (const auto& o : kOperators) {
      if (o.name == name) op = o.op;
    }
    return op;
  }

  // A value compared, tested or hashed: $key, a literal, a nested expression, or (where allowed) a
  // list.
  uint32_t operand(const ion::Node& n, size_t depth, bool allow_list) {
    if (depth > kMaxRuleDepth) return fail(Error::kTooDeep, n, "rule nested deeper than %zu levels", kMaxRuleDepth);
    if (n.is_null) return fail(Error::kBadOperand, n, "null is not a valid operand");
    RNode r{};
    r.op = kOpLit;
    char buf[40];
    switch (n.type) {
      case ion::Type::kSymbol:
        if (n.text.size() > 1 && n.text[0] == '$') {
          r.op = kOpVar;
          return text_node(r, n.text.substr(1), n);
        }
        return fail(Error::kBadOperand, n, "bare symbol '%.*s': write \"%.*s\" for a string or $%.*s for a context key",
                    clip(n.text), n.text.data(), clip(n.text), n.text.data(), clip(n.text), n.text.data());
      case ion::Type::kString: return string_literal(n);
      case ion::Type::kInt: {
        if (n.big) {  // read exactly by the Ion reader; a rule compares 64-bit numbers
          return fail(Error::kBadOperand, n, "integer %.*s%.*s beyond 64 bits cannot be compared as a number",
                      n.negative ? 1 : 0, "-", clip(n.text), n.text.data());
        }
        r.flags = kHasText | kHasNum | kNumInt;
        r.x = n.int_value;
        const int len = std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n.int_value));
        return text_node(r, std::string_view(buf, static_cast<size_t>(len)), n);
      }
      case ion::Type::kFloat:
      case ion::Type::kDecimal: {
        r.flags = kHasText | kHasNum;
        r.x = bits_of(n.float_value);
        const int len = std::snprintf(buf, sizeof buf, "%.17g", n.float_value);
        return text_node(r, std::string_view(buf, static_cast<size_t>(len)), n);
      }
      case ion::Type::kTimestamp:
        r.flags = kHasTs;
        r.y = n.timestamp.epoch_s;
        r.nanos = n.timestamp.nanos;
        return emit(r, n);
      case ion::Type::kBool:
        r.flags = kHasText;
        return text_node(r, n.bool_value ? "true" : "false", n);
      case ion::Type::kSexp: return boolean(n, depth);
      case ion::Type::kList:
        if (!allow_list) return fail(Error::kBadOperand, n, "a list is only valid as the list of 'in' or 'contains'");
        return list(n, depth);
      default:
        return fail(Error::kBadOperand, n, "a %s is not a valid operand", ion::type_name(n.type));
    }
  }

  // A string literal, also read as a number and as a timestamp when it parses as one.
  uint32_t string_literal(const ion::Node& n) {
    RNode r{};
    r.op = kOpLit;
    r.flags = kHasText;
    Number num;
    if (parse_number(n.text, num)) {
      r.flags |= kHasNum | (num.is_int ? kNumInt : 0);
      r.x = num.is_int ? num.i : bits_of(num.d);
    }
    ion::Timestamp ts;
    if (ion::parse_timestamp(n.text, ts)) {
      r.flags |= kHasTs;
      r.y = ts.epoch_s;
      r.nanos = ts.nanos;
    }
    return text_node(r, n.text, n);
  }

  // The list operand of 'in' or 'contains': its items are plain operands.
  uint32_t list(const ion::Node& n, size_t depth) {
    RNode l{};
    l.op = kOpList;
    l.count = static_cast<uint16_t>(n.num_children > 0xFFFF ? 0xFFFF : n.num_children);
    if (n.num_children > kMaxRuleNodes) return fail(Error::kTooLarge, n, "list too long");
    const uint32_t self = emit(l, n);
    if (self == 0) return 0;
    uint32_t prev = 0;
    for (const ion::Node* c = n.first_child; c != nullptr; c = c->next_sibling) {
      if (!plain(*c, "list")) return 0;
      const uint32_t child = operand(*c, depth + 1, false);
      if (child == 0) return 0;
      link(self, prev, child);
      prev = child;
    }
    return self;
  }

  // ---- operators

  // (and e…), (or e…): one or more expressions; (not e): exactly one.
  uint32_t logical(const Expr& e) {
    if (e.argc == 0 || (e.op == kOpNot && e.argc != 1)) {
      return fail(Error::kArity, e.n, "'%.*s' takes %s", clip(e.name), e.name.data(),
                  e.op == kOpNot ? "exactly one expression" : "one or more expressions");
    }
    uint32_t prev = 0;
    for (const ion::Node* c = e.first; c != nullptr; c = c->next_sibling) {
      if (!plain(*c, e.name)) return 0;
      const uint32_t child = boolean(*c, e.depth + 1);
      if (child == 0) return 0;
      link(e.self, prev, child);
      prev = child;
    }
    set_count(e.self, e.argc);
    return e.self;
  }

  // (eq a b) and the other two-operand tests; only 'contains' takes a list first, only 'in' second.
  uint32_t comparison(const Expr& e) {
    if (e.argc != 2) {
      return fail(Error::kArity, e.n, "'%.*s' takes exactly two operands", clip(e.name), e.name.data());
    }
    const ion::Node* second = e.first->next_sibling;
    if (!plain(*e.first, e.name) || !plain(*second, e.name)) return 0;
    const uint32_t l = operand(*e.first, e.depth + 1, e.op == kOpContains);
    if (l == 0) return 0;
    link(e.self, 0, l);
    const uint32_t r = operand(*second, e.depth + 1, e.op == kOpIn);
    if (r == 0) return 0;
    link(e.self, l, r);
    set_count(e.self, 2);
    return e.self;
  }

  // (matches in::v pattern::"re"), or positionally (matches v "re"). The pattern is compiled
  // straight into the blob: regex::compile writes nothing unless the whole program fits.
  uint32_t matches(const Expr& e) {
    const ion::Node* in = nullptr;
    const ion::Node* pattern = nullptr;
    if (!matches_arguments(e, in, pattern)) return 0;
    const uint32_t l = operand(*in, e.depth + 1, false);
    if (l == 0) return 0;
    link(e.self, 0, l);
    set_count(e.self, 1);
    const std::string_view re = pattern->text;
    const size_t at = w_.len;
    const regex::CompileResult rc = regex::compile(re, w_.data + at, w_.limit - at);
    if (!spend(rc.steps)) {
      // What went wrong first: callers prefix flag and file names and may clip the end.
      return fail(Error::kTooMuchWork, *pattern, "patterns need over %llu compile steps in all, at pattern \"%.*s\"",
                  static_cast<unsigned long long>(kMaxProfileCompileSteps), clip(re), re.data());
    }
    if (rc.error == regex::Error::kOutOfSpace) return out_of_space(e.n);
    if (rc.error != regex::Error::kNone) {
      return fail(Error::kBadPattern, *pattern, "%s at pattern byte %zu of \"%.*s\"", regex::error_message(rc.error),
                  rc.offset, clip(re), re.data());
    }
    w_.len = at + rc.program_len;
    set_span(e.self, at, rc.program_len);
    return e.self;
  }

  // (exists key::"name") or (exists $name).
  uint32_t exists(const Expr& e) {
    if (e.argc != 1) return fail(Error::kArity, e.n, "'exists' takes one argument: key::\"name\" or $name");
    const ion::Node& arg = *e.first;
    const std::string_view ann = ion::annotation(arg, 0);
    std::string_view key;
    if (ann == "key" && arg.num_annotations == 1 &&
        (arg.type == ion::Type::kString || arg.type == ion::Type::kSymbol) && !arg.is_null) {
      key = arg.text;
    } else if (arg.num_annotations == 0 && arg.type == ion::Type::kSymbol && !arg.is_null && arg.text.size() > 1 &&
               arg.text[0] == '$') {
      key = arg.text.substr(1);
    } else {
      return fail(Error::kBadArgument, arg, "'exists' takes key::\"name\" or $name");
    }
    const size_t at = w_.append(key.data(), key.size());
    if (at == SIZE_MAX) return out_of_space(e.n);
    set_span(e.self, at, key.size());
    return e.self;
  }

  // (split pct::P by::v seed::"s"): pct stored × 1000 as a double, the seed as text.
  uint32_t split(const Expr& e) {
    const ion::Node* pct = nullptr;
    const ion::Node* by = nullptr;
    const ion::Node* seed = nullptr;
    if (!split_arguments(e, pct, by, seed)) return 0;
    double p = 0;
    if (!percent(*pct, p)) return 0;
    std::string_view seed_text;
    if (seed != nullptr) {
      if (seed->is_null || (seed->type != ion::Type::kString && seed->type != ion::Type::kSymbol)) {
        return fail(Error::kBadOperand, *seed, "seed:: must be a string");
      }
      seed_text = seed->text;
    }
    const uint32_t l = operand(*by, e.depth + 1, false);
    if (l == 0) return 0;
    link(e.self, 0, l);
    set_count(e.self, 1);
    const size_t at = w_.append(seed_text.data(), seed_text.size());
    if (at == SIZE_MAX) return out_of_space(e.n);
    set_span(e.self, at, seed_text.size());
    RNode me = load(e.self);
    me.x = bits_of(p * 1000.0);
    store(e.self, me);
    return e.self;
  }

  // ---- arguments

  // Operands of most operators carry no annotation.
  bool plain(const ion::Node& c, std::string_view op) {
    if (c.num_annotations == 0) return true;
    fail(Error::kBadArgument, c, "unexpected annotation '%.*s::' in '%.*s'", clip(c.annotations[0]),
         c.annotations[0].data(), clip(op), op.data());
    return false;
  }

  // in:: and pattern:: once each (unannotated: in first, pattern second); the pattern a string.
  bool matches_arguments(const Expr& e, const ion::Node*& in, const ion::Node*& pattern) {
    size_t position = 0;
    for (const ion::Node* c = e.first; c != nullptr; c = c->next_sibling, ++position) {
      const std::string_view ann = ion::annotation(*c, 0);
      const ion::Node** slot = nullptr;
      if (c->num_annotations > 1) return fail(Error::kBadArgument, *c, "one annotation per argument");
      if (ann == "in" || (ann.empty() && position == 0)) slot = &in;
      else if (ann == "pattern" || (ann.empty() && position == 1)) slot = &pattern;
      if (slot == nullptr || *slot != nullptr) {
        return fail(Error::kBadArgument, *c, "'matches' takes in:: and pattern:: once each");
      }
      *slot = c;
    }
    if (in == nullptr || pattern == nullptr) {
      return fail(Error::kArity, e.n, "'matches' needs in::<value> and pattern::\"regex\"");
    }
    if (pattern->type != ion::Type::kString || pattern->is_null) {
      return fail(Error::kBadOperand, *pattern, "pattern:: must be a string");
    }
    return true;
  }

  // pct::, by:: and optionally seed::, each once and annotated with its name alone.
  bool split_arguments(const Expr& e, const ion::Node*& pct, const ion::Node*& by, const ion::Node*& seed) {
    for (const ion::Node* c = e.first; c != nullptr; c = c->next_sibling) {
      const std::string_view ann = ion::annotation(*c, 0);
      const ion::Node** slot = ann == "pct" ? &pct : ann == "by" ? &by : ann == "seed" ? &seed : nullptr;
      if (slot == nullptr || *slot != nullptr || c->num_annotations != 1) {
        return fail(Error::kBadArgument, *c, "'split' takes pct::, by:: and optionally seed::, once each");
      }
      *slot = c;
    }
    if (pct == nullptr || by == nullptr) return fail(Error::kArity, e.n, "'split' needs pct::<0-100> and by::<value>");
    return true;
  }

  // The value of pct::, a number from 0 to 100.
  bool percent(const ion::Node& pct, double& p) {
    if (pct.is_null) return fail(Error::kBadPercent, pct, "pct:: must be a number from 0 to 100");
    if (pct.type == ion::Type::kInt) {
      p = static_cast<double>(pct.int_value);
    } else if (pct.type == ion::Type::kFloat || pct.type == ion::Type::kDecimal) {
      p = pct.float_value;
    } else {
      return fail(Error::kBadPercent, pct, "pct:: must be a number from 0 to 100");
    }
    if (!(p >= 0.0 && p <= 100.0)) return fail(Error::kBadPercent, pct, "pct:: must be from 0 to 100");
    return true;
  }

  // ---- output

  // Charges compile work to the caller's budget (shared by every rule of a
  // profile); false once it is spent.
  bool spend(uint64_t steps) {
    if (work_left_ == nullptr) return true;
    if (steps > *work_left_) {
      *work_left_ = 0;
      return false;
    }
    *work_left_ -= steps;
    return true;
  }

  uint32_t emit(const RNode& r, const ion::Node& at) {
    if (++nodes_ > kMaxRuleNodes) return fail(Error::kTooLarge, at, "rule has more than %zu parts", kMaxRuleNodes);
    if (!spend(1)) {
      return fail(Error::kTooMuchWork, at, "rules need over %llu compile steps in all",
                  static_cast<unsigned long long>(kMaxProfileCompileSteps));
    }
    if (w_.len == 0 && w_.append("", 1) == SIZE_MAX) return out_of_space(at);  // offset 0 means "none"
    const size_t off = w_.append(&r, sizeof r, 8);
    if (off == SIZE_MAX || off > UINT32_MAX - sizeof r) return out_of_space(at);
    return static_cast<uint32_t>(off);
  }

  uint32_t text_node(RNode r, std::string_view text, const ion::Node& at) {
    const size_t off = w_.append(text.data(), text.size());
    if (off == SIZE_MAX) return out_of_space(at);
    r.a = static_cast<uint32_t>(off);
    r.b = static_cast<uint32_t>(text.size());
    return emit(r, at);
  }

  RNode load(uint32_t off) const {
    RNode r;
    std::memcpy(&r, w_.data + off, sizeof r);
    return r;
  }
  void store(uint32_t off, const RNode& r) { std::memcpy(w_.data + off, &r, sizeof r); }

  void link(uint32_t parent, uint32_t prev, uint32_t child) {
    if (prev == 0) {
      RNode p = load(parent);
      p.child = child;
      store(parent, p);
    } else {
      RNode p = load(prev);
      p.next = child;
      store(prev, p);
    }
  }

  void set_count(uint32_t self, size_t count) {
    RNode me = load(self);
    me.count = static_cast<uint16_t>(count);
    store(self, me);
  }

  // The node's a, b: bytes [at, at + len) of the blob (key, seed or regex program).
  void set_span(uint32_t self, size_t at, size_t len) {
    RNode me = load(self);
    me.a = static_cast<uint32_t>(at);
    me.b = static_cast<uint32_t>(len);
    store(self, me);
  }

  // ---- errors

  static int clip(std::string_view t) { return static_cast<int>(t.size() > 48 ? 48 : t.size()); }

  // Records the first error (code, input offset, message); returns 0, the "no node" offset.
  __attribute__((format(printf, 4, 5))) uint32_t fail(Error e, const ion::Node& at, const char* fmt, ...) {
    if (r_.error == Error::kNone) {
      r_.error = e;
      r_.offset = at.offset;
      va_list ap;
      va_start(ap, fmt);
      error::vfail(r_.message, sizeof r_.message, fmt, ap);
      va_end(ap);
    }
    return 0;
  }

  uint32_t out_of_space(const ion::Node& at) { return fail(Error::kOutOfSpace, at, "no room for the compiled rule"); }
};

// ---------------------------------------------------------------- evaluate

struct Val {
  bool missing;
  bool has_text, has_num, has_ts, num_int;
  std::string_view text;
  int64_t i;
  double d;
  ion::Timestamp ts;
};

constexpr int kUnordered = 2;

int cmp3(int64_t a, int64_t b) { return a < b ? -1 : a > b ? 1 : 0; }

// Exact comparison of an int64 with a double.
int cmp_int_double(int64_t i, double d) {
  if (d != d) return kUnordered;
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  const auto t = static_cast<int64_t>(d);  // truncation toward zero, in range
  if (i != t) return cmp3(i, t);
  const double frac = d - static_cast<double>(t);
  return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

int compare(const Val& l, const Val& r) {
  if (l.missing || r.missing) return kUnordered;
  if (l.has_num && r.has_num) {
    if (l.num_int && r.num_int) return cmp3(l.i, r.i);
    if (l.num_int) return cmp_int_double(l.i, r.d);
    if (r.num_int) {
      const int c = cmp_int_double(r.i, l.d);
      return c == kUnordered ? c : -c;
    }
    if (l.d != l.d || r.d != r.d) return kUnordered;
    return l.d < r.d ? -1 : l.d > r.d ? 1 : 0;
  }
  if (l.has_ts && r.has_ts) return ion::compare(l.ts, r.ts);
  if (l.has_text && r.has_text) {
    const int c = l.text.compare(r.text);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  return kUnordered;
}

class Evaluator {
 public:
  Evaluator(std::string_view blob, std::span<const ContextPair> ctx, uint64_t& steps_left)
      : blob_(blob), ctx_(ctx), left_(steps_left) {}
  bool corrupt = false;
  bool over_budget = false;
  bool stopped() const { return corrupt || over_budget; }

  // The value of the expression at off: a constant, or an operator applied to its operands.
  bool boolean(uint32_t off, size_t depth) {
    RNode r;
    if (!load(off, r) || depth > kMaxRuleDepth) return bad();
    if (!spend(kStepsPerNode)) return false;
    switch (r.op) {
      case kOpConst: return (r.flags & 1) != 0;
      case kOpAnd:
      case kOpOr: return and_or(r, depth);
      case kOpNot: {
        const bool v = boolean(r.child, depth + 1);
        return stopped() ? false : !v;
      }
      case kOpEq:
      case kOpGt:
      case kOpGte:
      case kOpLt:
      case kOpLte:
      case kOpBeginsWith:
      case kOpEndsWith:
      case kOpContains:
      case kOpIn: return comparison(r, depth);
      case kOpMatches: return matches(r, depth);
      case kOpExists: return exists(r);
      case kOpSplit: return split(r, depth);
      default: return bad();
    }
  }

 private:
  std::string_view blob_;
  std::span<const ContextPair> ctx_;
  uint64_t& left_;

  // ---- operators

  // (and …) is false at the first false child, (or …) true at the first true one.
  bool and_or(const RNode& r, size_t depth) {
    uint32_t c = r.child;
    for (uint16_t k = 0; k < r.count; ++k) {
      RNode cn;
      if (!load(c, cn)) return bad();
      const bool v = boolean(c, depth + 1);
      if (stopped()) return false;
      if (r.op == kOpAnd && !v) return false;
      if (r.op == kOpOr && v) return true;
      c = cn.next;
    }
    return r.op == kOpAnd;
  }

  // The two-operand tests: a list on the left of 'contains' or the right of 'in' is searched for
  // the other operand; otherwise the two values are ordered (eq … lte) or tested as texts.
  bool comparison(const RNode& r, size_t depth) {
    RNode ln, rn;
    if (r.count != 2 || !load(r.child, ln) || !load(ln.next, rn)) return bad();
    if (r.op == kOpContains && ln.op == kOpList) {
      Val needle;
      if (!operand(ln.next, depth + 1, needle)) return false;
      return any_equal(ln, needle, depth);
    }
    if (r.op == kOpIn && rn.op == kOpList) {
      Val needle;
      if (!operand(r.child, depth + 1, needle)) return false;
      return any_equal(rn, needle, depth);
    }
    Val l, v;
    if (!operand(r.child, depth + 1, l) || !operand(ln.next, depth + 1, v)) return false;
    if (r.op >= kOpBeginsWith) return text_test(r.op, l, v);
    if (!spend(bytes_steps(l.text.size() < v.text.size() ? l.text.size() : v.text.size()))) return false;
    const int c = compare(l, v);
    if (c == kUnordered) return false;
    switch (r.op) {
      case kOpEq: return c == 0;
      case kOpGt: return c > 0;
      case kOpGte: return c >= 0;
      case kOpLt: return c < 0;
      default: return c <= 0;
    }
  }

  // begins_with, ends_with, contains, and in (l a substring of v): false unless both are texts.
  bool text_test(uint8_t op, const Val& l, const Val& v) {
    if (l.missing || v.missing || !l.has_text || !v.has_text) return false;
    switch (op) {
      case kOpBeginsWith:
        if (!spend(bytes_steps(v.text.size()))) return false;
        return l.text.substr(0, v.text.size()) == v.text;
      case kOpEndsWith:
        if (!spend(bytes_steps(v.text.size()))) return false;
        return l.text.size() >= v.text.size() && l.text.substr(l.text.size() - v.text.size()) == v.text;
      case kOpContains: return has_substring(l.text, v.text);
      default: return has_substring(v.text, l.text);  // in: substring of the second
    }
  }

  // The regex program at a, b run over the operand's text, on the shared budget.
  bool matches(const RNode& r, size_t depth) {
    Val in;
    if (r.count != 1 || !operand(r.child, depth + 1, in)) return false;
    if (in.missing || !in.has_text) return false;
    std::string_view prog;
    if (!span(r.a, r.b, prog)) return bad();
    switch (regex::run(prog, in.text, left_)) {
      case regex::Outcome::kMatch: return true;
      case regex::Outcome::kNoMatch: return false;
      case regex::Outcome::kOverBudget: over_budget = true; return false;
      case regex::Outcome::kCorrupt: return bad();
    }
    return bad();
  }

  bool exists(const RNode& r) {
    std::string_view key;
    if (!span(r.a, r.b, key)) return bad();
    if (!spend(ctx_.size())) return false;
    return lookup(key) != nullptr;
  }

  // fnv1a_32(by ‖ seed) % 100000 below pct × 1000.
  bool split(const RNode& r, size_t depth) {
    Val by;
    std::string_view seed;
    if (r.count != 1 || !span(r.a, r.b, seed) || !operand(r.child, depth + 1, by)) return stopped() ? false : bad();
    if (by.missing || !by.has_text) return false;
    if (!spend(bytes_steps(by.text.size() + seed.size()) * kStepsPerHashedChunk)) return false;
    const uint32_t bucket = fnv1a_32(by.text, seed) % 100000u;
    return static_cast<double>(bucket) < double_of(r.x);
  }

  // ---- operands and the budget

  bool spend(uint64_t steps) {
    if (steps > left_) {
      left_ = 0;
      over_budget = true;
      return false;
    }
    left_ -= steps;
    return true;
  }

  // memmem is linear (two-way): std::string_view::find compares the whole
  // needle at every candidate position, n × m for "aaa…b" in "aaa…a".
  bool has_substring(std::string_view hay, std::string_view needle) {
    // glibc's memmem measured ~2 ns per byte of haystack + needle: one step a byte.
    if (!spend(hay.size() + needle.size() + 1)) return false;
    if (needle.empty()) return true;
    return memmem(hay.data(), hay.size(), needle.data(), needle.size()) != nullptr;
  }

  bool bad() {
    corrupt = true;
    return false;
  }

  bool load(uint32_t off, RNode& r) const {
    if (off == 0 || off > blob_.size() || blob_.size() - off < sizeof(RNode)) return false;
    std::memcpy(&r, blob_.data() + off, sizeof r);
    return true;
  }

  bool span(uint32_t off, uint32_t len, std::string_view& out) const {
    if (off > blob_.size() || len > blob_.size() - off) return false;
    out = blob_.substr(off, len);
    return true;
  }

  const ContextPair* lookup(std::string_view key) const {
    for (size_t i = ctx_.size(); i-- > 0;) {
      if (ctx_[i].key == key) return &ctx_[i];
    }
    return nullptr;
  }

  bool any_equal(const RNode& list, const Val& needle, size_t depth) {
    if (needle.missing) return false;
    uint32_t c = list.child;
    for (uint16_t k = 0; k < list.count; ++k) {
      RNode cn;
      if (!load(c, cn)) return bad();
      Val item;
      if (!operand(c, depth + 2, item)) return false;
      if (!spend(kStepsPerListItem +
                 bytes_steps(needle.text.size() < item.text.size() ? needle.text.size() : item.text.size()))) {
        return false;
      }
      if (compare(needle, item) == 0) return true;
      c = cn.next;
    }
    return false;
  }

  // Fills v from an operand node; false (and corrupt set) on a bad blob.
  bool operand(uint32_t off, size_t depth, Val& v) {
    RNode r;
    if (!load(off, r) || depth > kMaxRuleDepth + 1) return bad();
    if (!spend(kStepsPerNode)) return false;
    v = Val{};
    switch (r.op) {
      case kOpLit:
        if ((r.flags & kHasText) && !span(r.a, r.b, v.text)) return bad();
        v.has_text = (r.flags & kHasText) != 0;
        v.has_num = (r.flags & kHasNum) != 0;
        v.num_int = (r.flags & kNumInt) != 0;
        if (v.num_int) {
          v.i = r.x;
          v.d = static_cast<double>(r.x);
        } else {
          v.d = double_of(r.x);
        }
        v.has_ts = (r.flags & kHasTs) != 0;
        v.ts = ion::Timestamp{
            .epoch_s = r.y, .nanos = r.nanos, .offset_min = 0, .precision = ion::Precision::kFraction};
        return true;
      case kOpVar: {
        std::string_view key;
        if (!span(r.a, r.b, key)) return bad();
        // The scan of the pairs, then number and timestamp parsing (each
        // reads at most kMaxNumberText bytes).
        if (!spend(ctx_.size() + kStepsPerValueParse)) return false;
        const ContextPair* p = lookup(key);
        if (p == nullptr) {
          v.missing = true;
          return true;
        }
        v.has_text = true;
        v.text = p->value;
        Number num;
        if (parse_number(p->value, num)) {
          v.has_num = true;
          v.num_int = num.is_int;
          v.i = num.i;
          v.d = num.d;
        }
        v.has_ts = ion::parse_timestamp(p->value, v.ts);
        return true;
      }
      case kOpList: return bad();  // only valid where handled above
      default: {
        const bool b = boolean(off, depth);
        if (stopped()) return false;
        v.has_text = true;
        v.text = b ? "true" : "false";
        return true;
      }
    }
  }
};

}  // namespace

size_t Writer::append(const void* bytes, size_t n, size_t align) {
  const size_t pad = (align - len % align) % align;
  if (pad > limit - len || n > limit - len - pad) return SIZE_MAX;
  std::memset(data + len, 0, pad);
  if (n > 0) std::memcpy(data + len + pad, bytes, n);
  const size_t at = len + pad;
  len = at + n;
  return at;
}

const char* error_message(Error error) {
  switch (error) {
    case Error::kNone: return "ok";
    case Error::kNotARule: return "not a rule expression";
    case Error::kUnknownOperator: return "unknown operator";
    case Error::kArity: return "wrong number of operands";
    case Error::kBadOperand: return "invalid operand";
    case Error::kBadArgument: return "invalid annotated argument";
    case Error::kBadPattern: return "invalid regular expression";
    case Error::kBadPercent: return "split percentage out of range";
    case Error::kTooDeep: return "rule nested too deeply";
    case Error::kTooLarge: return "rule too large";
    case Error::kOutOfSpace: return "no room for the compiled rule";
    case Error::kTooMuchWork: return "rules too costly to compile";
  }
  return "unknown rule error";
}

CompileResult compile(const ion::Node& rule, Writer& w, uint64_t* work_left) {
  CompileResult r{};
  r.error = Error::kNone;
  const size_t saved = w.len;
  Compiler c(w, r, work_left);
  const uint32_t root = c.boolean(rule, 0);
  if (root == 0 || r.error != Error::kNone) {
    w.len = saved;
    if (r.error == Error::kNone) r.error = Error::kOutOfSpace;
    return r;
  }
  r.root = root;
  return r;
}

Result evaluate(std::string_view blob, uint32_t root, std::span<const ContextPair> context, uint64_t* steps_left) {
  uint64_t unlimited = UINT64_MAX;
  Evaluator e(blob, context, steps_left != nullptr ? *steps_left : unlimited);
  const bool v = e.boolean(root, 0);
  if (e.corrupt) return Result::kCorrupt;
  if (e.over_budget) return Result::kOverBudget;
  return v ? Result::kTrue : Result::kFalse;
}

uint32_t fnv1a_32(std::string_view a, std::string_view b) {
  // FNV-1a, 32-bit: offset basis 2166136261, prime 16777619 (draft-eastlake-fnv).
  uint32_t h = 2166136261u;
  for (const char ch : a) h = (h ^ static_cast<unsigned char>(ch)) * 16777619u;
  for (const char ch : b) h = (h ^ static_cast<unsigned char>(ch)) * 16777619u;
  return h;
}

}  // namespace appconfig::rules
