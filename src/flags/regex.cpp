// regex: pattern compiler and Pike VM. See include/appconfig/flags/regex.h.
//
// Compile: recursive-descent parse into a fixed AST array, then code
// generation into a fixed instruction array (counted repeats are expanded).
// Search: Pike VM (Thompson's construction simulated breadth-first; see Russ
// Cox, "Regular Expression Matching: the Virtual Machine Approach"): one list
// of threads per text position, each instruction at most once per list, so the
// work per position is bounded by the program size.
#include "appconfig/flags/regex.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "appconfig/core/text.h"
#include "appconfig/core/utf8.h"

namespace appconfig::regex {
namespace {

// Code points above Unicode: an invalid UTF-8 byte b decodes as kInvalidBase + b.
constexpr uint32_t kInvalidBase = 0x110000;
constexpr uint32_t kMaxCodePoint = kInvalidBase + 0xFF;

enum Op : uint8_t { kOpChar, kOpAny, kOpClass, kOpSplit, kOpJmp, kOpBol, kOpEol, kOpMatch };

struct Inst {
  uint8_t op;
  uint8_t pad;
  uint16_t a;  // Split: first (preferred) target; Jmp: target; Class: first range
  uint32_t b;  // Split: second target; Char: code point; Class: count | negated << 31
};
static_assert(sizeof(Inst) == 8);

struct Range {
  uint32_t lo, hi;
};
static_assert(sizeof(Range) == 8);

// Program layout: "RX1\0", u16 num_insts, u16 num_ranges, insts, ranges.
constexpr size_t kHeaderBytes = 8;
constexpr uint32_t kNegated = 0x80000000u;

enum AstKind : uint8_t { kEmpty, kLit, kAny, kClass, kBol, kEol, kCat, kAlt, kRep };
constexpr uint16_t kInfinite = 0xFFFF;
// Every pattern byte yields at most 3 AST nodes (atom, Rep, Cat link).
constexpr size_t kMaxAst = 3 * kMaxPatternBytes + 4;

struct Ast {
  AstKind kind;
  bool greedy;
  bool negated;
  uint16_t min, max;
  int32_t left, right;
  uint32_t value;  // Lit: code point; Class: first range
  uint32_t count;  // Class: number of ranges
  uint32_t pos;    // pattern byte offset (Rep: of its quantifier), for error messages
};

// ---------------------------------------------------------------- compile

// The compiler's work arrays, filled by one compile() and copied into its program. About 100 KB
// (static_assert below), so they live in static storage, not on the loop's stack. Their one user
// is compile() (its Parser and Emitter point here); compile runs at store time on the loop thread
// and never re-entrantly (nothing it calls compiles a pattern), so one set is enough.
struct Scratch {
  Ast ast[kMaxAst];          // Parser: the syntax tree
  Range ranges[kMaxRanges];  // Parser: every class's ranges, sorted per class
  Inst insts[kMaxInsts];     // Emitter: the program's instructions
};
static_assert(sizeof(Scratch) <= 112 * 1024);
Scratch compile_scratch;

// Recursive-descent parser: pattern bytes -> AST nodes and class ranges in a Scratch. The grammar,
// top-down as the functions below:
//   alt    := concat ('|' concat)*
//   concat := repeat*                     (up to '|', ')' or the end)
//   repeat := atom (quantifier '?'?)?     (* + ? {n} {n,} {n,m}; a second quantifier is an error)
//   atom   := '(' ['?:'] alt ')' | '[' class ']' | '.' | '^' | '$' | '\' escape | code point
class Parser {
 public:
  Parser(std::string_view p, Scratch& s)
      : ast(s.ast), ranges(s.ranges), p_(reinterpret_cast<const unsigned char*>(p.data())), n_(p.size()) {}

  // The root node, or -1 with error and error_pos set.
  int32_t parse() {
    const int32_t root = parse_alt(0);
    if (error == Error::kNone && pos_ < n_) fail(Error::kUnbalancedParen);  // a stray ')'
    return root;
  }

