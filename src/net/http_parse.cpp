// http_parse: see include/appconfig/net/http_parse.h and docs/http-parser.md.
//
// The head parsers check bytes strictly left to right, so an error is
// reported at the first offending byte no matter how the input was split.
// parse_response scans from the start of the buffer on every call (like
// picohttpparser); parse_request is a resumable state machine that continues
// where the previous call stopped (RequestScan), so a head sent a byte at a
// time costs O(n), not O(n^2). Every read is preceded by an index check
// against `n`.
#include "appconfig/net/http_parse.h"

#include <cstring>

#include "appconfig/core/text.h"

namespace appconfig::http_parse {
namespace {

// RFC 9110 §5.6.2 tchar.
constexpr bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// Field-value octets (RFC 9110 §5.5): HTAB, SP, VCHAR, obs-text. Excludes every
// other CTL, DEL, NUL, CR and LF.
constexpr bool is_field_vchar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

// Request-target octets: visible ASCII only (RFC 3986 has no place for CTLs,
// SP or non-ASCII; percent-encoding is how those travel).
constexpr bool is_target_char(unsigned char c) { return c > 0x20 && c < 0x7f; }

constexpr bool is_ows(unsigned char c) { return c == ' ' || c == '\t'; }

Result incomplete() { return Result{Status::kIncomplete, Error::kNone, 0, 0}; }
Result fail(Error e, size_t at) { return Result{Status::kError, e, 0, at}; }

Method method_id_of(std::string_view m) {
  // Methods are case-sensitive (RFC 9110 §9.1): "get" is not GET.
  struct Entry {
    std::string_view name;
    Method id;
  };
  static constexpr Entry kTable[] = {
      {"GET", Method::kGet},         {"HEAD", Method::kHead},       {"POST", Method::kPost},
      {"PUT", Method::kPut},         {"DELETE", Method::kDelete},   {"OPTIONS", Method::kOptions},
      {"PATCH", Method::kPatch},     {"CONNECT", Method::kConnect}, {"TRACE", Method::kTrace},
  };
  for (const Entry& e : kTable) {
    if (e.name == m) return e.id;
  }
  return Method::kOther;
}

// absolute-URI = scheme ":" hier-part (RFC 3986 §4.3); scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool is_absolute_form(std::string_view t) {
  if (t.empty() || ((t[0] | 0x20) < 'a' || (t[0] | 0x20) > 'z')) return false;
  for (size_t i = 1; i < t.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(t[i]);
    if (c == ':') return i + 1 < t.size();
    bool ok = (((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
    if (!ok) return false;
  }
  return false;
}

// authority-form = uri-host ":" port (RFC 9112 §3.2.3), CONNECT only.
bool is_authority_form(std::string_view t) {
  size_t colon = t.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == t.size()) return false;
  for (size_t i = colon + 1; i < t.size(); ++i) {
    if (t[i] < '0' || t[i] > '9') return false;
  }
  for (size_t i = 0; i < colon; ++i) {
    char c = t[i];
    if (c == '/' || c == '?' || c == '#' || c == '@') return false;
  }
  return true;
}

// RFC 9112 §3.2: which target forms each method may use.
bool target_form_ok(Method m, std::string_view t) {
  if (m == Method::kConnect) return is_authority_form(t);
  if (t[0] == '/') return true;                                 // origin-form
  if (t == "*") return m == Method::kOptions;                   // asterisk-form
  return is_absolute_form(t);                                   // absolute-form
}

// "HTTP/" DIGIT "." DIGIT at buf[i..]; RFC 9112 §2.3. Returns the number of
// bytes matched so far (8 when complete), or -1 on a mismatch.
int match_version(std::string_view buf, size_t i, size_t n, int* major, int* minor) {
  static constexpr char kPrefix[] = "HTTP/";
  for (int k = 0; k < 8; ++k) {
    if (i + static_cast<size_t>(k) >= n) return k;
    unsigned char c = static_cast<unsigned char>(buf[i + static_cast<size_t>(k)]);
    if (k < 5) {
      if (c != static_cast<unsigned char>(kPrefix[k])) return -1;
    } else if (k == 6) {
      if (c != '.') return -1;
    } else {
      if (c < '0' || c > '9') return -1;
      (k == 5 ? *major : *minor) = c - '0';
    }
  }
  return 8;
}

// Calls fn(element) for each non-empty element of a #list (RFC 9110 §5.6.1),
// trimmed of OWS. Empty elements are skipped, as the RFC requires recipients to.
template <typename Fn>
void for_each_element(std::string_view v, Fn&& fn) {
  size_t i = 0;
  while (i <= v.size()) {
    size_t comma = v.find(',', i);
    if (comma == std::string_view::npos) comma = v.size();
    const std::string_view element = text::trim(text::slice(v, i, comma), text::kOws);
    if (!element.empty()) fn(element);
    i = comma + 1;
  }
}

// Framing (http_parse.h) is filled one field line at a time so that a bad or
// conflicting length is reported at the line that causes it, as soon as that
// line is complete (not only once the whole head has arrived).

enum class Role : uint8_t { kRequest, kResponse };

Error add_framing(Framing& f, const Header& h, Role role) {
  if (text::iequals(h.name, "content-length")) {
    // RFC 9112 §6.3 ¶3: both headers is how requests get smuggled; refuse.
    if (f.has_te) return Error::kConflictingFraming;
    Error e = Error::kNone;
    int elements = 0;
    for_each_element(h.value, [&](std::string_view el) {
      ++elements;
      uint64_t v = 0;
      // 1*DIGIT (RFC 9110 §8.6); identical repeats ("5, 5") are allowed,
      // different ones are an unrecoverable error (RFC 9112 §6.3 ¶5).
      if (!text::parse_u64(el, &v) || (f.has_cl && v != f.cl)) {
        e = Error::kBadContentLength;
      } else {
        f.cl = v;
        f.has_cl = true;
      }
    });
    if (elements == 0) return Error::kBadContentLength;
    return e;
  }
  if (text::iequals(h.name, "transfer-encoding")) {
    if (f.has_cl) return Error::kConflictingFraming;
    f.has_te = true;
    Error e = Error::kNone;
    int elements = 0;
    for_each_element(h.value, [&](std::string_view el) {
      ++elements;
      for (char ch : el) {
        // A bare token: we implement no coding that takes parameters.
        if (!is_tchar(static_cast<unsigned char>(ch))) e = Error::kBadTransferEncoding;
      }
      bool chunked = text::iequals(el, "chunked");
      if (chunked) {
        ++f.te_chunked;
      } else {
        ++f.te_other;
      }
      f.te_last_chunked = chunked;
    });
    if (elements == 0) return Error::kBadTransferEncoding;
    if (e != Error::kNone) return e;
    // chunked must not be applied twice (RFC 9112 §6.1).
    if (f.te_chunked > 1) return Error::kBadTransferEncoding;
    // RFC 9112 §6.1: a server answers a coding it does not implement with 501.
    if (role == Role::kRequest && f.te_other > 0) return Error::kUnsupportedTransferEncoding;
    return Error::kNone;
  }
  if (text::iequals(h.name, "connection")) {
    for_each_element(h.value, [&](std::string_view el) {
      if (text::iequals(el, "close")) f.conn_close = true;
      if (text::iequals(el, "keep-alive")) f.conn_keep_alive = true;
    });
  }
  return Error::kNone;
}

// Header section parser shared by requests and responses. On kComplete sets
// *end to the offset after the final CRLF.
Result parse_fields(std::string_view buf, size_t i, size_t n, Header* headers, size_t* num_headers, size_t* end,
                    Framing& f, Role role) {
  size_t num = 0;
  for (;;) {
    if (i >= n) return incomplete();
    unsigned char c = static_cast<unsigned char>(buf[i]);
    if (c == '\r') {
      if (i + 1 >= n) return incomplete();
      if (buf[i + 1] != '\n') return fail(Error::kBadHeader, i + 1);  // bare CR (RFC 9112 §2.2)
      *num_headers = num;
      *end = i + 2;
      return Result{Status::kComplete, Error::kNone, i + 2, 0};
    }
    // Whitespace at a line start is obs-fold, or whitespace before the first
    // field; both must be rejected by a server (RFC 9112 §5.2, §2.2).
    if (!is_tchar(c)) return fail(Error::kBadHeader, i);
    if (num == kMaxHeaders) return fail(Error::kTooManyHeaders, i);
    size_t name_start = i;
    while (i < n && is_tchar(static_cast<unsigned char>(buf[i]))) ++i;
    if (i >= n) return incomplete();
    // No whitespace between name and colon (RFC 9112 §5.1).
    if (buf[i] != ':') return fail(Error::kBadHeader, i);
    std::string_view name = text::slice(buf, name_start, i);
    ++i;
    while (i < n && is_ows(static_cast<unsigned char>(buf[i]))) ++i;
    size_t value_start = i;
    while (i < n && buf[i] != '\r') {
      if (!is_field_vchar(static_cast<unsigned char>(buf[i]))) return fail(Error::kBadHeader, i);
      ++i;
    }
    if (i + 1 >= n) return incomplete();
    if (buf[i + 1] != '\n') return fail(Error::kBadHeader, i + 1);
    size_t value_end = i;
    while (value_end > value_start && is_ows(static_cast<unsigned char>(buf[value_end - 1]))) --value_end;
    headers[num] = Header{name, text::slice(buf, value_start, value_end)};
    Error e = add_framing(f, headers[num], role);
    if (e != Error::kNone) return fail(e, name_start);
    if (text::iequals(name, "transfer-encoding") && f.te_offset == 0) f.te_offset = name_start;
    ++num;
    i += 2;
  }
}

bool keep_alive_for(uint8_t minor, const Framing& f) {
  if (f.conn_close) return false;
  return minor >= 1 || f.conn_keep_alive;
}

}  // namespace

const char* error_message(Error e) {
  switch (e) {
    case Error::kNone: return "no error";
    case Error::kBadRequestLine: return "malformed request line";
    case Error::kBadMethod: return "malformed method";
    case Error::kBadTarget: return "malformed request target";
    case Error::kBadVersion: return "malformed http version";
    case Error::kVersionNotSupported: return "http version not supported";
    case Error::kBadHeader: return "malformed header field";
    case Error::kTooManyHeaders: return "too many header fields";
    case Error::kHeadersTooLarge: return "header section too large";
    case Error::kUriTooLong: return "request target too long";
    case Error::kBadContentLength: return "invalid content-length";
    case Error::kBadTransferEncoding: return "invalid transfer-encoding";
    case Error::kUnsupportedTransferEncoding: return "unsupported transfer-encoding";
    case Error::kBadStatusLine: return "malformed status line";
    case Error::kBadChunk: return "malformed chunked body";
    case Error::kChunkTooLarge: return "chunk too large";
    case Error::kConflictingFraming: return "both transfer-encoding and content-length";
  }
  return "unknown error";
}

int error_status(Error e) {
  switch (e) {
    case Error::kNone: return 500;
    case Error::kVersionNotSupported: return 505;
    case Error::kTooManyHeaders:
    case Error::kHeadersTooLarge: return 431;
    case Error::kUriTooLong: return 414;
    case Error::kUnsupportedTransferEncoding: return 501;
    case Error::kChunkTooLarge: return 413;
    default: return 400;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s)
    if (!is_tchar(static_cast<unsigned char>(ch))) return false;
  return true;
}

bool is_visible_field_value(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c >= 0x7f) return false;
  }
  return true;
}

