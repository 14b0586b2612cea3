// crypto: SHA-256 / HMAC-SHA-256 over mbedTLS. See include/appconfig/aws/crypto.h.
#include "appconfig/aws/crypto.h"

#include <cstring>
#include <new>

#include "appconfig/core/text.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha256.h"

namespace appconfig::crypto {
namespace {

static_assert(sizeof(mbedtls_sha256_context) <= kSha256ContextBytes,
              "raise kSha256ContextBytes for this mbedTLS version");
static_assert(alignof(mbedtls_sha256_context) <= 16, "Sha256 storage alignment too small");

mbedtls_sha256_context* ctx_of(unsigned char* storage) {
  return std::launder(reinterpret_cast<mbedtls_sha256_context*>(storage));
}

}  // namespace

Sha256::Sha256() {
  auto* ctx = new (ctx_) mbedtls_sha256_context;
  mbedtls_sha256_init(ctx);
  // Software SHA-256 cannot fail; the return value only reports bad parameters.
  (void)mbedtls_sha256_starts(ctx, /*is224=*/0);
}

Sha256::~Sha256() {
  mbedtls_sha256_free(ctx_of(ctx_));  // zeroizes the context
}

void Sha256::update(std::span<const uint8_t> data) {
  if (!data.empty()) (void)mbedtls_sha256_update(ctx_of(ctx_), data.data(), data.size());
}

void Sha256::update(std::string_view data) {
  update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

void Sha256::finish(uint8_t out[kSha256Bytes]) {
  auto* ctx = ctx_of(ctx_);
  (void)mbedtls_sha256_finish(ctx, out);
  (void)mbedtls_sha256_starts(ctx, 0);
}

void sha256(std::span<const uint8_t> data, uint8_t out[kSha256Bytes]) {
  Sha256 h;
  h.update(data);
  h.finish(out);
}

void sha256(std::string_view data, uint8_t out[kSha256Bytes]) {
  Sha256 h;
  h.update(data);
  h.finish(out);
}

void hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data,
                 uint8_t out[kSha256Bytes]) {
  // RFC 2104 §2: K0 = key (hashed if longer than B, zero-padded to B);
  // HMAC = H((K0 ^ opad) || H((K0 ^ ipad) || data)).
  uint8_t k0[kSha256BlockBytes] = {};
  if (key.size() > kSha256BlockBytes) {
    sha256(key, k0);
  } else if (!key.empty()) {
    std::memcpy(k0, key.data(), key.size());
  }
  uint8_t pad[kSha256BlockBytes];
  for (size_t i = 0; i < kSha256BlockBytes; ++i) pad[i] = static_cast<uint8_t>(k0[i] ^ 0x36);
  uint8_t inner[kSha256Bytes];
  {
    Sha256 h;
    h.update(std::span<const uint8_t>(pad, sizeof pad));
    h.update(data);
    h.finish(inner);
  }
  for (size_t i = 0; i < kSha256BlockBytes; ++i) pad[i] = static_cast<uint8_t>(k0[i] ^ 0x5c);
  {
    Sha256 h;
    h.update(std::span<const uint8_t>(pad, sizeof pad));
    h.update(std::span<const uint8_t>(inner, sizeof inner));
    h.finish(out);
  }
  secure_wipe(k0, sizeof k0);
  secure_wipe(pad, sizeof pad);
  secure_wipe(inner, sizeof inner);
}

void hmac_sha256(std::span<const uint8_t> key, std::string_view data, uint8_t out[kSha256Bytes]) {
  hmac_sha256(key,
              std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
              out);
}

void hex_lower(const uint8_t* data, size_t len, char* out) {
  for (size_t i = 0; i < len; ++i) {
    out[2 * i] = text::kHexLower[data[i] >> 4];
    out[2 * i + 1] = text::kHexLower[data[i] & 0x0f];
  }
}

void secure_wipe(void* p, size_t len) { mbedtls_platform_zeroize(p, len); }

}  // namespace appconfig::crypto