  Error error = Error::kNone;
  size_t error_pos = 0;
  Ast* const ast;
  size_t num_ast = 0;
  Range* const ranges;
  size_t num_ranges = 0;

 private:
  const unsigned char* p_;
  size_t n_;
  size_t pos_ = 0;

  // ---- grammar

  int32_t parse_alt(size_t depth) {
    if (depth > kMaxNesting) return fail(Error::kTooComplex);
    int32_t left = parse_concat(depth);
    while (error == Error::kNone && pos_ < n_ && p_[pos_] == '|') {
      ++pos_;
      const int32_t right = parse_concat(depth);
      if (right < 0) return -1;
      left = binary(kAlt, left, right);
    }
    return error == Error::kNone ? left : -1;
  }

  // A concatenation is a right-linked list of kCat nodes (left = item,
  // right = next kCat or -1), so code generation walks it without recursion.
  int32_t parse_concat(size_t depth) {
    int32_t head = -1, tail = -1;
    while (error == Error::kNone && pos_ < n_ && p_[pos_] != '|' && p_[pos_] != ')') {
      const int32_t item = parse_repeat(depth);
      if (item < 0) return -1;
      const int32_t cat = binary(kCat, item, -1);
      if (cat < 0) return -1;
      if (head < 0) {
        head = cat;
      } else {
        ast[tail].right = cat;
      }
      tail = cat;
    }
    if (error != Error::kNone) return -1;
    return head < 0 ? node(kEmpty) : head;
  }

  int32_t parse_repeat(size_t depth) {
    if (is_quantifier(p_[pos_]) && p_[pos_] != '{') return fail(Error::kNothingToRepeat);
    int32_t atom = parse_atom(depth);
    if (atom < 0) return -1;
    bool repeated = false;
    while (pos_ < n_ && is_quantifier(p_[pos_])) {
      uint16_t min = 0, max = 0;
      const unsigned char q = p_[pos_];
      const size_t quantifier_pos = pos_;
      if (q == '{') {
        const int r = read_counted(min, max);
        if (r < 0) return -1;
        if (r == 0) break;  // a literal '{' follows; parse_concat picks it up
      } else {
        ++pos_;
        min = q == '+' ? 1 : 0;
        max = q == '?' ? 1 : kInfinite;
      }
      if (repeated) return fail(Error::kNothingToRepeat);
      repeated = true;
      const int32_t rep = node(kRep);
      if (rep < 0) return -1;
      ast[rep].left = atom;
      ast[rep].pos = static_cast<uint32_t>(quantifier_pos);
      ast[rep].min = min;
      ast[rep].max = max;
      if (pos_ < n_ && p_[pos_] == '?') {
        ast[rep].greedy = false;
        ++pos_;
      }
      atom = rep;
    }
    return atom;
  }

  // Reads {n}, {n,} or {n,m} at pos_. Returns 0 when it is not a repeat
  // (then '{' is a literal, as in most engines), 1 on success, -1 on error.
  int read_counted(uint16_t& min, uint16_t& max) {
    size_t i = pos_ + 1;
    auto number = [&](uint32_t& v) {
      const size_t start = i;
      v = 0;
      while (i < n_ && text::is_digit(static_cast<char>(p_[i])) && i - start < 6) v = v * 10 + (p_[i++] - '0');
      return i > start;
    };
    uint32_t lo = 0, hi = 0;
    if (!number(lo)) return 0;
    if (i < n_ && p_[i] == '}') {
      hi = lo;
    } else if (i < n_ && p_[i] == ',') {
      ++i;
      if (i < n_ && p_[i] == '}') {
        hi = kInfinite;
      } else if (!number(hi)) {
        return 0;
      }
    } else {
      return 0;
    }
    if (i >= n_ || p_[i] != '}') return 0;
    if (lo > kMaxRepeat || (hi != kInfinite && (hi > kMaxRepeat || hi < lo))) {
      fail(Error::kBadRepeat);
      return -1;
    }
    pos_ = i + 1;
    min = static_cast<uint16_t>(lo);
    max = static_cast<uint16_t>(hi);
    return 1;
  }