std::string_view find_header(const Header* headers, size_t n, std::string_view name) {
  for (size_t i = 0; i < n; ++i) {
    if (text::iequals(headers[i].name, name)) return headers[i].value;
  }
  return {};
}

Result parse_request(std::string_view buf, Request& out, size_t max_header_bytes, size_t max_target_bytes) {
  RequestScan scan;
  return parse_request(buf, out, scan, max_header_bytes, max_target_bytes);
}

namespace {
enum Phase : uint8_t { kLeadCrlf, kMethod, kTarget, kVersion, kVersionEnd, kFieldStart, kFieldName, kFieldOws, kFieldValue };

// Views in `out` point into the buffer of the previous call; the bytes kept
// their offsets, only the buffer moved.
void rebase(Request& out, const RequestScan& scan, const char* now) {
  auto move = [&](std::string_view v) {
    return v.data() == nullptr ? v : std::string_view(now + (v.data() - scan.base), v.size());
  };
  if (scan.phase >= kFieldStart) {
    out.method = move(out.method);
    out.target = move(out.target);
  }
  for (size_t k = 0; k < scan.num_headers; ++k) {
    out.headers[k].name = move(out.headers[k].name);
    out.headers[k].value = move(out.headers[k].value);
  }
}

// One parse_request call: the input, the scan it resumes and its answer. A step gets the scan
// position i (parse_request's own variable) and returns true once `result` holds the call's
// answer, false to go on with the phase it left in sc.phase.
struct RequestCursor {
  std::string_view buf;
  size_t n;  // bytes that may belong to the head
  size_t max_header_bytes;
  size_t max_target_bytes;
  Request& out;
  RequestScan& sc;
  Result result{};

