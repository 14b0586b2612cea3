/*
 * appconfig-extension's mbedTLS 3.6 configuration (MBEDTLS_CONFIG_FILE).
 *
 * Scope: a TLS 1.2 + 1.3 *client* that talks to AWS endpoints (AppConfig, STS, the container credentials
 * endpoint over HTTPS) and to whatever AWS_CA_BUNDLE points at. Everything else is off to keep the static
 * binary small. Rationale for each group is next to it; docs/tls.md has the longer version.
 *
 * What real AWS endpoints need (checked against *.amazonaws.com chains): leaf RSA-2048 certificate from
 * "Amazon RSA 2048 M0x" signed sha256WithRSAEncryption, chaining to "Amazon Root CA 1" (RSA-2048, SHA-256);
 * ECDHE over x25519 or P-256; AES-128/256-GCM; TLS 1.3 CertificateVerify with rsa_pss_rsae_sha256; TLS 1.2
 * ServerKeyExchange with rsa_pkcs1_sha256 or rsa_pss_rsae_sha256.
 *
 * Not here on purpose: server side, DTLS, renegotiation, PSK (TLS 1.2 and 1.3), session tickets/resumption
 * (one long-lived connection per endpoint makes resumption worth little; each extra handshake costs one
 * ECDHE + one RSA verify, i.e. ~1 ms), CBC/CCM suites, SHA-224, AES decryption,
 * finite-field DHE, RSA key exchange, net_sockets (we do our own non-blocking BIO), filesystem I/O (we read
 * the CA bundle ourselves), debug output, error strings (we map the few codes we care about), self tests,
 * threading.
 */
#ifndef APPCONFIG_MBEDTLS_CONFIG_H
#define APPCONFIG_MBEDTLS_CONFIG_H

/* ---------------------------------------------------------------- system support */
#define MBEDTLS_HAVE_ASM            /* bignum inner loops in asm on x86_64 / aarch64: RSA verify speed */
#define MBEDTLS_HAVE_TIME           /* time() for certificate validity and TLS timestamps */
#define MBEDTLS_HAVE_TIME_DATE      /* gmtime_r(): check notBefore/notAfter of every certificate */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY     /* calloc/free are redirected to our fixed heap */
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
#define MBEDTLS_MEMORY_DEBUG        /* only for mbedtls_memory_buffer_alloc_max_get(): heap high-water mark */
#define MBEDTLS_MEMORY_ALIGN_MULTIPLE 16 /* default 4 misaligns 8-byte fields on 64-bit (UBSan caught it) */
#define MBEDTLS_DEPRECATED_REMOVED

/* ---------------------------------------------------------------- randomness */
/* entropy_poll.c uses the getrandom() syscall on Linux (falls back to /dev/urandom on old kernels). */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_ENTROPY_MAX_SOURCES 2   /* the platform source only; default 20 wastes RAM */

/* ---------------------------------------------------------------- hashes */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C            /* TLS handshake hash, HKDF, most certificate signatures */
/* No SHA-224: no TLS signature algorithm uses it, and no root of Debian's bundle is signed with it. */
#define MBEDTLS_SHA384_C            /* TLS_AES_256_GCM_SHA384, ECDSA-SHA384 (Amazon Root CA 3/4, P-384 chains) */
#define MBEDTLS_SHA512_C            /* sha512.c provides SHA-384 */
/* Not MBEDTLS_SHA256_SMALLER / MBEDTLS_SHA512_SMALLER: the rolled loops saved ~2 KB but cost 5-8 % of a new
 * connection's CPU (bench/tls.sh: RSA 1,488-1,512 vs 1,372-1,396 us, ECDSA 2,704-2,804 vs 2,549-2,626 us),
 * and a new connection is on the cold-start path of the first fetch. */
/* SHA-1: only so that trust anchors whose *self*-signature is sha1WithRSA still parse (mbedTLS drops a
 * certificate whose signature algorithm it does not know, e.g. "DigiCert Global Root CA", "Starfield Class 2
 * CA"). Chain verification still refuses SHA-1 signatures: the default X.509 profile allows SHA-224+ only,
 * and TLS signature_algorithms never offer SHA-1. */