  int32_t parse_atom(size_t depth) {
    switch (p_[pos_]) {
      case '(': ++pos_; return parse_group(depth);
      case '[': ++pos_; return parse_class();
      case '.': ++pos_; return node(kAny);
      case '^': ++pos_; return node(kBol);
      case '$': ++pos_; return node(kEol);
      case '\\': ++pos_; return parse_escape();
      default: {
        uint32_t cp;
        if (!literal_code_point(cp)) return -1;
        return literal(cp);
      }
    }
  }

  // After '(': a group or a non-capturing (?:…) group (the same thing here: nothing captures).
  int32_t parse_group(size_t depth) {
    if (pos_ < n_ && p_[pos_] == '?') {
      if (pos_ + 1 < n_ && p_[pos_ + 1] == ':') {
        pos_ += 2;
      } else {
        return fail(Error::kUnsupported);
      }
    }
    const int32_t inner = parse_alt(depth + 1);
    if (inner < 0) return -1;
    if (pos_ >= n_ || p_[pos_] != ')') return fail(Error::kUnbalancedParen);
    ++pos_;
    return inner;
  }

  // After a backslash outside a class: \d \w \s and their complements, or one code point.
  int32_t parse_escape() {
    if (pos_ >= n_) return fail(Error::kBadEscape);
    if (is_perl_class(p_[pos_])) {
      const int32_t id = node(kClass);
      if (id < 0) return -1;
      const size_t first = num_ranges;
      if (!add_perl_class(p_[pos_++])) return -1;
      normalize_class(first);
      ast[id].value = static_cast<uint32_t>(first);
      ast[id].count = static_cast<uint32_t>(num_ranges - first);
      return id;
    }
    uint32_t cp;
    if (!escape_code_point(cp)) return -1;
    return literal(cp);
  }

  // After '[': items up to the closing ']' (a ']' right after '[' or '[^' is a literal).
  int32_t parse_class() {
    const int32_t id = node(kClass);
    if (id < 0) return -1;
    if (pos_ < n_ && p_[pos_] == '^') {
      ast[id].negated = true;
      ++pos_;
    }
    const size_t first = num_ranges;
    bool first_item = true;
    for (;;) {
      if (pos_ >= n_) return fail(Error::kBadClass);
      if (p_[pos_] == ']' && !first_item) {
        ++pos_;
        break;
      }
      first_item = false;
      if (!class_item()) return -1;
    }
    normalize_class(first);
    ast[id].value = static_cast<uint32_t>(first);
    ast[id].count = static_cast<uint32_t>(num_ranges - first);
    return id;
  }

  // One class item: \d-style set, a code point, or a range lo-hi. False with error set.
  bool class_item() {
    uint32_t lo;
    if (p_[pos_] == '\\') {
      ++pos_;
      if (pos_ >= n_) return refuse(Error::kBadEscape);
      if (is_perl_class(p_[pos_])) return add_perl_class(p_[pos_++]);
      if (!escape_code_point(lo)) return false;
    } else if (!literal_code_point(lo)) {
      return false;
    }
    uint32_t hi = lo;
    if (pos_ + 1 < n_ && p_[pos_] == '-' && p_[pos_ + 1] != ']') {
      ++pos_;
      if (p_[pos_] == '\\') {
        ++pos_;
        if (pos_ >= n_) return refuse(Error::kBadEscape);
        if (is_perl_class(p_[pos_])) return refuse(Error::kBadClass);
        if (!escape_code_point(hi)) return false;
      } else if (!literal_code_point(hi)) {
        return false;
      }
      if (hi < lo) return refuse(Error::kBadClass);
    }
    return add_range(lo, hi);
  }

  // ---- code points