  // `at` is where the next call resumes.
  bool incomplete_at(size_t at) {
    sc.pos = at;
    result = (buf.size() > max_header_bytes) ? fail(Error::kHeadersTooLarge, max_header_bytes) : incomplete();
    return true;
  }
  bool error_at(Error e, size_t at) {
    result = fail(e, at);
    return true;
  }
};

// Leading empty lines, then "method SP request-target SP" of the request line (RFC 9112 §3).
bool request_line_step(RequestCursor& cur, size_t& i) {
  const std::string_view buf = cur.buf;
  const size_t n = cur.n;
  RequestScan& sc = cur.sc;
  const size_t max_target_bytes = cur.max_target_bytes;
  switch (sc.phase) {
    case kLeadCrlf:
      // RFC 9112 §2.2: a server SHOULD ignore empty lines received before the request-line.
      if (i >= n) return cur.incomplete_at(i);
      if (buf[i] == '\r') {
        if (i + 1 >= n) return cur.incomplete_at(i);
        if (buf[i + 1] != '\n') return cur.error_at(Error::kBadRequestLine, i + 1);
        i += 2;
        break;
      }
      sc.mark = i;
      sc.phase = kMethod;
      break;
    case kMethod: {
      // method SP
      while (i < n && is_tchar(static_cast<unsigned char>(buf[i]))) ++i;
      if (i >= n) return cur.incomplete_at(i);
      if (buf[i] != ' ') {
        if (i == sc.mark || (buf[i] != '\r' && buf[i] != '\n')) return cur.error_at(Error::kBadMethod, i);
        return cur.error_at(Error::kBadRequestLine, i);
      }
      if (i == sc.mark) return cur.error_at(Error::kBadMethod, i);
      sc.method_end = i;
      ++i;
      sc.target_start = i;
      sc.phase = kTarget;
      break;
    }
    case kTarget:
      // request-target SP
      while (i < n && is_target_char(static_cast<unsigned char>(buf[i]))) {
        ++i;
        if (i - sc.target_start > max_target_bytes) return cur.error_at(Error::kUriTooLong, i - 1);
      }
      if (i >= n) return cur.incomplete_at(i);
      if (buf[i] != ' ') {
        // CR/LF right after the target is an HTTP/0.9 simple request (no version).
        if (i > sc.target_start && (buf[i] == '\r' || buf[i] == '\n')) return cur.error_at(Error::kBadRequestLine, i);
        return cur.error_at(Error::kBadTarget, i);
      }
      if (i == sc.target_start) return cur.error_at(Error::kBadTarget, i);  // two SPs: empty target
      sc.target_end = i;
      ++i;
      sc.phase = kVersion;
      break;
    default:
      break;
  }
  return false;
}

// "HTTP-version CRLF" ends the request line; then the method and the target's form are checked.
bool version_step(RequestCursor& cur, size_t& i) {
  const std::string_view buf = cur.buf;
  const size_t n = cur.n;
  RequestScan& sc = cur.sc;
  Request& out = cur.out;
  switch (sc.phase) {
    case kVersion: {
      // HTTP-version CRLF. At most 8 bytes, re-matched from their start.
      int major = 0, minor = 0;
      int matched = match_version(buf, i, n, &major, &minor);
      if (matched < 0) return cur.error_at(Error::kBadVersion, i);
      if (matched < 8) return cur.incomplete_at(i);
      // The version decides how to read the rest (an HTTP/2 preface "PRI * HTTP/2.0"
      // gets 505, not 400), so it is checked as soon as its digits are in, before
      // the line end and the target's form.
      if (major != 1 || minor > 1) return cur.error_at(Error::kVersionNotSupported, i);
      sc.minor = static_cast<uint8_t>(minor);
      i += 8;
      sc.phase = kVersionEnd;
      break;
    }
    case kVersionEnd: {
      if (i >= n) return cur.incomplete_at(i);
      if (buf[i] != '\r') return cur.error_at(Error::kBadVersion, i);
      if (i + 1 >= n) return cur.incomplete_at(i);
      if (buf[i + 1] != '\n') return cur.error_at(Error::kBadRequestLine, i + 1);
      std::string_view method = text::slice(buf, sc.mark, sc.method_end);
      std::string_view target = text::slice(buf, sc.target_start, sc.target_end);
      Method mid = method_id_of(method);
      if (!target_form_ok(mid, target)) return cur.error_at(Error::kBadTarget, sc.target_start);
      i += 2;
      out.method = method;
      out.method_id = mid;
      out.target = target;
      out.version_minor = sc.minor;
      sc.num_headers = 0;
      sc.framing = Framing{};
      sc.phase = kFieldStart;
      break;
    }
    default:
      break;
  }
  return false;
}

// The empty line at i ends the head: the framing seen in the fields decides the body.
bool finish_head(RequestCursor& cur, size_t& i) {
  Request& out = cur.out;
  i += 2;
  cur.sc.pos = i;
  out.num_headers = cur.sc.num_headers;
  const Framing& f = cur.sc.framing;
  out.keep_alive = keep_alive_for(out.version_minor, f);
  out.content_length = 0;
  out.body = BodyKind::kNone;
  if (f.has_te) {
    // add_framing() already refused everything but a single "chunked".
    out.body = BodyKind::kChunked;
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing; close after.
    if (out.version_minor == 0) out.keep_alive = false;
  } else if (f.has_cl) {
    out.body = BodyKind::kContentLength;
    out.content_length = f.cl;
  }
  cur.result = Result{Status::kComplete, Error::kNone, i, 0};
  return true;
}

// Header field lines (RFC 9112 §5), one phase at a time, until the empty line.
bool field_step(RequestCursor& cur, size_t& i) {
  const std::string_view buf = cur.buf;
  const size_t n = cur.n;
  RequestScan& sc = cur.sc;
  Request& out = cur.out;
  switch (sc.phase) {
    case kFieldStart: {
      if (i >= n) return cur.incomplete_at(i);
      unsigned char c = static_cast<unsigned char>(buf[i]);
      if (c == '\r') {
        if (i + 1 >= n) return cur.incomplete_at(i);
        if (buf[i + 1] != '\n') return cur.error_at(Error::kBadHeader, i + 1);  // bare CR (RFC 9112 §2.2)
        return finish_head(cur, i);
      }
      // Whitespace at a line start is obs-fold, or whitespace before the first
      // field; both must be rejected by a server (RFC 9112 §5.2, §2.2).
      if (!is_tchar(c)) return cur.error_at(Error::kBadHeader, i);
      if (sc.num_headers == kMaxHeaders) return cur.error_at(Error::kTooManyHeaders, i);
      sc.mark = i;
      sc.phase = kFieldName;
      break;
    }
    case kFieldName:
      while (i < n && is_tchar(static_cast<unsigned char>(buf[i]))) ++i;
      if (i >= n) return cur.incomplete_at(i);
      // No whitespace between name and colon (RFC 9112 §5.1).
      if (buf[i] != ':') return cur.error_at(Error::kBadHeader, i);
      sc.name_end = i;
      ++i;
      sc.phase = kFieldOws;
      break;
    case kFieldOws:
      while (i < n && is_ows(static_cast<unsigned char>(buf[i]))) ++i;
      if (i >= n) return cur.incomplete_at(i);
      sc.value_start = i;
      sc.phase = kFieldValue;
      break;
    case kFieldValue: {
      while (i < n && buf[i] != '\r') {
        if (!is_field_vchar(static_cast<unsigned char>(buf[i]))) return cur.error_at(Error::kBadHeader, i);
        ++i;
      }
      if (i + 1 >= n) return cur.incomplete_at(i);
      if (buf[i + 1] != '\n') return cur.error_at(Error::kBadHeader, i + 1);
      size_t value_end = i;
      while (value_end > sc.value_start && is_ows(static_cast<unsigned char>(buf[value_end - 1]))) --value_end;
      std::string_view name = text::slice(buf, sc.mark, sc.name_end);
      Header& h = out.headers[sc.num_headers];
      h = Header{name, text::slice(buf, sc.value_start, value_end)};
      Error e = add_framing(sc.framing, h, Role::kRequest);
      if (e != Error::kNone) return cur.error_at(e, sc.mark);
      if (text::iequals(name, "transfer-encoding") && sc.framing.te_offset == 0) sc.framing.te_offset = sc.mark;
      ++sc.num_headers;
      i += 2;
      sc.phase = kFieldStart;
      break;
    }
    default:
      return cur.error_at(Error::kBadRequestLine, i);  // unreachable: a corrupt scan state
  }
  return false;
}

}  // namespace