#define MBEDTLS_SHA1_C

/* ---------------------------------------------------------------- symmetric ciphers */
#define MBEDTLS_CIPHER_C
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES      /* tables in .rodata, not built in RAM at start-up */
#define MBEDTLS_AES_FEWER_TABLES    /* 2 KiB of tables instead of 8 KiB; ~5% slower, bodies are small */
/* GCM and CTR_DRBG only ever run AES forwards (no CBC/ECB): no decryption code or tables (-3.2 KB). */
#define MBEDTLS_BLOCK_CIPHER_NO_DECRYPT
#define MBEDTLS_GCM_C
/* ChaCha20-Poly1305 stays although AWS endpoints choose AES-GCM: mbedTLS offers it first, and a server that
 * follows the client's order (nginx's default, many proxies) then gets ~1.7x the bulk speed of our software AES
 * (185 vs 97-115 MB/s measured, x86_64 -Os). Dropping it would save 3.9 KB (docs/tls.md). */
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_HKDF_C              /* TLS 1.3 key schedule (PSA HKDF extract/expand derive from this) */

/* ---------------------------------------------------------------- public key */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15           /* sha256WithRSAEncryption certificates; TLS 1.2 rsa_pkcs1_* */
#define MBEDTLS_PKCS1_V21           /* TLS 1.3 CertificateVerify rsa_pss_rsae_*; TLS 1.2 may use it too */
#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C             /* verification of ECDSA certificates and handshake signatures */
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0 /* no precomputed comb tables: they cost 8-65 KiB of binary for ~4 % of an ECDSA handshake (bench/tls.sh) */
#define MBEDTLS_ECP_NIST_OPTIM      /* fast P-256/P-384 reduction: halves ECDSA verify cost (bench/tls.sh) */
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C        /* ECDSA/PSA signature conversion */
#define MBEDTLS_OID_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_MPI_MAX_SIZE 1024   /* default; bounds RSA keys at 8192 bits (some roots are 4096) */

/* ---------------------------------------------------------------- PSA: the minimum TLS 1.3 requires */
#define MBEDTLS_PSA_CRYPTO_C        /* TLS 1.3 key schedule, ECDHE and AEAD go through PSA in 3.6 */
#define MBEDTLS_PSA_KEY_STORE_DYNAMIC

/* ---------------------------------------------------------------- X.509 */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
/* Without this mbedTLS 3.6 leaves rsa_pss_rsae_* out of signature_algorithms (ssl_tls.c, default sig_algs),
 * and a TLS 1.3 server with an RSA certificate (every AWS endpoint) can only sign CertificateVerify with
 * RSA-PSS (RFC 8446 4.2.3), so it aborts with handshake_failure. Also accepts PSS-signed certificates. */
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT
#define MBEDTLS_X509_REMOVE_INFO    /* no human-readable dumps; we word errors ourselves */
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_BASE64_C

/* ---------------------------------------------------------------- TLS */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED /* (EC)DHE only: no PSK modes */
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE  /* RFC 8446 D.4: survives middleboxes on real networks */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED   /* TLS 1.2 with AWS's RSA certificates */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED /* TLS 1.2 with ECDSA certificates (proxies, custom CAs) */
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET      /* RFC 7627: required for a safe TLS 1.2 */
#define MBEDTLS_SSL_SERVER_NAME_INDICATION      /* AWS endpoints need SNI */
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE       /* required by the 3.6 TLS 1.3 code */
/* Record buffers. IN must stay 16 KiB: AWS endpoints do not honour max_fragment_length, so a server may send
 * full 2^14-byte records (RFC 8446 5.1). OUT is small: our requests are a few hundred bytes to a few KiB,
 * and a longer write is simply split into several records. */
#define MBEDTLS_SSL_IN_CONTENT_LEN  16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096
/* Session resumption is off: no MBEDTLS_SSL_SESSION_TICKETS (1.2 and 1.3). A TLS 1.3 NewSessionTicket
 * from the server is then read and ignored by mbedTLS. No session cache (server-side only anyway). */

#endif /* APPCONFIG_MBEDTLS_CONFIG_H */