  // After a backslash (pos_ at the escaped byte): a single code point escape.
  // Returns false (error set) for unknown escapes.
  bool escape_code_point(uint32_t& cp) {
    const unsigned char c = p_[pos_];
    switch (c) {
      case 'n': cp = '\n'; ++pos_; return true;
      case 't': cp = '\t'; ++pos_; return true;
      case 'r': cp = '\r'; ++pos_; return true;
      case 'f': cp = '\f'; ++pos_; return true;
      case 'v': cp = '\v'; ++pos_; return true;
      case '0': cp = 0; ++pos_; return true;
      case 'x': return hex_code_point(2, cp);
      case 'u': return hex_code_point(4, cp);
      default:
        // Escaped punctuation stands for itself; letters and digits are
        // reserved (backreferences, \b, \p …) and rejected.
        if (c < 0x80 && !text::is_alnum(static_cast<char>(c))) {
          cp = c;
          ++pos_;
          return true;
        }
        return refuse(Error::kBadEscape);
    }
  }

  // \xHH or \uHHHH (pos_ at the 'x' or 'u'); a UTF-16 surrogate is not a code point.
  bool hex_code_point(size_t digits, uint32_t& cp) {
    if (pos_ + 1 + digits > n_) return refuse(Error::kBadEscape);
    uint32_t v = 0;
    for (size_t k = 1; k <= digits; ++k) {
      const int h = text::hex_value(static_cast<char>(p_[pos_ + k]));
      if (h < 0) return refuse(Error::kBadEscape);
      v = v * 16 + static_cast<uint32_t>(h);
    }
    if (v >= 0xD800 && v <= 0xDFFF) return refuse(Error::kBadEscape);
    pos_ += 1 + digits;
    cp = v;
    return true;
  }

  bool literal_code_point(uint32_t& cp) {
    const size_t len = utf8::decode(p_, n_, pos_, cp);
    if (len == 0) return refuse(Error::kBadUtf8);
    pos_ += len;
    return true;
  }

  // ---- classes

  static bool is_quantifier(unsigned char c) { return c == '*' || c == '+' || c == '?' || c == '{'; }

  static bool is_perl_class(unsigned char c) {
    return c == 'd' || c == 'D' || c == 'w' || c == 'W' || c == 's' || c == 'S';
  }

  bool add_range(uint32_t lo, uint32_t hi) {
    if (num_ranges >= kMaxRanges) return refuse(Error::kTooComplex);
    ranges[num_ranges++] = {lo, hi};
    return true;
  }

  // Adds the ranges of \d \w \s (or their complements for \D \W \S).
  bool add_perl_class(unsigned char letter) {
    static constexpr Range kDigit[] = {{'0', '9'}};
    static constexpr Range kWord[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
    static constexpr Range kSpace[] = {{'\t', '\r'}, {' ', ' '}};
    const Range* set;
    size_t count;
    switch (letter | 0x20) {
      case 'd': set = kDigit, count = 1; break;
      case 'w': set = kWord, count = 4; break;
      default: set = kSpace, count = 2; break;
    }
    if (letter >= 'a') {
      for (size_t i = 0; i < count; ++i) {
        if (!add_range(set[i].lo, set[i].hi)) return false;
      }
      return true;
    }
    uint32_t next = 0;  // complement over [0, kMaxCodePoint]; sets are sorted and disjoint
    for (size_t i = 0; i < count; ++i) {
      if (set[i].lo > next && !add_range(next, set[i].lo - 1)) return false;
      next = set[i].hi + 1;
    }
    return add_range(next, kMaxCodePoint);
  }

  // Sorts and merges the ranges [first, num_ranges) of the class just parsed,
  // so search() can test a code point by binary search (O(log ranges), not a
  // scan of every range). The set of code points is unchanged.
  void normalize_class(size_t first) {
    Range* r = ranges + first;
    const size_t n = num_ranges - first;
    std::sort(r, r + n, [](const Range& x, const Range& y) { return x.lo < y.lo; });
    size_t out = 0;
    for (size_t i = 0; i < n; ++i) {
      if (out > 0 && r[i].lo <= r[out - 1].hi + 1) {
        if (r[i].hi > r[out - 1].hi) r[out - 1].hi = r[i].hi;
      } else {
        r[out++] = r[i];
      }
    }
    num_ranges = first + out;
  }

  // ---- nodes and errors

  int32_t fail(Error e) {
    if (error == Error::kNone) {
      error = e;
      error_pos = pos_ < n_ ? pos_ : n_;
    }
    return -1;
  }
  bool refuse(Error e) {
    fail(e);
    return false;
  }

  int32_t node(AstKind kind) {
    if (num_ast >= kMaxAst) return fail(Error::kTooComplex);
    ast[num_ast] = Ast{.kind = kind, .greedy = true, .negated = false, .min = 0, .max = 0, .left = -1, .right = -1,
                       .value = 0, .count = 0, .pos = static_cast<uint32_t>(pos_)};
    return static_cast<int32_t>(num_ast++);
  }

  int32_t binary(AstKind kind, int32_t l, int32_t r) {
    const int32_t id = node(kind);
    if (id < 0) return id;
    ast[id].left = l;
    ast[id].right = r;
    return id;
  }

  int32_t literal(uint32_t cp) {
    const int32_t id = node(kLit);
    if (id >= 0) ast[id].value = cp;
    return id;
  }
};

// Code generation: AST -> instructions in a Scratch. Counted repeats are expanded (a{3} is aaa).
class Emitter {
 public:
  explicit Emitter(Scratch& s) : insts(s.insts) {}