Result parse_request(std::string_view buf, Request& out, RequestScan& sc, size_t max_header_bytes,
                     size_t max_target_bytes) {
  // Scan only what may belong to the head; past the limit without a complete
  // head the answer is 431 (RFC 6585 §5), decided after the scan so that an
  // earlier syntax error still wins regardless of how bytes arrived.
  const size_t n = buf.size() < max_header_bytes ? buf.size() : max_header_bytes;
  if (sc.base != nullptr && sc.base != buf.data()) rebase(out, sc, buf.data());
  sc.base = buf.data();
  RequestCursor cur{buf, n, max_header_bytes, max_target_bytes, out, sc};
  size_t i = sc.pos;
  const size_t start = i;
  for (;;) {
    const bool stop = sc.phase < kVersion      ? request_line_step(cur, i)
                      : sc.phase < kFieldStart ? version_step(cur, i)
                                               : field_step(cur, i);
    if (stop) {
      sc.scanned += i - start;  // how far this call got, whatever it answers
      return cur.result;
    }
  }
}

Result parse_response(std::string_view buf, Response& out, bool request_was_head, size_t max_header_bytes) {
  const size_t n = buf.size() < max_header_bytes ? buf.size() : max_header_bytes;
  auto out_of_room = [&](Result r) { return (r.status == Status::kIncomplete && buf.size() > max_header_bytes) ? fail(Error::kHeadersTooLarge, max_header_bytes) : r; };
  size_t i = 0;
  // RFC 9112 §2.2 asks servers to skip empty lines before a request-line; the
  // same robustness helps a client when a server sends a stray CRLF after a
  // body (seen in the wild, and in llhttp's corpus).
  while (i < n && buf[i] == '\r') {
    if (i + 1 >= n) return out_of_room(incomplete());
    if (buf[i + 1] != '\n') return fail(Error::kBadStatusLine, i + 1);
    i += 2;
  }
  int major = 0, minor = 0;
  int matched = match_version(buf, i, n, &major, &minor);
  if (matched < 0) return fail(Error::kBadVersion, i);
  if (matched < 8) return out_of_room(incomplete());
  if (major != 1 || minor > 1) return fail(Error::kVersionNotSupported, i);
  i += 8;
  // SP 3DIGIT (RFC 9112 §4)
  if (i >= n) return out_of_room(incomplete());
  if (buf[i] != ' ') return fail(Error::kBadStatusLine, i);
  ++i;
  int status = 0;
  for (int k = 0; k < 3; ++k, ++i) {
    if (i >= n) return out_of_room(incomplete());
    char c = buf[i];
    if (c < '0' || c > '9' || (k == 0 && c == '0')) return fail(Error::kBadStatusLine, i);
    status = status * 10 + (c - '0');
  }
  // [ SP reason-phrase ] CRLF. The grammar requires the SP; many servers send
  // "HTTP/1.1 200\r\n", and a client loses nothing by accepting it.
  if (i >= n) return out_of_room(incomplete());
  size_t reason_start = i;
  if (buf[i] == ' ') {
    ++i;
    reason_start = i;
    while (i < n && buf[i] != '\r') {
      if (!is_field_vchar(static_cast<unsigned char>(buf[i]))) return fail(Error::kBadStatusLine, i);
      ++i;
    }
  }
  if (i >= n) return out_of_room(incomplete());
  if (buf[i] != '\r') return fail(Error::kBadStatusLine, i);
  if (i + 1 >= n) return out_of_room(incomplete());
  if (buf[i + 1] != '\n') return fail(Error::kBadStatusLine, i + 1);
  out.version_minor = static_cast<uint8_t>(minor);
  out.status = status;
  out.reason = text::slice(buf, reason_start, i);
  i += 2;

  size_t end = 0;
  Framing f;
  Result r = parse_fields(buf, i, n, out.headers, &out.num_headers, &end, f, Role::kResponse);
  if (r.status != Status::kComplete) return out_of_room(r);

  out.keep_alive = keep_alive_for(out.version_minor, f);
  out.content_length = 0;
  // RFC 9112 §6.3 ¶1-2: no body after HEAD, for 1xx, 204 and 304, whatever the headers say.
  if (request_was_head || status < 200 || status == 204 || status == 304) {
    out.body = BodyKind::kNone;
  } else if (f.has_te) {
    if (f.te_last_chunked && f.te_other == 0) {
      out.body = BodyKind::kChunked;
    } else if (!f.te_last_chunked) {
      // RFC 9112 §6.3 ¶4: chunked is not final -> read until close. The caller
      // still cannot undo the other codings; it sees them in the headers.
      out.body = BodyKind::kUntilClose;
      out.keep_alive = false;
    } else {
      return fail(Error::kUnsupportedTransferEncoding, f.te_offset);  // e.g. "gzip, chunked"
    }
  } else if (f.has_cl) {
    out.body = BodyKind::kContentLength;
    out.content_length = f.cl;
  } else {
    out.body = BodyKind::kUntilClose;  // RFC 9112 §6.3 ¶8
    out.keep_alive = false;
  }
  return Result{Status::kComplete, Error::kNone, end, 0};
}

