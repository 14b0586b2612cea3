// Tests for appconfig::http_parse.
//
// Corpus: llhttp's markdown conformance cases (nodejs/llhttp 9.4.2, MIT, see
// test/data/http/LICENSE-llhttp.txt). test/data/http/llhttp-cases.json is the
// pre-parsed copy from /work/shared/testdata/http; llhttp-cases.txt is made from
// it by test/data/http/convert.py (documented there) so this test needs no JSON
// library. `url` cases are skipped (they exercise llhttp's URL splitter, which
// we do not have); `pausing.md` and `*-finish` cases are skipped (llhttp API
// features: pause callbacks and llhttp_finish()).
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif

#include "appconfig/net/http_parse.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

namespace hp = appconfig::http_parse;

namespace {

// ---------------------------------------------------------------- corpus ---

struct ExpMsg {
  std::string method, url, version, body;
  int status = 0;
  unsigned flags = 0;
  uint64_t cl = 0;
  bool complete = false;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct Case {
  std::string id;  // file:line
  std::string type;
  int err = 0;
  size_t erroff = 0;
  int msgs = 0;
  bool noscan = false, skipbody = false;
  std::string input;
  std::vector<ExpMsg> exp;
};

std::string unhex(const std::string& h) {
  if (h == "-") return "";
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

std::string kv(const std::string& tok, const std::string& key) {
  std::string p = key + "=";
  if (tok.rfind(p, 0) != 0) ADD_FAILURE() << "expected " << key << " in " << tok;
  return tok.substr(p.size());
}

const std::vector<Case>& corpus() {
  static std::vector<Case> cases = [] {
    std::vector<Case> v;
    std::ifstream f(TEST_DATA_DIR "/http/llhttp-cases.txt");
    EXPECT_TRUE(f.good()) << "missing " TEST_DATA_DIR "/http/llhttp-cases.txt";
    std::string line;
    while (std::getline(f, line)) {
      std::istringstream ls(line);
      std::string kind;
      ls >> kind;
      if (kind == "case") {
        Case c;
        std::string a, b, cc, d, e, g;
        ls >> c.id >> c.type >> a >> b >> cc >> d >> e;
        c.err = std::stoi(kv(a, "err"));
        c.erroff = std::stoul(kv(b, "erroff"));
        c.msgs = std::stoi(kv(cc, "msgs"));
        c.noscan = kv(d, "noscan") == "1";
        c.skipbody = kv(e, "skipbody") == "1";
        v.push_back(c);
      } else if (kind == "input") {
        std::string h;
        ls >> h;
        v.back().input = unhex(h);
      } else if (kind == "msg") {
        ExpMsg m;
        std::string t[7];
        for (auto& s : t) ls >> s;
        m.method = unhex(kv(t[0], "method"));
        m.url = unhex(kv(t[1], "url"));
        m.version = unhex(kv(t[2], "version"));
        m.status = std::stoi(kv(t[3], "status"));
        m.flags = std::stoul(kv(t[4], "flags"), nullptr, 16);
        m.cl = std::stoull(kv(t[5], "cl"));
        m.complete = kv(t[6], "complete") == "1";
        v.back().exp.push_back(m);
      } else if (kind == "h") {
        std::string n, val;
        ls >> n >> val;
        v.back().exp.back().headers.emplace_back(unhex(n), unhex(val));
      } else if (kind == "body") {
        std::string h;
        ls >> h;
        v.back().exp.back().body = unhex(h);
      }
    }
    return v;
  }();
  return cases;
}

// ---------------------------------------------------------------- driver ---

// One parsed message as our parser saw it.
struct GotMsg {
  std::string method, target, reason, body;
  int status = 0;
  int version_minor = -1;
  hp::Method method_id = hp::Method::kOther;
  hp::BodyKind body_kind = hp::BodyKind::kNone;
  uint64_t cl = 0;
  bool keep_alive = false;
  bool body_complete = false;
  std::vector<std::pair<std::string, std::string>> headers;
  bool operator==(const GotMsg&) const = default;
};

struct Outcome {
  bool error = false;
  hp::Error code = hp::Error::kNone;
  size_t error_at = 0;     // absolute offset into the input
  bool extra_after_close = false;  // bytes followed a message that ends the connection
  std::vector<GotMsg> msgs;
  bool operator==(const Outcome&) const = default;
};

std::string describe(const Outcome& o) {
  std::ostringstream s;
  s << (o.error ? std::string("error ") + hp::error_message(o.code) + " at " + std::to_string(o.error_at) : "ok")
    << " msgs=" << o.msgs.size() << (o.extra_after_close ? " extra-after-close" : "");
  for (auto& m : o.msgs) s << " [" << m.method << m.status << " " << m.target << " body=" << m.body.size() << "]";
  return s.str();
}

// Simulates a server (or client) that receives `in` in pieces ending at the
// cumulative offsets `cuts` (the last is in.size()) and parses message after
// message the way http_server does: the head is re-parsed from the start of
// the unconsumed bytes on every arrival; bodies are skipped by Content-Length
// or decoded with decode_chunked.
// With `resume` a request head is parsed as the server does it: one
// RequestScan per head, continued on each arrival, and the bytes copied to a
// buffer at a new address before every call (the server compacts its buffer).
Outcome drive(const std::string& in, bool response, bool head_request, const std::vector<size_t>& cuts,
              size_t max_messages = 1000, bool resume = false) {
  Outcome o;
  size_t cut_i = 0;
  size_t avail = cuts.empty() ? in.size() : cuts[0];
  size_t pos = 0;
  auto more = [&]() {
    if (cut_i + 1 < cuts.size()) {
      avail = cuts[++cut_i];
      return true;
    }
    return false;
  };
  while (o.msgs.size() < max_messages) {
    if (pos == in.size()) return o;
    // Head.
    auto req = std::make_unique<hp::Request>();
    auto res = std::make_unique<hp::Response>();
    hp::Result r;
    hp::RequestScan scan;
    std::string moving[2];
    size_t calls = 0;
    for (;;) {
      std::string_view view(in.data() + pos, avail - pos);
      if (resume && !response) {
        std::string& m = moving[calls % 2];
        m.assign(view.data(), view.size());
        m.reserve(m.size() + 64 * (calls % 3));  // a different address, most of the time
        view = m;
      }
      ++calls;
      r = response ? hp::parse_response(view, *res, head_request)
                   : (resume ? hp::parse_request(view, *req, scan) : hp::parse_request(view, *req));
      if (r.status != hp::Status::kIncomplete) break;
      if (!more()) return o;  // EOF inside a head: not an error for this comparison
    }
    // Each byte of the head is stepped over once, however it was split.
    if (resume && !response) {
      EXPECT_LE(scan.scanned, avail - pos);
    }
    if (r.status == hp::Status::kError) {
      o.error = true;
      o.code = r.error;
      o.error_at = pos + r.error_offset;
      EXPECT_LT(r.error_offset, std::max<size_t>(avail - pos, 1)) << "error offset beyond the buffer";
      return o;
    }
    EXPECT_GT(r.consumed, 0u);
    EXPECT_LE(r.consumed, avail - pos);
    GotMsg m;
    const hp::Header* hs;
    size_t nh;
    if (response) {
      m.status = res->status;
      m.reason = std::string(res->reason);
      m.version_minor = res->version_minor;
      m.body_kind = res->body;
      m.cl = res->content_length;
      m.keep_alive = res->keep_alive;
      hs = res->headers;
      nh = res->num_headers;
    } else {
      m.method = std::string(req->method);
      m.method_id = req->method_id;
      m.target = std::string(req->target);
      m.version_minor = req->version_minor;
      m.body_kind = req->body;
      m.cl = req->content_length;
      m.keep_alive = req->keep_alive;
      hs = req->headers;
      nh = req->num_headers;
    }
    for (size_t k = 0; k < nh; ++k) m.headers.emplace_back(std::string(hs[k].name), std::string(hs[k].value));
    pos += r.consumed;
    // llhttp's skipBody meta on a request: the harness declares "no body".
    if (!response && head_request) m.body_kind = hp::BodyKind::kNone;
    // Body.
    if (m.body_kind == hp::BodyKind::kContentLength) {
      uint64_t left = m.cl;
      for (;;) {
        size_t take = static_cast<size_t>(std::min<uint64_t>(left, avail - pos));
        m.body.append(in, pos, take);
        pos += take;
        left -= take;
        if (left == 0) break;
        if (!more()) {
          o.msgs.push_back(m);
          return o;
        }
      }
      m.body_complete = true;
    } else if (m.body_kind == hp::BodyKind::kChunked) {
      hp::ChunkedDecoder d{};
      for (;;) {
        std::string scratch = in.substr(pos, avail - pos);
        hp::ChunkedResult cr = hp::decode_chunked(d, scratch.data(), scratch.size(), UINT64_MAX);
        EXPECT_LE(cr.data_len, cr.consumed);
        m.body.append(scratch, 0, cr.data_len);
        if (cr.status == hp::Status::kError) {
          o.msgs.push_back(m);
          o.error = true;
          o.code = cr.error;
          o.error_at = pos + cr.consumed;
          return o;
        }
        // The bytes after `consumed` must be left untouched (pipelining).
        EXPECT_EQ(scratch.substr(cr.consumed), in.substr(pos + cr.consumed, avail - pos - cr.consumed));
        pos += cr.consumed;
        if (cr.status == hp::Status::kComplete) break;
        EXPECT_EQ(pos, avail) << "kIncomplete must consume everything";
        if (!more()) {
          o.msgs.push_back(m);
          return o;
        }
      }
      m.body_complete = true;
    } else if (m.body_kind == hp::BodyKind::kUntilClose) {
      m.body = in.substr(pos);
      pos = in.size();
    } else {
      m.body_complete = true;
    }
    o.msgs.push_back(m);
    if (!m.keep_alive) {
      if (pos < in.size()) o.extra_after_close = true;
      return o;
    }
  }
  return o;
}

std::vector<size_t> whole(const std::string& in) { return {in.size()}; }
std::vector<size_t> bytewise(const std::string& in) {
  std::vector<size_t> c;
  for (size_t i = 1; i <= in.size(); ++i) c.push_back(i);
  if (c.empty()) c.push_back(0);
  return c;
}
std::vector<size_t> random_cuts(const std::string& in, std::mt19937& rng) {
  std::set<size_t> s;
  if (!in.empty()) {
    std::uniform_int_distribution<size_t> d(1, in.size());
    size_t k = std::uniform_int_distribution<size_t>(0, 6)(rng);
    for (size_t i = 0; i < k; ++i) s.insert(d(rng));
  }
  s.insert(in.size());
  return {s.begin(), s.end()};
}

// ---------------------------------------------------------- exceptions ---

// Cases where our verdict deliberately differs from llhttp's, with the reason.
// "reject" = llhttp accepts, we reject. "accept" = llhttp rejects, we accept.
const std::map<std::string, std::string>& exceptions() {
  static const std::map<std::string, std::string> m = {
      // accept: a method is any token (RFC 9110 §9.1); unknown ones are the
      // server's business (501), not a syntax error. llhttp keeps a fixed list.
      {"request/invalid.md:66", "accept: ANNOUNCE is a valid token method over HTTP"},
      {"request/invalid.md:356", "accept: MKCOLA is a valid token method"},
      // reject: asterisk-form is for OPTIONS only (RFC 9112 §3.2.4); SSDP is not HTTP.
      {"request/method.md:135", "reject: M-SEARCH * is asterisk-form without OPTIONS"},
      // reject: only HTTP-version (RFC 9112 §2.3); llhttp also speaks RTSP and ICE.
      {"request/method.md:372", "reject: ICE/1.0 protocol"},
      {"request/method.md:400", "reject: RTSP/1.0 protocol"},
      {"request/method.md:430", "reject: RTSP/1.0 protocol"},
      // reject: HTTP/0.9 simple requests are not supported (brief; RFC 9112 §2.3 needs a version).
      {"request/sample.md:314", "reject: HTTP/0.9 request without version"},
      {"response/sample.md:40", "reject: RTSP/1.1 status line"},
      {"response/sample.md:60", "reject: ICE/1.1 status line"},
      {"response/sample.md:645", "reject: HTTP/0.9 status line (505)"},
      // reject: a server answers codings it does not implement with 501 (RFC 9112 §6.1).
      {"request/transfer-encoding.md:751", "reject: Transfer-Encoding: deflate, chunked"},
      {"request/transfer-encoding.md:793", "reject: Transfer-Encoding: deflate + chunked in two lines"},
  };
  return m;
}

bool is_skipped_file(const std::string& id) {
  return id.rfind("request/pausing.md", 0) == 0 || id.rfind("response/pausing.md", 0) == 0;
}

bool llhttp_accepts(const Case& c) {
  // 22/23 = paused for Upgrade/CONNECT or the HTTP/2 preface: llhttp stops
  // parsing there, it does not fail.
  return c.err == 0 || c.err == 22 || c.err == 23;
}

// ---------------------------------------------------------------- tests ---

TEST(HttpParseCorpus, Loaded) {
  // 272 cases minus 21 url cases.
  EXPECT_EQ(corpus().size(), 251u);
}

// Every split of the input gives the same outcome as the whole input.
TEST(HttpParseCorpus, SplitsAgreeWithWhole) {
  uint32_t seed = std::random_device{}();
  std::printf("random split seed %u\n", seed);
  std::mt19937 rng(seed);
  size_t checked = 0;
  for (const Case& c : corpus()) {
    if (c.type.find("finish") != std::string::npos) continue;
    bool response = c.type.rfind("response", 0) == 0;
    Outcome w = drive(c.input, response, c.skipbody, whole(c.input));
    Outcome b = drive(c.input, response, c.skipbody, bytewise(c.input));
    EXPECT_EQ(w, b) << c.id << " bytewise: whole=" << describe(w) << " split=" << describe(b);
    for (int k = 0; k < 20; ++k) {
      auto cuts = random_cuts(c.input, rng);
      Outcome s = drive(c.input, response, c.skipbody, cuts);
      ASSERT_EQ(w, s) << c.id << " seed=" << seed << " iteration " << k << ": whole=" << describe(w)
                      << " split=" << describe(s);
    }
    ++checked;
  }
  EXPECT_GT(checked, 200u);
}

// The same with a resumed scan (the server's way): same outcomes, and the
// scan never steps over a byte twice.
TEST(HttpParseCorpus, ResumedScanAgreesWithWhole) {
  uint32_t seed = std::random_device{}();
  std::printf("random split seed %u\n", seed);
  std::mt19937 rng(seed);
  size_t checked = 0;
  for (const Case& c : corpus()) {
    if (c.type.find("finish") != std::string::npos) continue;
    if (c.type.rfind("response", 0) == 0) continue;
    Outcome w = drive(c.input, false, c.skipbody, whole(c.input));
    Outcome b = drive(c.input, false, c.skipbody, bytewise(c.input), 1000, true);
    EXPECT_EQ(w, b) << c.id << " bytewise: whole=" << describe(w) << " resumed=" << describe(b);
    for (int k = 0; k < 20; ++k) {
      auto cuts = random_cuts(c.input, rng);
      Outcome s = drive(c.input, false, c.skipbody, cuts, 1000, true);
      ASSERT_EQ(w, s) << c.id << " seed=" << seed << " iteration " << k << ": whole=" << describe(w)
                      << " resumed=" << describe(s);
    }
    ++checked;
  }
  EXPECT_GT(checked, 100u);
}

// The worst slow client: a head at the size limit, one byte per read. Work is
// linear in the head (it was n^2/2 = 134 M byte checks when every call started
// at byte 0), and the verdict is the same as for the whole head.
TEST(HttpParseResume, ByteAtATimeHeadIsLinear) {
  std::string head = "GET /x HTTP/1.1\r\n";
  while (head.size() + 300 < hp::kDefaultMaxHeaderBytes) head += "X-Long: " + std::string(250, 'v') + "\r\n";
  head += "\r\n";
  auto req = std::make_unique<hp::Request>();
  hp::RequestScan scan;
  hp::Result r{};
  for (size_t len = 1; len <= head.size(); ++len) {
    r = hp::parse_request(std::string_view(head.data(), len), *req, scan);
    if (len < head.size()) {
      ASSERT_EQ(r.status, hp::Status::kIncomplete) << len;
    }
  }
  ASSERT_EQ(r.status, hp::Status::kComplete);
  EXPECT_EQ(r.consumed, head.size());
  EXPECT_EQ(req->num_headers, (head.size() - 19) / 260);
  EXPECT_EQ(scan.scanned, head.size());
  // Past the limit: 431 at the limit, as without a scan.
  std::string big = head.substr(0, head.size() - 2) + std::string(hp::kDefaultMaxHeaderBytes, 'a');
  hp::RequestScan s2;
  for (size_t len = 1; len <= big.size(); len += 7) r = hp::parse_request(std::string_view(big.data(), len), *req, s2);
  EXPECT_EQ(r.status, hp::Status::kError);
  EXPECT_EQ(r.error, hp::Error::kHeadersTooLarge);
  EXPECT_LE(s2.scanned, hp::kDefaultMaxHeaderBytes);
}

TEST(HttpParseCorpus, VerdictsMatchLlhttp) {
  size_t compared = 0, excepted = 0, lenient_rejected = 0;
  std::set<std::string> used_exceptions;
  for (const Case& c : corpus()) {
    if (is_skipped_file(c.id) || c.type.find("finish") != std::string::npos) continue;
    bool response = c.type.rfind("response", 0) == 0;
    bool lenient = c.type.find("-lenient-") != std::string::npos;
    // Lenient cases show llhttp's relaxed behaviour: a strict parser must reject.
    bool expect_ok = !lenient && llhttp_accepts(c);
    // After an Upgrade/CONNECT pause llhttp stops; compare only what it parsed.
    size_t limit = (c.err == 22 || c.err == 23) ? c.exp.size() : 1000;
    Outcome o = drive(c.input, response, c.skipbody, whole(c.input), limit);
    // A message that ends the connection followed by more bytes: llhttp says
    // CLOSED_CONNECTION (5); the server simply closes, which we count as reject.
    bool we_ok = !o.error && !(o.extra_after_close && limit == 1000);
    auto ex = exceptions().find(c.id);
    if (ex != exceptions().end()) {
      used_exceptions.insert(c.id);
      EXPECT_NE(we_ok, expect_ok) << c.id << ": listed exception no longer differs (" << ex->second << ")";
      ++excepted;
      continue;
    }
    ++compared;
    EXPECT_EQ(we_ok, expect_ok) << c.id << " (" << c.type << " llhttp err=" << c.err << "): ours " << describe(o)
                                << "\n input: " << testing::PrintToString(c.input);
    if (lenient && !we_ok) ++lenient_rejected;
    if (!expect_ok || !we_ok) continue;
    // Accepted: the heads must carry what llhttp's log spans say.
    ASSERT_EQ(o.msgs.size(), c.exp.size()) << c.id << " " << describe(o);
    EXPECT_GE(static_cast<int>(o.msgs.size()), c.msgs) << c.id;
    for (size_t k = 0; k < o.msgs.size(); ++k) {
      const GotMsg& g = o.msgs[k];
      const ExpMsg& e = c.exp[k];
      std::string where = c.id + " message " + std::to_string(k);
      if (!response) {
        EXPECT_EQ(g.method, e.method) << where;
        EXPECT_EQ(g.target, e.url) << where;
      } else {
        EXPECT_EQ(g.status, e.status) << where;
      }
      EXPECT_EQ("1." + std::to_string(g.version_minor), e.version) << where;
      ASSERT_EQ(g.headers.size(), e.headers.size()) << where;
      for (size_t h = 0; h < g.headers.size(); ++h) {
        EXPECT_EQ(g.headers[h].first, e.headers[h].first) << where;
        // llhttp keeps trailing whitespace in values; we strip it (OWS, RFC 9110 §5.5).
        std::string ev = e.headers[h].second;
        while (!ev.empty() && (ev.back() == ' ' || ev.back() == '\t')) ev.pop_back();
        EXPECT_EQ(g.headers[h].second, ev) << where;
      }
      // skipBody: llhttp's harness declared "no body"; after an Upgrade/CONNECT
      // pause the rest is tunnel data, not a body.
      bool last_paused = (c.err == 22 || c.err == 23) && k + 1 == o.msgs.size();
      if (c.skipbody || last_paused) continue;
      bool no_body = g.body_kind == hp::BodyKind::kNone;
      if (e.flags & 0x08) {
        EXPECT_TRUE(g.body_kind == hp::BodyKind::kChunked || (response && no_body)) << where;
      }
      if (e.flags & 0x20) {
        EXPECT_TRUE((g.body_kind == hp::BodyKind::kContentLength && g.cl == e.cl) || (response && no_body)) << where;
      }
      if (!(e.flags & 0x28) && !response) {
        EXPECT_EQ(g.body_kind, hp::BodyKind::kNone) << where;
      }
      EXPECT_EQ(g.body, e.body) << where;
      if (e.complete) {
        EXPECT_TRUE(g.body_complete) << where;
      }
      // Connection flags: close (0x2) => not keep-alive.
      // (llhttp also honours the non-standard Proxy-Connection; we do not.)
      bool has_connection = std::any_of(e.headers.begin(), e.headers.end(),
                                        [](auto& h) { return appconfig::text::iequals(h.first, "connection"); });
      if ((e.flags & 0x2) && has_connection) {
        EXPECT_FALSE(g.keep_alive) << where;
      }
    }
  }
  for (auto& [id, why] : exceptions()) EXPECT_TRUE(used_exceptions.count(id)) << "stale exception " << id;
  EXPECT_GT(compared, 180u);
  // 41 lenient + finish cases minus 4 finish cases; none is on the exception list.
  EXPECT_EQ(lenient_rejected, 37u);
  std::printf("compared %zu llhttp cases (%zu lenient, all rejected), %zu listed exceptions\n", compared,
              lenient_rejected, excepted);
}

}  // namespace

// ------------------------------------------------------ hand-written ---

namespace {

// Places `s` at the very end of a readable page followed by a PROT_NONE page,
// so any read past the end faults (picohttpparser's test technique).
class GuardedBuffer {
 public:
  GuardedBuffer() {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_ = page_ * 17;  // 16 readable pages + 1 guard page
    base_ = static_cast<char*>(mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    EXPECT_NE(base_, MAP_FAILED);
    EXPECT_EQ(mprotect(base_ + page_ * 16, page_, PROT_NONE), 0);
  }
  ~GuardedBuffer() { munmap(base_, size_); }
  std::string_view place(std::string_view s) {
    EXPECT_LE(s.size(), page_ * 16);
    char* dst = base_ + page_ * 16 - s.size();
    memcpy(dst, s.data(), s.size());
    return {dst, s.size()};
  }
  char* end() { return base_ + page_ * 16; }

 private:
  size_t page_ = 0, size_ = 0;
  char* base_ = nullptr;
};

hp::Result req(std::string_view s, hp::Request& r, size_t max_head = hp::kDefaultMaxHeaderBytes,
               size_t max_target = hp::kDefaultMaxTargetBytes) {
  return hp::parse_request(s, r, max_head, max_target);
}

struct ReqFixture : ::testing::Test {
  std::unique_ptr<hp::Request> r = std::make_unique<hp::Request>();
  std::unique_ptr<hp::Response> s = std::make_unique<hp::Response>();
  hp::Error req_error(std::string_view in) {
    hp::Result x = req(in, *r);
    return x.status == hp::Status::kError ? x.error : hp::Error::kNone;
  }
  hp::Status req_status(std::string_view in) { return req(in, *r).status; }
  hp::Error res_error(std::string_view in, bool head = false) {
    hp::Result x = hp::parse_response(in, *s, head);
    return x.status == hp::Status::kError ? x.error : hp::Error::kNone;
  }
};

using HttpParseRequest = ReqFixture;
using HttpParseResponse = ReqFixture;

TEST(HttpParseCorpus, NeverReadsPastTheBuffer) {
  GuardedBuffer g;
  size_t n = 0;
  for (const Case& c : corpus()) {
    bool response = c.type.rfind("response", 0) == 0;
    auto rq = std::make_unique<hp::Request>();
    auto rs = std::make_unique<hp::Response>();
    for (size_t len = 0; len <= c.input.size(); ++len) {
      std::string_view v = g.place(std::string_view(c.input).substr(0, len));
      if (response) {
        hp::parse_response(v, *rs, false);
      } else {
        hp::parse_request(v, *rq);
      }
      // The decoder too, on every suffix of the body-ish bytes.
      std::string_view tail = std::string_view(c.input).substr(len);
      char* p = g.end() - tail.size();
      memcpy(p, tail.data(), tail.size());
      hp::ChunkedDecoder d{};
      hp::decode_chunked(d, p, tail.size(), UINT64_MAX);
      ++n;
    }
  }
  EXPECT_GT(n, 10000u);
}

TEST_F(HttpParseRequest, SimpleGetFields) {
  std::string in = "GET /applications/a/environments/e/configurations/c?x=1 HTTP/1.1\r\nHost: localhost:2772\r\n"
                   "X-Forwarded-For:\t 1.2.3.4 \t\r\nEmpty:\r\n\r\nextra";
  hp::Result x = req(in, *r);
  ASSERT_EQ(x.status, hp::Status::kComplete);
  EXPECT_EQ(x.consumed, in.size() - 5);
  EXPECT_EQ(r->method, "GET");
  EXPECT_EQ(r->method_id, hp::Method::kGet);
  EXPECT_EQ(r->target, "/applications/a/environments/e/configurations/c?x=1");
  EXPECT_EQ(r->version_minor, 1);
  ASSERT_EQ(r->num_headers, 3u);
  EXPECT_EQ(r->headers[1].name, "X-Forwarded-For");
  EXPECT_EQ(r->headers[1].value, "1.2.3.4");
  EXPECT_EQ(r->headers[2].value, "");
  EXPECT_EQ(r->body, hp::BodyKind::kNone);
  EXPECT_TRUE(r->keep_alive);
  EXPECT_EQ(hp::find_header(r->headers, r->num_headers, "x-forwarded-FOR"), "1.2.3.4");
  EXPECT_EQ(hp::find_header(r->headers, r->num_headers, "missing").data(), nullptr);
  // Every proper prefix is incomplete.
  for (size_t k = 0; k < x.consumed; ++k) EXPECT_EQ(req_status(std::string_view(in).substr(0, k)), hp::Status::kIncomplete) << k;
}

TEST_F(HttpParseRequest, MethodIds) {
  const std::pair<const char*, hp::Method> t[] = {
      {"GET", hp::Method::kGet},         {"HEAD", hp::Method::kHead},     {"POST", hp::Method::kPost},
      {"PUT", hp::Method::kPut},         {"DELETE", hp::Method::kDelete}, {"OPTIONS", hp::Method::kOptions},
      {"PATCH", hp::Method::kPatch},     {"TRACE", hp::Method::kTrace},   {"get", hp::Method::kOther},
      {"BREW", hp::Method::kOther},      {"GETS", hp::Method::kOther},
  };
  for (auto& [m, id] : t) {
    std::string in = std::string(m) + " / HTTP/1.1\r\n\r\n";
    ASSERT_EQ(req(in, *r).status, hp::Status::kComplete) << m;
    EXPECT_EQ(r->method_id, id) << m;
  }
  ASSERT_EQ(req("CONNECT example.com:443 HTTP/1.1\r\n\r\n", *r).status, hp::Status::kComplete);
  EXPECT_EQ(r->method_id, hp::Method::kConnect);
  EXPECT_EQ(req_error("G(T / HTTP/1.1\r\n\r\n"), hp::Error::kBadMethod);
  EXPECT_EQ(req_error(" GET / HTTP/1.1\r\n\r\n"), hp::Error::kBadMethod);
  EXPECT_EQ(req_error("GET\r\n\r\n"), hp::Error::kBadRequestLine);
}

TEST_F(HttpParseRequest, TargetForms) {
  EXPECT_EQ(req_error("OPTIONS * HTTP/1.1\r\n\r\n"), hp::Error::kNone);
  EXPECT_EQ(req_error("GET * HTTP/1.1\r\n\r\n"), hp::Error::kBadTarget);
  EXPECT_EQ(req_error("OPTIONS *x HTTP/1.1\r\n\r\n"), hp::Error::kBadTarget);
  EXPECT_EQ(req_error("GET http://localhost:2772/x HTTP/1.1\r\n\r\n"), hp::Error::kNone);
  EXPECT_EQ(r->target, "http://localhost:2772/x");
  EXPECT_EQ(req_error("GET foo HTTP/1.1\r\n\r\n"), hp::Error::kBadTarget);
  EXPECT_EQ(req_error("GET 1http://x/ HTTP/1.1\r\n\r\n"), hp::Error::kBadTarget);
  EXPECT_EQ(req_error("GET http: HTTP/1.1\r\n\r\n"), hp::Error::kBadTarget);
  EXPECT_EQ(req_error("CONNECT host:443 HTTP/1.1\r\n\r\n"), hp::Error::kNone);
  EXPECT_EQ(req_error("CONNECT /x HTTP/1.1\r\n\r\n"), hp::Error::kBadTarget);
  EXPECT_EQ(req_error("CONNECT host HTTP/1.1\r\n\r\n"), hp::Error::kBadTarget);
  EXPECT_EQ(req_error("CONNECT host:44x HTTP/1.1\r\n\r\n"), hp::Error::kBadTarget);
  EXPECT_EQ(req_error("CONNECT u@host:443 HTTP/1.1\r\n\r\n"), hp::Error::kBadTarget);
  EXPECT_EQ(req_error("GET  / HTTP/1.1\r\n\r\n"), hp::Error::kBadTarget);  // empty target
  EXPECT_EQ(req_error(std::string("GET /\0x HTTP/1.1\r\n\r\n", 20)), hp::Error::kBadTarget);
  EXPECT_EQ(req_error("GET /\x7f HTTP/1.1\r\n\r\n"), hp::Error::kBadTarget);
  EXPECT_EQ(req_error("GET /\xc3\xbc HTTP/1.1\r\n\r\n"), hp::Error::kBadTarget);
  EXPECT_EQ(req_error("GET /\tx HTTP/1.1\r\n\r\n"), hp::Error::kBadTarget);
  EXPECT_EQ(req_error("GET /%C3%BC#frag HTTP/1.1\r\n\r\n"), hp::Error::kNone);
}

TEST_F(HttpParseRequest, Versions) {
  EXPECT_EQ(req_error("GET / HTTP/1.0\r\n\r\n"), hp::Error::kNone);
  EXPECT_EQ(r->version_minor, 0);
  EXPECT_FALSE(r->keep_alive);
  EXPECT_EQ(req_error("GET / HTTP/1.2\r\n\r\n"), hp::Error::kVersionNotSupported);
  EXPECT_EQ(req_error("GET / HTTP/2.0\r\n\r\n"), hp::Error::kVersionNotSupported);
  EXPECT_EQ(req_error("GET / HTTP/0.9\r\n\r\n"), hp::Error::kVersionNotSupported);
  // Decided as soon as the digits are in, before the line end.
  EXPECT_EQ(req_error("GET / HTTP/3.0"), hp::Error::kVersionNotSupported);
  EXPECT_EQ(hp::error_status(hp::Error::kVersionNotSupported), 505);
  // HTTP/2 connection preface (RFC 9113 §3.4).
  EXPECT_EQ(req_error("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), hp::Error::kVersionNotSupported);
  // HTTP/0.9 simple request: no version.
  EXPECT_EQ(req_error("GET /\r\n"), hp::Error::kBadRequestLine);
  EXPECT_EQ(req_error("GET /\n"), hp::Error::kBadRequestLine);
  EXPECT_EQ(req_error("GET / HTTP/1.1 \r\n\r\n"), hp::Error::kBadVersion);
  EXPECT_EQ(req_error("GET / HTTP/1.10\r\n\r\n"), hp::Error::kBadVersion);
  EXPECT_EQ(req_error("GET / http/1.1\r\n\r\n"), hp::Error::kBadVersion);
  EXPECT_EQ(req_error("GET / HTTP/1.x\r\n\r\n"), hp::Error::kBadVersion);
  EXPECT_EQ(req_error("GET / HTTP/1.1\n\r\n"), hp::Error::kBadVersion);
  EXPECT_EQ(req_error("GET / HTTP/1.1\rX\r\n"), hp::Error::kBadRequestLine);
}

TEST_F(HttpParseRequest, LeadingEmptyLines) {
  std::string in = "\r\n\r\nGET / HTTP/1.1\r\n\r\n";
  hp::Result x = req(in, *r);
  ASSERT_EQ(x.status, hp::Status::kComplete);
  EXPECT_EQ(x.consumed, in.size());
  EXPECT_EQ(req_status("\r"), hp::Status::kIncomplete);
  EXPECT_EQ(req_error("\n GET / HTTP/1.1\r\n\r\n"), hp::Error::kBadMethod);
  EXPECT_EQ(req_error("\rGET / HTTP/1.1\r\n\r\n"), hp::Error::kBadRequestLine);
}

TEST_F(HttpParseRequest, HeaderSyntax) {
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), hp::Error::kBadHeader);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n"), hp::Error::kBadHeader);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\n Host: x\r\n\r\n"), hp::Error::kBadHeader);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"), hp::Error::kBadHeader);   // obs-fold
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n"), hp::Error::kBadHeader);  // obs-fold
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n"), hp::Error::kBadHeader);   // bare LF
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nA: b\rC: d\r\n\r\n"), hp::Error::kBadHeader);   // bare CR
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nA: b\r\n\n"), hp::Error::kBadHeader);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nA: b\r\n\r\r"), hp::Error::kBadHeader);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\n: b\r\n\r\n"), hp::Error::kBadHeader);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nA(: b\r\n\r\n"), hp::Error::kBadHeader);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nA\r\n\r\n"), hp::Error::kBadHeader);
  EXPECT_EQ(req_error(std::string("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 27)), hp::Error::kBadHeader);
  EXPECT_EQ(req_error(std::string("GET / HTTP/1.1\r\nA\0: b\r\n\r\n", 25)), hp::Error::kBadHeader);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n"), hp::Error::kBadHeader);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n"), hp::Error::kBadHeader);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nA: b\x0c\r\n\r\n"), hp::Error::kBadHeader);
  // obs-text and HTAB inside a value are allowed (RFC 9110 §5.5).
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nA: D\xc3\xbcs\tx\r\n\r\n"), hp::Error::kNone);
  EXPECT_EQ(r->headers[0].value, "D\xc3\xbcs\tx");
}