  Inst* const insts;
  size_t num = 0;
  bool overflow = false;
  // Work done: one step per node visit. Counted repeats visit their body
  // `min` (+ optional) times whether or not it emits anything, so an empty or
  // zero-width body under nested repeats (`((){1000}){1000}`, `(?:a{0}){1000}`)
  // costs visits without instructions: this, not kMaxInsts, bounds the work.
  uint64_t steps = 0;
  uint64_t step_budget = kMaxCompileSteps;
  bool over_budget = false;
  size_t over_budget_pos = 0;  // the quantifier being expanded when the budget ran out

  bool stopped() const { return overflow || over_budget; }

  size_t emit(uint8_t op, uint16_t a = 0, uint32_t b = 0) {
    if (num >= kMaxInsts) {
      overflow = true;
      return kMaxInsts - 1;
    }
    insts[num] = Inst{.op = op, .pad = 0, .a = a, .b = b};
    return num++;
  }

  // rep_pos: pattern offset of the innermost counted repeat being expanded.
  void gen(const Ast* ast, int32_t id, size_t rep_pos) {
    if (stopped()) return;
    if (++steps > step_budget) {
      over_budget = true;
      over_budget_pos = rep_pos;
      return;
    }
    const Ast& n = ast[id];
    switch (n.kind) {
      case kEmpty: return;
      case kLit: emit(kOpChar, 0, n.value); return;
      case kAny: emit(kOpAny); return;
      case kClass:
        emit(kOpClass, static_cast<uint16_t>(n.value), n.count | (n.negated ? kNegated : 0));
        return;
      case kBol: emit(kOpBol); return;
      case kEol: emit(kOpEol); return;
      case kCat:
        for (int32_t c = id; c >= 0 && !stopped(); c = ast[c].right) gen(ast, ast[c].left, rep_pos);
        return;
      case kAlt: gen_alt(ast, n, rep_pos); return;
      case kRep: gen_repeat(ast, n); return;
    }
  }

 private:
  // split L1, L2; L1: left; jmp L3; L2: right; L3:
  void gen_alt(const Ast* ast, const Ast& n, size_t rep_pos) {
    const size_t split = emit(kOpSplit);
    gen(ast, n.left, rep_pos);
    const size_t jmp = emit(kOpJmp);
    const size_t second = num;
    gen(ast, n.right, rep_pos);
    if (stopped()) return;
    insts[split].a = static_cast<uint16_t>(split + 1);
    insts[split].b = static_cast<uint32_t>(second);
    insts[jmp].a = static_cast<uint16_t>(num);
  }