namespace {

// What one input byte did to a ChunkedDecoder: taken (the caller moves past it), left for the new
// state to examine, or an error (then d.state is kError and d.error says which, sticky).
enum class Step : uint8_t { kTaken, kAgain, kError };

Step chunk_error(ChunkedDecoder& d, Error e) {
  d.state = ChunkState::kError;
  d.error = e;
  return Step::kError;
}

// Size-line length bound (extensions are the only unbounded part), and the trailer section's.
bool count_line(ChunkedDecoder& d) { return ++d.line_bytes <= kMaxChunkLineBytes; }
bool count_trailer(ChunkedDecoder& d) { return ++d.trailer_bytes <= kMaxTrailerBytes; }

// chunk-size = 1*HEXDIG (kSizeStart, kSize); the first other byte goes to the extensions.
Step size_step(ChunkedDecoder& d, unsigned char c, uint64_t max_chunk_bytes) {
  const int h = text::hex_value(static_cast<char>(c));
  if (h < 0) {
    if (d.state == ChunkState::kSizeStart) return chunk_error(d, Error::kBadChunk);  // no digits
    d.state = ChunkState::kExtBws;
    return Step::kAgain;
  }
  if (!count_line(d)) return chunk_error(d, Error::kBadChunk);
  if (d.size_digits > 0 || h != 0) ++d.size_digits;  // leading zeros are harmless
  if (d.size_digits > 16) return chunk_error(d, Error::kChunkTooLarge);  // would overflow uint64
  d.remaining = (d.remaining << 4) | static_cast<uint64_t>(h);
  if (d.remaining > max_chunk_bytes) return chunk_error(d, Error::kChunkTooLarge);
  d.state = ChunkState::kSize;
  return Step::kTaken;
}

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) (RFC 9112 §7.1.1):
// separators and names, up to the CR of the size line. Extensions are checked, then ignored.
Step ext_name_step(ChunkedDecoder& d, unsigned char c) {
  switch (d.state) {
    case ChunkState::kExtBws:
      if (!count_line(d)) break;
      if (c == '\r') {
        d.state = ChunkState::kSizeLf;
      } else if (c == ';') {
        d.state = ChunkState::kExtNameStart;
      } else if (is_ows(c)) {
        d.state = ChunkState::kExtBwsSemi;
      } else {
        break;
      }
      return Step::kTaken;
    case ChunkState::kExtBwsSemi:
      // Whitespace is only allowed before a ';' (no trailing BWS before CRLF).
      if (!count_line(d) || (c != ';' && !is_ows(c))) break;
      if (c == ';') d.state = ChunkState::kExtNameStart;
      return Step::kTaken;
    case ChunkState::kExtNameStart:
      if (!count_line(d) || (!is_tchar(c) && !is_ows(c))) break;
      if (is_tchar(c)) d.state = ChunkState::kExtName;
      return Step::kTaken;
    case ChunkState::kExtName:
      if (!is_tchar(c)) {
        d.state = ChunkState::kExtAfterName;
        return Step::kAgain;
      }
      if (!count_line(d)) break;
      return Step::kTaken;
    case ChunkState::kExtAfterName:
      if (c != '=' && !is_ows(c)) {
        d.state = ChunkState::kExtBws;  // ';' or CR
        return Step::kAgain;
      }
      if (!count_line(d)) break;
      d.state = c == '=' ? ChunkState::kExtValueStart : ChunkState::kExtNameBws;
      return Step::kTaken;
    case ChunkState::kExtNameBws:
      // BWS after a name: '=' or ';' must follow (no trailing BWS before CRLF).
      if (!count_line(d) || (c != '=' && c != ';' && !is_ows(c))) break;
      if (c == '=') {
        d.state = ChunkState::kExtValueStart;
      } else if (c == ';') {
        d.state = ChunkState::kExtNameStart;
      }
      return Step::kTaken;
    default:
      break;
  }
  return chunk_error(d, Error::kBadChunk);
}