TEST_F(HttpParseRequest, TooManyHeaders) {
  std::string in = "GET / HTTP/1.1\r\n";
  for (size_t k = 0; k < hp::kMaxHeaders; ++k) in += "H" + std::to_string(k) + ": v\r\n";
  std::string full = in + "\r\n";  // kept alive: r's views point into it
  EXPECT_EQ(req_error(full), hp::Error::kNone);
  EXPECT_EQ(r->num_headers, hp::kMaxHeaders);
  EXPECT_EQ(r->headers[63].name, "H63");
  hp::Result x = req(in + "X: y\r\n\r\n", *r);
  EXPECT_EQ(x.error, hp::Error::kTooManyHeaders);
  EXPECT_EQ(x.error_offset, in.size());
  EXPECT_EQ(hp::error_status(x.error), 431);
  // Detected at the first byte of the 65th line, before it is complete.
  EXPECT_EQ(req_error(in + "X"), hp::Error::kTooManyHeaders);
}

TEST_F(HttpParseRequest, HeadersTooLarge) {
  std::string big = "GET / HTTP/1.1\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n";
  hp::Result x = req(big, *r);
  EXPECT_EQ(x.error, hp::Error::kHeadersTooLarge);
  EXPECT_EQ(hp::error_status(x.error), 431);
  // As soon as the buffer passes the limit, without waiting for the end.
  EXPECT_EQ(req_error(big.substr(0, hp::kDefaultMaxHeaderBytes)), hp::Error::kNone);
  EXPECT_EQ(req_status(big.substr(0, hp::kDefaultMaxHeaderBytes)), hp::Status::kIncomplete);
  EXPECT_EQ(req_error(big.substr(0, hp::kDefaultMaxHeaderBytes + 1)), hp::Error::kHeadersTooLarge);
  // Exactly at the limit (final CRLF included) is fine; one more byte is not.
  const size_t limit = 200;
  std::string head = "GET / HTTP/1.1\r\nA: ";
  std::string exact = head + std::string(limit - head.size() - 4, 'v') + "\r\n\r\n";
  ASSERT_EQ(exact.size(), limit);
  EXPECT_EQ(req(exact, *r, limit).status, hp::Status::kComplete);
  EXPECT_EQ(req(exact + "GET", *r, limit).status, hp::Status::kComplete);  // pipelined bytes do not count
  std::string over = head + std::string(limit - head.size() - 3, 'v') + "\r\n\r\n";
  EXPECT_EQ(req(over, *r, limit).error, hp::Error::kHeadersTooLarge);
  // An earlier syntax error wins over the size, however the bytes arrive.
  std::string bad = "GET / HTTP/1.1\r\nA : b\r\n" + std::string(300, 'x');
  EXPECT_EQ(req(bad, *r, limit).error, hp::Error::kBadHeader);
}