  // min copies of the body, then a loop (max infinite) or (max - min) optional copies.
  void gen_repeat(const Ast* ast, const Ast& n) {
    for (uint16_t i = 0; i < n.min && !stopped(); ++i) gen(ast, n.left, n.pos);
    if (n.max == kInfinite) {
      // L1: split L2, L3; L2: x; jmp L1; L3:
      const size_t split = emit(kOpSplit);
      gen(ast, n.left, n.pos);
      emit(kOpJmp, static_cast<uint16_t>(split));
      if (stopped()) return;
      set_split(split, split + 1, num, n.greedy);
      return;
    }
    // (max - min) optional copies, each "split body, END; body". Every
    // copy of the body has the same length, so the splits sit at a fixed
    // stride and can be patched without remembering them (no per-frame
    // array: this function recurses).
    const size_t first = num;
    size_t stride = 0;
    for (uint16_t i = n.min; i < n.max && !stopped(); ++i) {
      const size_t split = emit(kOpSplit);
      gen(ast, n.left, n.pos);
      if (i == n.min) stride = num - split;
    }
    if (stopped()) return;
    for (size_t k = 0; k < static_cast<size_t>(n.max - n.min); ++k) {
      set_split(first + k * stride, first + k * stride + 1, num, n.greedy);
    }
  }

  void set_split(size_t at, size_t body, size_t out, bool greedy) {
    insts[at].a = static_cast<uint16_t>(greedy ? body : out);
    insts[at].b = static_cast<uint32_t>(greedy ? out : body);
  }
};

// ---------------------------------------------------------------- search

// Ranges of one class are sorted by lo and disjoint (Parser::normalize_class),
// so a binary search finds the only range that can hold cp: O(log count). A
// corrupt program with unsorted ranges gets a wrong answer, never a read out
// of bounds.
bool in_ranges(const Range* ranges, uint32_t count, uint32_t cp) {
  uint32_t lo = 0, hi = count;  // the answer is the last range with ranges[i].lo <= cp
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (ranges[mid].lo <= cp) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo > 0 && cp <= ranges[lo - 1].hi;
}

// The counts in a program's header, when the magic, the counts and the size they imply agree.
bool read_header(std::string_view program, uint16_t& ni, uint16_t& nr) {
  if (program.size() < kHeaderBytes || std::memcmp(program.data(), "RX1", 4) != 0) return false;
  std::memcpy(&ni, program.data() + 4, 2);
  std::memcpy(&nr, program.data() + 6, 2);
  return ni != 0 && ni <= kMaxInsts && nr <= kMaxRanges &&
         program.size() == kHeaderBytes + size_t{ni} * sizeof(Inst) + size_t{nr} * sizeof(Range);
}

// A program copied out of its (unaligned) bytes and checked, on run()'s stack (12 KB).
struct Program {
  uint16_t ni, nr;
  Inst insts[kMaxInsts];
  Range ranges[kMaxRanges];

  // Copies the instructions and ranges (the header was read by read_header) and validates targets
  // once so the VM loop can trust them: every successor of every instruction (jump targets, and
  // pc + 1 for everything that falls through, anchors included) is inside the program.
  bool load(std::string_view program) {
    std::memcpy(insts, program.data() + kHeaderBytes, size_t{ni} * sizeof(Inst));
    std::memcpy(ranges, program.data() + kHeaderBytes + size_t{ni} * sizeof(Inst), size_t{nr} * sizeof(Range));
    for (size_t i = 0; i < ni; ++i) {
      const Inst& in = insts[i];
      if (in.op > kOpMatch) return false;
      if ((in.op == kOpSplit || in.op == kOpJmp) && in.a >= ni) return false;
      if (in.op == kOpSplit && in.b >= ni) return false;
      if (in.op == kOpClass && (size_t{in.a} + (in.b & ~kNegated) > nr)) return false;
      if (in.op != kOpSplit && in.op != kOpJmp && in.op != kOpMatch && i + 1 >= ni) return false;
    }
    return true;
  }
};

// The Pike VM over one loaded program and one text: the thread lists of the current and the next
// text position, and the stack and marks of the control-flow walk (on run()'s stack, 12 KB).
class Vm {
 public:
  Vm(const Program& p, std::string_view text, uint64_t steps)
      : steps(steps), p_(p), s_(reinterpret_cast<const unsigned char*>(text.data())), len_(text.size()) {
    std::memset(mark_, 0, sizeof(uint32_t) * p.ni);
  }

