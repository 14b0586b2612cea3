// libFuzzer target: parse_response() and decode_chunked() must give the same
// answer for the whole input as for a prefix/split of it, and must never read
// outside the buffer (ASan).
#include "appconfig/net/http_parse.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace hp = appconfig::http_parse;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool same_result(const hp::Result& a, const hp::Result& b) {
  return a.status == b.status && a.error == b.error && a.consumed == b.consumed && a.error_offset == b.error_offset;
}

bool same_response(const hp::Response& a, const hp::Response& b) {
  if (a.version_minor != b.version_minor || a.status != b.status || a.reason != b.reason ||
      a.num_headers != b.num_headers || a.body != b.body || a.content_length != b.content_length ||
      a.keep_alive != b.keep_alive)
    return false;
  for (size_t i = 0; i < a.num_headers; ++i) {
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) return false;
  }
  return true;
}

// Decodes `in` in pieces ending at each cut; returns the final result and the
// concatenated body in `out` (sized n).
hp::ChunkedResult decode_pieces(const uint8_t* in, size_t n, const size_t* cuts, size_t ncuts, uint64_t max_chunk,
                                char* out, size_t* out_len, size_t* consumed) {
  hp::ChunkedDecoder d{};
  hp::ChunkedResult r{hp::Status::kIncomplete, hp::Error::kNone, 0, 0};
  size_t pos = 0;
  *out_len = 0;
  for (size_t k = 0; k < ncuts; ++k) {
    size_t len = cuts[k] - pos;
    std::unique_ptr<char[]> piece(new char[len ? len : 1]);
    memcpy(piece.get(), in + pos, len);
    r = hp::decode_chunked(d, piece.get(), len, max_chunk);
    check(r.data_len <= r.consumed && r.consumed <= len);
    memcpy(out + *out_len, piece.get(), r.data_len);
    *out_len += r.data_len;
    pos += r.consumed;
    if (r.status != hp::Status::kIncomplete) break;
    check(r.consumed == len);
  }
  *consumed = pos;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t knob = data[1];
  const uint8_t* in = data + 2;
  const size_t n = size - 2;
  const size_t split = n ? (data[0] * n) / 255 : 0;
  const bool head = knob & 1;
  const size_t max_head = (knob & 2) ? 64 + knob : hp::kDefaultMaxHeaderBytes;

  std::unique_ptr<char[]> whole(new char[n ? n : 1]);
  memcpy(whole.get(), in, n);
  std::unique_ptr<char[]> prefix(new char[split ? split : 1]);
  memcpy(prefix.get(), in, split);

  auto r1 = std::make_unique<hp::Response>();
  auto r2 = std::make_unique<hp::Response>();
  hp::Result w = hp::parse_response(std::string_view(whole.get(), n), *r1, head, max_head);
  hp::Result p = hp::parse_response(std::string_view(prefix.get(), split), *r2, head, max_head);

  check(w.status != hp::Status::kComplete || (w.consumed > 0 && w.consumed <= n && w.consumed <= max_head));
  check(w.status != hp::Status::kError || (w.error != hp::Error::kNone && w.error_offset <= n));
  if (w.status == hp::Status::kComplete) {
    check(r1->status >= 100 && r1->status <= 999 && r1->version_minor <= 1 && r1->num_headers <= hp::kMaxHeaders);
    bool bodiless = head || r1->status < 200 || r1->status == 204 || r1->status == 304;
    check(!bodiless || r1->body == hp::BodyKind::kNone);
    check(r1->body != hp::BodyKind::kUntilClose || !r1->keep_alive);
  }
  if (p.status != hp::Status::kIncomplete) {
    check(same_result(p, w));
    if (p.status == hp::Status::kComplete) check(same_response(*r1, *r2));
  }
  if (w.status == hp::Status::kIncomplete) check(p.status == hp::Status::kIncomplete);

  // The decoder on the remainder: whole, split in two, and byte by byte (short inputs).
  size_t body_at = w.status == hp::Status::kComplete ? w.consumed : 0;
  const uint8_t* b = in + body_at;
  size_t rest = n - body_at;
  uint64_t max_chunk = (knob & 4) ? knob : UINT64_MAX;
  std::unique_ptr<char[]> o1(new char[rest + 1]), o2(new char[rest + 1]);
  size_t l1 = 0, l2 = 0, c1 = 0, c2 = 0;
  size_t whole_cut[1] = {rest};
  hp::ChunkedResult cw = decode_pieces(b, rest, whole_cut, 1, max_chunk, o1.get(), &l1, &c1);
  size_t two[2] = {rest ? (data[0] * rest) / 255 : 0, rest};
  hp::ChunkedResult cs = decode_pieces(b, rest, two, 2, max_chunk, o2.get(), &l2, &c2);
  check(cw.status == cs.status && cw.error == cs.error);
  if (cw.status != hp::Status::kError) check(c1 == c2 && l1 == l2 && memcmp(o1.get(), o2.get(), l1) == 0);
  if (rest <= 256) {
    size_t cuts[256];
    for (size_t k = 0; k < rest; ++k) cuts[k] = k + 1;
    hp::ChunkedResult cb = decode_pieces(b, rest, cuts, rest, max_chunk, o2.get(), &l2, &c2);
    if (rest > 0) {
      check(cw.status == cb.status && cw.error == cb.error);
      if (cw.status != hp::Status::kError) check(c1 == c2 && l1 == l2 && memcmp(o1.get(), o2.get(), l1) == 0);
    }
  }
  return 0;
}
