/*
 * Unit tests: the RFC 9475 msgi claim (proto/proto_msgi.h), STIR.md D1 and
 * T9.
 *
 * Broken RFC example: RFC 9475 3.2's msgi
 * "sha256-H8BRh8j48O9oYatfu5AZzq6A9RINQZngK7T62em8MUt1FLm52t+eX6xO" decodes
 * to 42 octets, not 32: it can only ever be a mismatch.
 *
 * Not covered: STIR.md D1's CPIM body (RFC 3862 5.1, 544 octets); its
 * exact bytes depend on line layout the RFC text does not pin down.
 */
#include "lib/sg.h"
#include "proto/proto_msgi.h"
#include "tests/unit/tu.h"

#include <string.h>

#define S_HELLO "Hello, world!"
#define S_HELLO_256 "sha256-MV9b23bQeMQ7isAGTkoBZGErH853yGk0W/yUx1iU7dM="
#define S_HELLO_384                                                            \
    "sha384-VbxVaw0v4Pzlgrpf4Huq//A1ZTY4x6wNVJTCpkwL6hzFczHHwSpFzbyn9MNKCJ7r"
#define S_HELLO_512                                                            \
    "sha512-wVJ82JPBJHc9gRkRlwyP5uhX1t9dySJr2KFgYUwM2WOk3eorlLt9NgIe+dhl1c6i"  \
    "lKgt1JoLsmn1H256V/eUIQ=="
#define S_EMPTY_256 "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

static proto_reason
s_check(const char *msgi, const char *body)
{
    return proto_msgi_check(msgi, (const uint8_t *)body, strlen(body));
}

TU_TEST(msgi_d1_compute)
{
    const uint8_t *hello = (const uint8_t *)S_HELLO;
    char out[PROTO_MSGI_MAX];

    proto_msgi_compute(PROTO_MSGI_SHA256, hello, 13, out);
    TU_STREQ(out, S_HELLO_256);
    proto_msgi_compute(PROTO_MSGI_SHA384, hello, 13, out);
    TU_STREQ(out, S_HELLO_384);
    proto_msgi_compute(PROTO_MSGI_SHA512, hello, 13, out);
    TU_STREQ(out, S_HELLO_512);
    TU_CHECK(strlen(out) < PROTO_MSGI_MAX);
    proto_msgi_compute(PROTO_MSGI_SHA256, NULL, 0, out);
    TU_STREQ(out, S_EMPTY_256);
}

TU_TEST(msgi_d1_check)
{
    TU_INTEQ(s_check(S_HELLO_256, S_HELLO), REASON_OK);
    TU_INTEQ(s_check(S_HELLO_384, S_HELLO), REASON_OK);
    TU_INTEQ(s_check(S_HELLO_512, S_HELLO), REASON_OK);
    TU_INTEQ(s_check(S_EMPTY_256, ""), REASON_OK);
    TU_INTEQ(proto_msgi_check(S_EMPTY_256, NULL, 0), REASON_OK);
    /* Unpadded is accepted too (DESIGN.md 3.1). */
    TU_INTEQ(
        s_check("sha256-MV9b23bQeMQ7isAGTkoBZGErH853yGk0W/yUx1iU7dM", S_HELLO),
        REASON_OK);

    /* One body byte changed, a CRLF added, the wrong algorithm's digest. */
    TU_INTEQ(s_check(S_HELLO_256, "Hello, world?"), REASON_MSGI_MISMATCH);
    TU_INTEQ(s_check(S_HELLO_256, S_HELLO "\r\n"), REASON_MSGI_MISMATCH);
    TU_INTEQ(s_check(S_EMPTY_256, S_HELLO), REASON_MSGI_MISMATCH);
    TU_INTEQ(s_check("sha256-VbxVaw0v4Pzlgrpf4Huq//A1ZTY4x6wNVJTCpkwL6hzFczHH"
                     "wSpFzbyn9MNKCJ7r",
                     S_HELLO),
             REASON_MSGI_MISMATCH);
    TU_INTEQ(
        s_check("sha384-MV9b23bQeMQ7isAGTkoBZGErH853yGk0W/yUx1iU7dM=", S_HELLO),
        REASON_MSGI_MISMATCH);
}

TU_TEST(msgi_t9_rfc_example_is_mismatch)
{
    static const char t9[] =
        "sha256-H8BRh8j48O9oYatfu5AZzq6A9RINQZngK7T62em8MUt1FLm52t+eX6xO";

    TU_INTEQ(s_check(t9, S_HELLO), REASON_MSGI_MISMATCH);
    TU_INTEQ(s_check(t9, ""), REASON_MSGI_MISMATCH);
}

TU_TEST(msgi_shapes)
{
    /* Well-formed, unknown algorithm. */
    TU_INTEQ(s_check("md5-MV9b23bQeMQ7isAGTkoBZA==", S_HELLO),
             REASON_MSGI_UNSUPPORTED_ALG);
    TU_INTEQ(s_check("sha3256-MV9b23bQeMQ7isAGTkoBZGErH853yGk0W/yUx1iU7dM=",
                     S_HELLO),
             REASON_MSGI_UNSUPPORTED_ALG);
    TU_INTEQ(s_check("sha1-MV9b", S_HELLO), REASON_MSGI_UNSUPPORTED_ALG);

    /* Not "<lowercase alg>-<base64>". */
    static const char *bad[] = {
        "",
        "sha256",
        "sha256-",
        "-MV9b",
        "SHA256-MV9b23bQeMQ7isAGTkoBZGErH853yGk0W/yUx1iU7dM=",
        "sha_256-MV9b",
        "sha-256-MV9b23bQeMQ7isAGTkoBZGErH853yGk0W/yUx1iU7dM=",
        "sha256-MV9b23bQeMQ7isAGTkoBZGErH853yGk0W_yUx1iU7dM=", /* url */
        "sha256-MV9b23bQeMQ7isAGTkoBZGErH853yGk0W/yUx1iU7dM==",
        "sha256-MV9b23bQeMQ7isAGTkoBZGErH853yGk0W/yUx1iU7dM= ",
        " sha256-MV9b23bQeMQ7isAGTkoBZGErH853yGk0W/yUx1iU7dM=",
        "sha256-M",
        "abcdefghijklmnopqrstuvwxyz0123456789-MV9b",
    };
    for (size_t i = 0; i < SG_NELEM(bad); i++) {
        if (s_check(bad[i], S_HELLO) != REASON_MALFORMED_PASSPORT)
            tu_note("  %s", bad[i]);
        TU_INTEQ(s_check(bad[i], S_HELLO), REASON_MALFORMED_PASSPORT);
    }
    TU_INTEQ(proto_msgi_check(NULL, NULL, 0), REASON_MALFORMED_PASSPORT);

    /* A long, well-formed digest of a known algorithm: wrong length. */
    {
        char big[400];

        memcpy(big, "sha256-", 7);
        memset(big + 7, 'A', 300);
        big[307] = '\0';
        TU_INTEQ(s_check(big, S_HELLO), REASON_MSGI_MISMATCH);
        memset(big + 7, 'A', 392);
        big[399] = '\0';
        TU_CHECK(s_check(big, S_HELLO) != REASON_OK);
    }
}