  // Steps taken so far (the cost model of regex.h: visits, thread steps, class tests).
  uint64_t steps;

  // Runs until a match, the end of the text, or steps over steps_left (checked once per text
  // position: one position costs at most 8 × ni steps, so the budget is overshot by at most that).
  Outcome search(uint64_t steps_left) {
    size_t pos = 0;
    for (;;) {
      if (steps > steps_left) return Outcome::kOverBudget;
      if (follow(clist_, cn_, 0, pos)) return Outcome::kMatch;  // a new thread starts at every position
      if (pos >= len_) return Outcome::kNoMatch;
      uint32_t cp;
      size_t adv = utf8::decode(s_, len_, pos, cp);
      if (adv == 0) {
        cp = kInvalidBase + s_[pos];
        adv = 1;
      }
      if (advance(cp, pos + adv)) return Outcome::kMatch;
      pos += adv;
    }
  }

 private:
  const Program& p_;
  const unsigned char* s_;
  size_t len_;
  uint16_t list_a_[kMaxInsts], list_b_[kMaxInsts];
  uint16_t* clist_ = list_a_;  // threads at the current position
  uint16_t* nlist_ = list_b_;  // threads at the next position
  size_t cn_ = 0, nn_ = 0;
  // Each pc is visited once per generation and pushes at most two successors,
  // so the explicit stack never holds more than 2 × ni + 1 entries.
  uint16_t stack_[2 * kMaxInsts + 1];
  uint32_t mark_[kMaxInsts];  // generation in which each pc was last visited
  uint32_t gen_ = 1;

  // Follows control flow from start_pc at text position pos, adding consuming
  // instructions to list (each once per generation). True when Match is reached.
  bool follow(uint16_t* list, size_t& n, uint16_t start_pc, size_t pos) {
    size_t sp = 0;
    stack_[sp++] = start_pc;
    while (sp > 0) {
      const uint16_t pc = stack_[--sp];
      if (mark_[pc] == gen_) continue;
      mark_[pc] = gen_;
      ++steps;
      const Inst& in = p_.insts[pc];
      switch (in.op) {
        case kOpMatch: return true;
        case kOpJmp: stack_[sp++] = in.a; break;
        case kOpSplit:
          // Push the second first so the preferred branch is explored first.
          stack_[sp++] = static_cast<uint16_t>(in.b);
          stack_[sp++] = in.a;
          break;
        case kOpBol:
          if (pos == 0) stack_[sp++] = static_cast<uint16_t>(pc + 1);
          break;
        case kOpEol:
          if (pos == len_) stack_[sp++] = static_cast<uint16_t>(pc + 1);
          break;
        default: list[n++] = pc; break;
      }
    }
    return false;
  }

  // Steps every current thread over cp; the survivors continue at text position next, which
  // becomes the current one. True when one of them reaches Match.
  bool advance(uint32_t cp, size_t next) {
    ++gen_;
    nn_ = 0;
    for (size_t t = 0; t < cn_; ++t) {
      const uint16_t pc = clist_[t];
      ++steps;
      if (consumes(p_.insts[pc], cp) && follow(nlist_, nn_, static_cast<uint16_t>(pc + 1), next)) return true;
    }
    uint16_t* tmp = clist_;
    clist_ = nlist_;
    nlist_ = tmp;
    cn_ = nn_;
    return false;
  }