TEST_F(HttpParseRequest, UriTooLong) {
  std::string t(hp::kDefaultMaxTargetBytes, 'a');
  t[0] = '/';
  EXPECT_EQ(req_error("GET " + t + " HTTP/1.1\r\n\r\n"), hp::Error::kNone);
  hp::Result x = req("GET " + t + "a HTTP/1.1\r\n\r\n", *r);
  EXPECT_EQ(x.error, hp::Error::kUriTooLong);
  EXPECT_EQ(hp::error_status(x.error), 414);
  // Before the line is complete, once the limit is passed.
  EXPECT_EQ(req_error("GET " + t), hp::Error::kNone);
  EXPECT_EQ(req_error("GET " + t + "a"), hp::Error::kUriTooLong);
  EXPECT_EQ(req("GET /abcdef", *r, hp::kDefaultMaxHeaderBytes, 5).error, hp::Error::kUriTooLong);
}

TEST_F(HttpParseRequest, ContentLength) {
  auto cl = [&](const std::string& v) {
    return req_error("POST / HTTP/1.1\r\nContent-Length: " + v + "\r\n\r\n");
  };
  EXPECT_EQ(cl("5"), hp::Error::kNone);
  EXPECT_EQ(r->body, hp::BodyKind::kContentLength);
  EXPECT_EQ(r->content_length, 5u);
  EXPECT_EQ(cl("0"), hp::Error::kNone);
  EXPECT_EQ(r->body, hp::BodyKind::kContentLength);
  EXPECT_EQ(r->content_length, 0u);
  EXPECT_EQ(cl("5, 5"), hp::Error::kNone);
  EXPECT_EQ(r->content_length, 5u);
  EXPECT_EQ(cl("5,5,"), hp::Error::kNone);
  EXPECT_EQ(cl("18446744073709551615"), hp::Error::kNone);
  EXPECT_EQ(r->content_length, UINT64_MAX);
  EXPECT_EQ(cl("18446744073709551616"), hp::Error::kBadContentLength);
  EXPECT_EQ(cl("99999999999999999999999"), hp::Error::kBadContentLength);
  EXPECT_EQ(cl("5, 6"), hp::Error::kBadContentLength);
  EXPECT_EQ(cl("+5"), hp::Error::kBadContentLength);
  EXPECT_EQ(cl("-1"), hp::Error::kBadContentLength);
  EXPECT_EQ(cl("0x5"), hp::Error::kBadContentLength);
  EXPECT_EQ(cl("5 5"), hp::Error::kBadContentLength);
  EXPECT_EQ(cl(""), hp::Error::kBadContentLength);
  EXPECT_EQ(cl(","), hp::Error::kBadContentLength);
  EXPECT_EQ(req_error("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n"), hp::Error::kNone);
  hp::Result x = req("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 6\r\n", *r);
  EXPECT_EQ(x.error, hp::Error::kBadContentLength);  // at the line, before the head ends
  EXPECT_EQ(x.error_offset, 36u);
}

