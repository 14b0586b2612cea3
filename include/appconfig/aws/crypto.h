// crypto: the few hash primitives the agent needs, over mbedTLS 3.6.
//
// Owns: SHA-256 (one-shot and incremental), HMAC-SHA-256 (RFC 2104, written
// here over the SHA-256 context so only sha256.c is needed from mbedTLS),
// lowercase hex, and wiping secrets. Knows nothing of AWS or HTTP.
// No allocation; every output is a caller buffer of the stated size. The
// mbedTLS context lives inside Sha256 as opaque storage so this header does
// not pull mbedTLS headers into every user.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace appconfig::crypto {

// SHA-256 digest size (FIPS 180-4).
constexpr size_t kSha256Bytes = 32;
// SHA-256 block size; HMAC pads or hashes the key to this length (RFC 2104 §2).
constexpr size_t kSha256BlockBytes = 64;
// Room for mbedtls_sha256_context (about 112 bytes in 3.6); checked by a
// static_assert in crypto.cpp so a future mbedTLS cannot overflow it silently.
constexpr size_t kSha256ContextBytes = 128;

// Incremental SHA-256. Not copyable (it holds hash state that may be derived
// from secrets); the destructor wipes the state.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::span<const uint8_t> data);
  void update(std::string_view data);
  // Writes the digest and resets the object so it can be reused.
  void finish(uint8_t out[kSha256Bytes]);

 private:
  alignas(16) unsigned char ctx_[kSha256ContextBytes];
};

void sha256(std::span<const uint8_t> data, uint8_t out[kSha256Bytes]);
void sha256(std::string_view data, uint8_t out[kSha256Bytes]);

// HMAC-SHA-256 (RFC 2104 / RFC 4231). Keys longer than one block are hashed
// first, as the RFC requires. Intermediate pads are wiped before returning.
void hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data,
                 uint8_t out[kSha256Bytes]);
void hmac_sha256(std::span<const uint8_t> key, std::string_view data, uint8_t out[kSha256Bytes]);

// Writes 2*len lowercase hex characters to out (no terminator).
void hex_lower(const uint8_t* data, size_t len, char* out);

// Zeroes memory in a way the compiler may not elide (mbedtls_platform_zeroize).
void secure_wipe(void* p, size_t len);

}  // namespace appconfig::crypto