  // Whether the consuming instruction in accepts cp.
  bool consumes(const Inst& in, uint32_t cp) {
    switch (in.op) {
      case kOpChar: return cp == in.b;
      case kOpAny: return cp != '\n';
      case kOpClass: {
        // A binary search: half a step per halving (150 ranges: 1 + 4
        // steps), as measured against a plain thread step.
        const uint32_t count_ranges = in.b & ~kNegated;
        steps += static_cast<uint64_t>(std::bit_width(count_ranges)) / 2;
        return in_ranges(p_.ranges + in.a, count_ranges, cp) != ((in.b & kNegated) != 0);
      }
      default: return false;
    }
  }
};

}  // namespace

const char* error_message(Error error) {
  switch (error) {
    case Error::kNone: return "ok";
    case Error::kTooLong: return "pattern too long";
    case Error::kTooComplex: return "pattern too complex (program size or nesting limit)";
    case Error::kBadEscape: return "unknown or unsupported escape";
    case Error::kUnbalancedParen: return "unbalanced parenthesis";
    case Error::kBadClass: return "malformed character class";
    case Error::kBadRepeat: return "malformed or too large {n,m} repeat";
    case Error::kNothingToRepeat: return "quantifier without anything to repeat";
    case Error::kUnsupported: return "unsupported group syntax (lookaround, flags)";
    case Error::kBadUtf8: return "pattern is not valid UTF-8";
    case Error::kOutOfSpace: return "no room for the compiled pattern";
    case Error::kTooMuchWork: return "too much compile work in counted repeats";
  }
  return "unknown regex error";
}

CompileResult compile(std::string_view pattern, uint8_t* out, size_t cap) {
  if (pattern.size() > kMaxPatternBytes) return {.error = Error::kTooLong, .offset = kMaxPatternBytes};
  Parser p(pattern, compile_scratch);
  const int32_t root = p.parse();
  // Parsing is one pass over the pattern: count it as one step per byte.
  const uint64_t parse_steps = pattern.size() + 1;
  if (p.error != Error::kNone) return {.error = p.error, .offset = p.error_pos, .steps = parse_steps};
  Emitter e(compile_scratch);
  e.gen(p.ast, root, 0);
  e.emit(kOpMatch);
  const uint64_t steps = parse_steps + e.steps;
  if (e.over_budget) return {.error = Error::kTooMuchWork, .offset = e.over_budget_pos, .steps = steps};
  if (e.overflow) return {.error = Error::kTooComplex, .steps = steps};
  const size_t len = kHeaderBytes + e.num * sizeof(Inst) + p.num_ranges * sizeof(Range);
  if (len > cap) return {.error = Error::kOutOfSpace, .steps = steps};
  const uint16_t ni = static_cast<uint16_t>(e.num), nr = static_cast<uint16_t>(p.num_ranges);
  std::memcpy(out, "RX1", 4);
  std::memcpy(out + 4, &ni, 2);
  std::memcpy(out + 6, &nr, 2);
  std::memcpy(out + kHeaderBytes, e.insts, e.num * sizeof(Inst));
  std::memcpy(out + kHeaderBytes + e.num * sizeof(Inst), p.ranges, p.num_ranges * sizeof(Range));
  return {.error = Error::kNone, .program_len = len, .steps = steps};
}

Outcome run(std::string_view program, std::string_view text, uint64_t& steps_left) {
  Program p;
  if (!read_header(program, p.ni, p.nr)) return Outcome::kCorrupt;
  // Copying and checking the program is work too: one step per instruction and range.
  const uint64_t load_steps = size_t{p.ni} + p.nr;
  if (load_steps > steps_left) {
    steps_left = 0;
    return Outcome::kOverBudget;
  }
  if (!p.load(program)) return Outcome::kCorrupt;
  Vm vm(p, text, load_steps);
  const Outcome outcome = vm.search(steps_left);
  steps_left = outcome == Outcome::kOverBudget || vm.steps > steps_left ? 0 : steps_left - vm.steps;
  return outcome;
}

bool search(std::string_view program, std::string_view text, uint64_t* steps) {
  uint64_t left = UINT64_MAX;
  const Outcome o = run(program, text, left);
  if (steps != nullptr) *steps = o == Outcome::kCorrupt ? 0 : UINT64_MAX - left;
  return o == Outcome::kMatch;
}

}  // namespace appconfig::regex