// chunk-ext-val = token / quoted-string (RFC 9112 §7.1.1).
Step ext_value_step(ChunkedDecoder& d, unsigned char c) {
  switch (d.state) {
    case ChunkState::kExtValueStart:
      if (!count_line(d)) break;
      if (c == '"') {
        d.state = ChunkState::kExtQuoted;
      } else if (is_tchar(c)) {
        d.state = ChunkState::kExtValueToken;
      } else if (!is_ows(c)) {
        break;
      }
      return Step::kTaken;
    case ChunkState::kExtValueToken:
      if (!is_tchar(c)) {
        d.state = ChunkState::kExtBws;
        return Step::kAgain;
      }
      if (!count_line(d)) break;
      return Step::kTaken;
    case ChunkState::kExtQuoted:
      // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (RFC 9110 §5.6.4)
      if (!count_line(d)) break;
      if (c == '"') {
        d.state = ChunkState::kExtBws;
      } else if (c == '\\') {
        d.state = ChunkState::kExtQuotedPair;
      } else if (!is_field_vchar(c)) {
        break;
      }
      return Step::kTaken;
    case ChunkState::kExtQuotedPair:
      if (!count_line(d) || !is_field_vchar(c)) break;
      d.state = ChunkState::kExtQuoted;
      return Step::kTaken;
    default:
      break;
  }
  return chunk_error(d, Error::kBadChunk);
}