TEST_F(HttpParseRequest, TransferEncoding) {
  auto te = [&](const std::string& v, const char* minor = "1") {
    return req_error(std::string("POST / HTTP/1.") + minor + "\r\nTransfer-Encoding: " + v + "\r\n\r\n");
  };
  EXPECT_EQ(te("chunked"), hp::Error::kNone);
  EXPECT_EQ(r->body, hp::BodyKind::kChunked);
  EXPECT_TRUE(r->keep_alive);
  EXPECT_EQ(te("CHUNKED"), hp::Error::kNone);
  EXPECT_EQ(te("chunked", "0"), hp::Error::kNone);
  EXPECT_FALSE(r->keep_alive);  // RFC 9112 §6.1: TE in 1.0 -> close
  EXPECT_EQ(te("gzip"), hp::Error::kUnsupportedTransferEncoding);
  EXPECT_EQ(te("gzip, chunked"), hp::Error::kUnsupportedTransferEncoding);
  EXPECT_EQ(te("chunked, gzip"), hp::Error::kUnsupportedTransferEncoding);
  EXPECT_EQ(hp::error_status(hp::Error::kUnsupportedTransferEncoding), 501);
  EXPECT_EQ(te("chunked, chunked"), hp::Error::kBadTransferEncoding);
  EXPECT_EQ(te("chunked;x=1"), hp::Error::kBadTransferEncoding);
  EXPECT_EQ(te(""), hp::Error::kBadTransferEncoding);
  EXPECT_EQ(te("\"chunked\""), hp::Error::kBadTransferEncoding);
  EXPECT_EQ(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
            hp::Error::kConflictingFraming);
  EXPECT_EQ(req_error("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
            hp::Error::kConflictingFraming);
  EXPECT_EQ(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            hp::Error::kBadTransferEncoding);
}

TEST_F(HttpParseRequest, KeepAlive) {
  auto ka = [&](const std::string& in) {
    EXPECT_EQ(req_error(in), hp::Error::kNone) << in;
    return r->keep_alive;
  };
  EXPECT_TRUE(ka("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.1\r\nConnection: upgrade\r\nConnection: close\r\n\r\n"));
  EXPECT_TRUE(ka("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"));
}

TEST(HttpParseMisc, ErrorsAndHelpers) {
  for (int e = 0; e <= static_cast<int>(hp::Error::kConflictingFraming); ++e) {
    const char* m = hp::error_message(static_cast<hp::Error>(e));
    ASSERT_NE(m, nullptr);
    EXPECT_GT(strlen(m), 0u);
    int st = hp::error_status(static_cast<hp::Error>(e));
    EXPECT_TRUE(st == 400 || st == 413 || st == 414 || st == 431 || st == 501 || st == 505 || (e == 0 && st == 500)) << e;
  }
  EXPECT_STREQ(hp::error_message(hp::Error::kBadRequestLine), "malformed request line");
  EXPECT_TRUE(appconfig::text::iequals("Content-LENGTH", "content-length"));
  EXPECT_FALSE(appconfig::text::iequals("content-length", "content-lengt"));
  EXPECT_FALSE(appconfig::text::iequals("a", "b"));
  EXPECT_FALSE(appconfig::text::iequals("\xc1", "\xe1"));  // ASCII only
  EXPECT_TRUE(appconfig::text::iequals("", ""));
}

TEST(HttpParseMisc, TokensAndValuesFitToSend) {
  for (const char* t : {"GET", "X-Custom_Header", "!#$%&'*+-.^_`|~09azAZ"}) EXPECT_TRUE(hp::is_token(t)) << t;
  for (std::string t : {std::string(), std::string("A B"), std::string("a:b"), std::string("a\r"),
                        std::string("caf\xc3\xa9"), std::string("a\0b", 3), std::string("(x)")})
    EXPECT_FALSE(hp::is_token(t)) << t;
  for (const char* v : {"", "plain value", "tab\there", "~!@#$%^&*()_+{}|:\"<>?"})
    EXPECT_TRUE(hp::is_visible_field_value(v)) << v;
  // Stricter than what the parsers accept: no obs-text, no control byte but HTAB, no DEL.
  for (std::string v : {std::string("a\r\nInjected: 1"), std::string("a\nb"), std::string("a\0b", 3),
                        std::string("a\x01"), std::string("a\x7f"), std::string("caf\xc3\xa9")})
    EXPECT_FALSE(hp::is_visible_field_value(v)) << v;
}

TEST_F(HttpParseResponse, StatusLineAndBodies) {
  struct T {
    std::string in;
    bool head;
    hp::BodyKind body;
    bool keep_alive;
  } t[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", false, hp::BodyKind::kContentLength, true},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true, hp::BodyKind::kNone, true},
      {"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n", false, hp::BodyKind::kNone, true},
      {"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false, hp::BodyKind::kNone, true},
      {"HTTP/1.1 100 Continue\r\n\r\n", false, hp::BodyKind::kNone, true},
      {"HTTP/1.1 200 OK\r\n\r\n", false, hp::BodyKind::kUntilClose, false},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, hp::BodyKind::kChunked, true},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, hp::BodyKind::kUntilClose, false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, hp::BodyKind::kContentLength, false},
      {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false,
       hp::BodyKind::kContentLength, true},
      {"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, hp::BodyKind::kContentLength, true},
      {"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", false, hp::BodyKind::kContentLength, true},
  };
  for (auto& c : t) {
    hp::Result x = hp::parse_response(c.in, *s, c.head);
    ASSERT_EQ(x.status, hp::Status::kComplete) << c.in;
    EXPECT_EQ(x.consumed, c.in.size());
    EXPECT_EQ(s->body, c.body) << c.in;
    EXPECT_EQ(s->keep_alive, c.keep_alive) << c.in;
  }
  ASSERT_EQ(res_error("HTTP/1.1 404 Not  Found \r\n\r\n"), hp::Error::kNone);
  EXPECT_EQ(s->status, 404);
  EXPECT_EQ(s->reason, "Not  Found ");
  EXPECT_EQ(res_error("HTTP/1.1 200\r\n\r\n"), hp::Error::kNone);
  EXPECT_EQ(s->reason, "");
  EXPECT_EQ(res_error("HTTP/1.1 099 X\r\n\r\n"), hp::Error::kBadStatusLine);
  EXPECT_EQ(res_error("HTTP/1.1 20 X\r\n\r\n"), hp::Error::kBadStatusLine);
  EXPECT_EQ(res_error("HTTP/1.1 2000 X\r\n\r\n"), hp::Error::kBadStatusLine);
  EXPECT_EQ(res_error("HTTP/1.1  200 X\r\n\r\n"), hp::Error::kBadStatusLine);
  EXPECT_EQ(res_error("HTTP/1.1 200 X\nA: b\r\n\r\n"), hp::Error::kBadStatusLine);
  EXPECT_EQ(res_error(std::string("HTTP/1.1 200 X\0\r\n\r\n", 18)), hp::Error::kBadStatusLine);
  EXPECT_EQ(res_error("HTTP/2 200 OK\r\n\r\n"), hp::Error::kBadVersion);
  EXPECT_EQ(res_error("HTTP/2.0 200 OK\r\n\r\n"), hp::Error::kVersionNotSupported);
  EXPECT_EQ(res_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            hp::Error::kUnsupportedTransferEncoding);
  EXPECT_EQ(res_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"),
            hp::Error::kConflictingFraming);
  EXPECT_EQ(res_error("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n"), hp::Error::kBadContentLength);
  EXPECT_EQ(res_error("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n"), hp::Error::kBadHeader);
  std::string big = "HTTP/1.1 200 OK\r\nX: " + std::string(hp::kDefaultMaxHeaderBytes, 'x');
  EXPECT_EQ(res_error(big), hp::Error::kHeadersTooLarge);
  EXPECT_EQ(hp::parse_response("HTTP/1.1 200 O", *s, false).status, hp::Status::kIncomplete);
}

// ------------------------------------------------------------ chunked ---

struct Decoded {
  hp::Status status;
  hp::Error error;
  std::string data;
  size_t consumed;  // total input consumed
};

// Feeds `in` to a fresh decoder in pieces ending at `cuts`, the way the
// server does: unconsumed bytes are passed again at the front of the next call.
Decoded decode(const std::string& in, const std::vector<size_t>& cuts, uint64_t max_chunk = UINT64_MAX) {
  hp::ChunkedDecoder d{};
  Decoded out{hp::Status::kIncomplete, hp::Error::kNone, "", 0};
  size_t pos = 0;
  for (size_t cut : cuts) {
    std::string piece = in.substr(pos, cut - pos);
    hp::ChunkedResult r = hp::decode_chunked(d, piece.data(), piece.size(), max_chunk);
    EXPECT_LE(r.data_len, r.consumed);
    EXPECT_LE(r.consumed, piece.size());
    out.data.append(piece, 0, r.data_len);
    pos += r.consumed;
    out.consumed = pos;
    out.status = r.status;
    out.error = r.error;
    if (r.status != hp::Status::kIncomplete) return out;
    EXPECT_EQ(r.consumed, piece.size());
  }
  return out;
}

Decoded decode_whole(const std::string& in, uint64_t max_chunk = UINT64_MAX) {
  return decode(in, {in.size()}, max_chunk);
}

void expect_all_splits_agree(const std::string& in, uint64_t max_chunk = UINT64_MAX) {
  Decoded w = decode_whole(in, max_chunk);
  Decoded b = decode(in, bytewise(in), max_chunk);
  EXPECT_EQ(w.status, b.status) << testing::PrintToString(in);
  EXPECT_EQ(w.error, b.error) << testing::PrintToString(in);
  EXPECT_EQ(w.data, b.data) << testing::PrintToString(in);
  if (w.status == hp::Status::kComplete) {
    EXPECT_EQ(w.consumed, b.consumed);
  }
}

TEST(HttpParseChunked, Basics) {
  std::string in = "5\r\nhello\r\n6;ext=1\r\n world\r\nA\r\n0123456789\r\n0\r\n\r\nNEXT";
  Decoded w = decode_whole(in);
  EXPECT_EQ(w.status, hp::Status::kComplete);
  EXPECT_EQ(w.data, "hello world0123456789");
  EXPECT_EQ(w.consumed, in.size() - 4);
  expect_all_splits_agree(in);
  // Leading zeros and upper/lowercase hex.
  EXPECT_EQ(decode_whole("0005\r\nhello\r\na\r\n0123456789\r\nA\r\n0123456789\r\n0000\r\n\r\n").data,
            "hello01234567890123456789");
  // In place: pipelined bytes after the body are untouched.
  std::string buf = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
  hp::ChunkedDecoder d{};
  hp::ChunkedResult r = hp::decode_chunked(d, buf.data(), buf.size(), 100);
  ASSERT_EQ(r.status, hp::Status::kComplete);
  EXPECT_EQ(buf.substr(0, r.data_len), "abc");
  EXPECT_EQ(buf.substr(r.consumed), "GET / HTTP/1.1\r\n\r\n");
  // Calling again after completion consumes nothing.
  r = hp::decode_chunked(d, buf.data() + r.consumed, 5, 100);
  EXPECT_EQ(r.status, hp::Status::kComplete);
  EXPECT_EQ(r.consumed, 0u);
  EXPECT_EQ(decode_whole("").status, hp::Status::kIncomplete);
}

TEST(HttpParseChunked, Errors) {
  auto err = [](const std::string& in, uint64_t max = UINT64_MAX) {
    expect_all_splits_agree(in, max);
    Decoded w = decode_whole(in, max);
    return w.status == hp::Status::kError ? w.error : hp::Error::kNone;
  };
  EXPECT_EQ(err("\r\nhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);              // no size
  EXPECT_EQ(err("x\r\n"), hp::Error::kBadChunk);
  EXPECT_EQ(err("-5\r\n"), hp::Error::kBadChunk);
  EXPECT_EQ(err("0x5\r\nhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);
  EXPECT_EQ(err("5\nhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);              // bare LF
  EXPECT_EQ(err("5\rhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);              // bare CR
  EXPECT_EQ(err("5\r\nhelloX\r\n0\r\n\r\n"), hp::Error::kBadChunk);           // data longer than size
  EXPECT_EQ(err("5\r\nhello\n0\r\n\r\n"), hp::Error::kBadChunk);              // missing CR after data
  EXPECT_EQ(err("5\r\nhello\r0\r\n\r\n"), hp::Error::kBadChunk);              // missing LF after data
  EXPECT_EQ(err("5 \r\nhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);           // BWS without extension
  EXPECT_EQ(err("5;\r\nhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);           // empty extension name
  EXPECT_EQ(err("5;a=\r\nhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);
  EXPECT_EQ(err("5;a=\"x\r\nhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);      // unterminated quote
  EXPECT_EQ(err("5;a=b c\r\nhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);
  EXPECT_EQ(err(std::string("5;a=\"\0\"\r\nhello\r\n0\r\n\r\n", 20)), hp::Error::kBadChunk);
  EXPECT_EQ(err("5;a@\r\nhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);
  EXPECT_EQ(err("5;a \r\nhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);       // trailing BWS
  EXPECT_EQ(err("5;a=b \r\nhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);
  EXPECT_EQ(err("5;a= \"b\" \r\nhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);
  // Overflow: 17 significant hex digits cannot fit 64 bits.
  EXPECT_EQ(err("10000000000000000\r\n"), hp::Error::kChunkTooLarge);
  EXPECT_EQ(err("00000000000000000000005\r\nhello\r\n0\r\n\r\n"), hp::Error::kNone);
  EXPECT_EQ(decode_whole("ffffffffffffffff\r\nabc").status, hp::Status::kIncomplete);
  // max_chunk_bytes.
  EXPECT_EQ(err("5\r\nhello\r\n0\r\n\r\n", 5), hp::Error::kNone);
  EXPECT_EQ(err("6\r\nhello!\r\n0\r\n\r\n", 5), hp::Error::kChunkTooLarge);
  EXPECT_EQ(err("100\r\n", 255), hp::Error::kChunkTooLarge);  // before the line ends
  EXPECT_EQ(hp::error_status(hp::Error::kChunkTooLarge), 413);
  // Trailers.
  EXPECT_EQ(err("0\r\nA: b\r\n c\r\n\r\n"), hp::Error::kBadChunk);      // obs-fold
  EXPECT_EQ(err("0\r\nA : b\r\n\r\n"), hp::Error::kBadChunk);
  EXPECT_EQ(err("0\r\nA: b\nC: d\r\n\r\n"), hp::Error::kBadChunk);
  EXPECT_EQ(err(std::string("0\r\nA: \0\r\n\r\n", 11)), hp::Error::kBadChunk);
  EXPECT_EQ(err("0\r\n\r\r"), hp::Error::kBadChunk);
  EXPECT_EQ(err("0\r\n" + std::string("A: ") + std::string(hp::kMaxTrailerBytes, 'x')), hp::Error::kHeadersTooLarge);
  // Extension line length.
  EXPECT_EQ(err("5;a=" + std::string(hp::kMaxChunkLineBytes, 'x') + "\r\nhello\r\n0\r\n\r\n"), hp::Error::kBadChunk);
  // Errors are sticky.
  hp::ChunkedDecoder d{};
  std::string bad = "zz";
  EXPECT_EQ(hp::decode_chunked(d, bad.data(), bad.size(), 10).status, hp::Status::kError);
  std::string good = "0\r\n\r\n";
  EXPECT_EQ(hp::decode_chunked(d, good.data(), good.size(), 10).status, hp::Status::kError);
}

TEST(HttpParseChunked, ExtensionsAndTrailersAccepted) {
  const char* ok[] = {
      "5;a\r\nhello\r\n0\r\n\r\n",
      "5;a=b\r\nhello\r\n0\r\n\r\n",
      "5 ; a = b ;c\r\nhello\r\n0\r\n\r\n",
      "5;a=\"q \\\" ;=\\\\ \xc3\xbc\"\r\nhello\r\n0\r\n\r\n",
      "5\t;a=\"\"\r\nhello\r\n0;last\r\n\r\n",
      "5\r\nhello\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\nEmpty:\r\n\r\n",
  };
  for (const char* in : ok) {
    Decoded w = decode_whole(in);
    EXPECT_EQ(w.status, hp::Status::kComplete) << in;
    EXPECT_EQ(w.data, "hello") << in;
    expect_all_splits_agree(in);
  }
}

// Random bodies, randomly chunked and randomly split.
TEST(HttpParseChunked, RandomRoundTrip) {
  uint32_t seed = std::random_device{}();
  std::printf("chunked round-trip seed %u\n", seed);
  std::mt19937 rng(seed);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string body, wire;
    int chunks = std::uniform_int_distribution<int>(0, 6)(rng);
    for (int k = 0; k < chunks; ++k) {
      size_t n = std::uniform_int_distribution<size_t>(1, 300)(rng);
      std::string data;
      for (size_t b = 0; b < n; ++b) data.push_back(static_cast<char>(rng()));
      body += data;
      char size[32];
      snprintf(size, sizeof size, (rng() & 1) ? "%zx" : "%zX", n);
      wire += size;
      if (rng() % 3 == 0) wire += ";name=\"v\\\"al\"";
      wire += "\r\n" + data + "\r\n";
    }
    wire += "0\r\n";
    if (rng() & 1) wire += "Trailer-X: 1\r\n";
    wire += "\r\n";
    std::string next = "GET / HTTP/1.1\r\n\r\n";
    std::string in = wire + next;
    auto cuts = random_cuts(in, rng);
    Decoded got = decode(in, cuts);
    ASSERT_EQ(got.status, hp::Status::kComplete) << "seed=" << seed << " iter=" << iter;
    ASSERT_EQ(got.data, body) << "seed=" << seed << " iter=" << iter;
    ASSERT_EQ(got.consumed, wire.size()) << "seed=" << seed << " iter=" << iter;
  }
}

}  // namespace