// The LF ending a size line, and the CRLF after chunk data.
Step line_end_step(ChunkedDecoder& d, unsigned char c) {
  switch (d.state) {
    case ChunkState::kSizeLf:
      if (c != '\n') break;  // bare CR
      d.line_bytes = 0;
      // A zero size is the last-chunk (RFC 9112 §7.1): the trailer section follows.
      d.state = d.remaining == 0 ? ChunkState::kTrailerStart : ChunkState::kData;
      return Step::kTaken;
    case ChunkState::kDataCr:
      if (c != '\r') break;  // chunk data longer than its size
      d.state = ChunkState::kDataLf;
      return Step::kTaken;
    case ChunkState::kDataLf:
      if (c != '\n') break;
      d.state = ChunkState::kSizeStart;
      d.size_digits = 0;
      d.remaining = 0;
      return Step::kTaken;
    default:
      break;
  }
  return chunk_error(d, Error::kBadChunk);
}

// trailer-section CRLF (RFC 9112 §7.1.2): field lines checked, bounded by kMaxTrailerBytes and
// skipped; the final LF makes the decoder kDone.
Step trailer_step(ChunkedDecoder& d, unsigned char c) {
  if (d.state == ChunkState::kFinalLf) {
    if (c != '\n') return chunk_error(d, Error::kBadChunk);
    d.state = ChunkState::kDone;
    return Step::kTaken;
  }
  if (!count_trailer(d)) return chunk_error(d, Error::kHeadersTooLarge);
  switch (d.state) {
    case ChunkState::kTrailerStart:
      if (c == '\r') {
        d.state = ChunkState::kFinalLf;
      } else if (is_tchar(c)) {
        d.state = ChunkState::kTrailerName;  // obs-fold and other junk fall to the error
      } else {
        break;
      }
      return Step::kTaken;
    case ChunkState::kTrailerName:
      if (c == ':') {
        d.state = ChunkState::kTrailerValue;
      } else if (!is_tchar(c)) {
        break;
      }
      return Step::kTaken;
    case ChunkState::kTrailerValue:
      if (c == '\r') {
        d.state = ChunkState::kTrailerLf;
      } else if (!is_field_vchar(c)) {
        break;
      }
      return Step::kTaken;
    case ChunkState::kTrailerLf:
      if (c != '\n') break;
      d.state = ChunkState::kTrailerStart;
      return Step::kTaken;
    default:
      break;
  }
  return chunk_error(d, Error::kBadChunk);
}

}  // namespace

ChunkedResult decode_chunked(ChunkedDecoder& d, char* buf, size_t len, uint64_t max_chunk_bytes) {
  if (d.state == ChunkState::kDone) return ChunkedResult{Status::kComplete, Error::kNone, 0, 0};
  if (d.state == ChunkState::kError) return ChunkedResult{Status::kError, d.error, 0, 0};
  size_t i = 0;  // input position
  size_t o = 0;  // output position; o <= i always, so unread input is never overwritten
  while (i < len) {
    if (d.state == ChunkState::kData) {
      const size_t avail = len - i;
      const size_t take = d.remaining < avail ? static_cast<size_t>(d.remaining) : avail;
      if (o != i) memmove(buf + o, buf + i, take);
      o += take;
      i += take;
      d.remaining -= take;
      if (d.remaining == 0) d.state = ChunkState::kDataCr;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(buf[i]);
    Step step = Step::kError;
    switch (d.state) {
      case ChunkState::kSizeStart:
      case ChunkState::kSize:
        step = size_step(d, c, max_chunk_bytes);
        break;
      case ChunkState::kExtBws:
      case ChunkState::kExtBwsSemi:
      case ChunkState::kExtNameStart:
      case ChunkState::kExtName:
      case ChunkState::kExtAfterName:
      case ChunkState::kExtNameBws:
        step = ext_name_step(d, c);
        break;
      case ChunkState::kExtValueStart:
      case ChunkState::kExtValueToken:
      case ChunkState::kExtQuoted:
      case ChunkState::kExtQuotedPair:
        step = ext_value_step(d, c);
        break;
      case ChunkState::kSizeLf:
      case ChunkState::kDataCr:
      case ChunkState::kDataLf:
        step = line_end_step(d, c);
        break;
      case ChunkState::kTrailerStart:
      case ChunkState::kTrailerName:
      case ChunkState::kTrailerValue:
      case ChunkState::kTrailerLf:
      case ChunkState::kFinalLf:
        step = trailer_step(d, c);
        if (d.state == ChunkState::kDone) return ChunkedResult{Status::kComplete, Error::kNone, o, i + 1};
        break;
      case ChunkState::kData:   // handled above
      case ChunkState::kDone:   // unreachable: handled before the loop
      case ChunkState::kError:
        step = chunk_error(d, Error::kBadChunk);
        break;
    }
    if (step == Step::kError) return ChunkedResult{Status::kError, d.error, o, i};
    if (step == Step::kTaken) ++i;
  }
  return ChunkedResult{Status::kIncomplete, Error::kNone, o, i};
}

}  // namespace appconfig::http_parse
