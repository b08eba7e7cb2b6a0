/*
 * Test vectors shared by the proto unit tests: the tokens of STIR.md
 * section 9, byte for byte.  Data only: each test_proto_*.c file declares
 * the ones it uses as `extern const char tv_...[]` and does the checks.
 */

/* T1: RFC 8225 s7.1 (also RFC 8224 s4.1.1, RFC 9410 s5); iat is a string. */
const char tv_t1[] =
    "eyJhbGciOiJFUzI1NiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9jZXJ0Lm"
    "V4YW1wbGUub3JnL3Bhc3Nwb3J0LmNlciJ9.eyJkZXN0Ijp7InVyaSI6WyJzaXA6YWxpY2V"
    "AZXhhbXBsZS5jb20iXX0sImlhdCI6IjE0NDMyMDgzNDUiLCJvcmlnIjp7InRuIjoiMTIxN"
    "TU1NTEyMTIifX0.rq3pjT1hoRwakEGjHCnWSwUnshd0-zJ6F1VOgFWSjHBr8Qjpjlk-cpF"
    "YpFYsojNCpTzO3QfPOlckGaS6hEck7w";

/*
 * T2: RFC 8225 Appendix A; numeric iat.  Its signature verifies with
 * neither Appendix A key: a serialization vector only.
 */
const char tv_t2[] =
    "eyJhbGciOiJFUzI1NiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9jZXJ0Lm"
    "V4YW1wbGUub3JnL3Bhc3Nwb3J0LmNlciJ9.eyJkZXN0Ijp7InVyaSI6WyJzaXA6YWxpY2V"
    "AZXhhbXBsZS5jb20iXX0sImlhdCI6MTQ3MTM3NTQxOCwib3JpZyI6eyJ0biI6IjEyMTU1N"
    "TUxMjEyIn19.VLBCIVDCaeK6M4hLJb6SHQvacAQVvoiiEOWQ_iUkqk79UD81fHQ0E1b3_G"
    "luIkba7UWYRM47ZbNFdOJquE35cw";

/* T4: RFC 8946 s3 div PASSporT (its div TN has 12 digits, as signed). */
const char tv_t4_div[] =
    "eyJhbGciOiJFUzI1NiIsInBwdCI6ImRpdiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaH"
    "R0cHM6Ly93d3cuZXhhbXBsZS5jb20vY2VydC5jZXIifQ.eyJkZXN0Ijp7InRuIjpbIjEyM"
    "TU1NTUxMjE0Il19LCJkaXYiOnsidG4iOiIxMjE1NTU1NTEyMTMifSwiaWF0IjoxNDQzMjA"
    "4MzQ1LCJvcmlnIjp7InRuIjoiMTIxNTU1NTEyMTIifX0.xBHWipDEEJ8a6TsdX6xUXAnbl"
    "sFiGUiAxwLiv0HLC9IICj6eG9jQd6WzeSSjHRBwxmChHhVIiMTSqIlk3yCNkg";

/* T4: RFC 8946 s5, the original PASSporT embedded as opt. */
const char tv_t4_orig[] =
    "eyJhbGciOiJFUzI1NiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly93d3cuZX"
    "hhbXBsZS5jb20vY2VydC5jZXIifQ.eyJkZXN0Ijp7InRuIjpbIjEyMTU1NTUxMjEzIl19L"
    "CJpYXQiOjE0NDMyMDgzNDUsIm9yaWciOnsidG4iOiIxMjE1NTU1MTIxMiJ9fQ.1bEzkzcN"
    "bKvgz4QoMx0_DJ2T8qFMDC1sPqHPXl1WvbauzRJRvYlZqQ0qgGTlS8tJ_wXjVe07Z3wvDr"
    "dApHhhYw";

/* T4: RFC 8946 s5 div-o; dest.tn is a string, not an array. */
const char tv_t4_divo[] =
    "eyJhbGciOiJFUzI1NiIsInBwdCI6ImRpdi1vIiwidHlwIjoicGFzc3BvcnQiLCJ4NXUiOi"
    "JodHRwczovL3d3dy5leGFtcGxlLmNvbS9jZXJ0LmNlciJ9.eyJkZXN0Ijp7InRuIjoiMTI"
    "xNTU1NTEyMTQifSwiZGl2Ijp7InRuIjoiMTIxNTU1NTUxMjEzIn0sImlhdCI6MTQ0MzIwO"
    "DM0NSwib3B0IjoiZXlKaGJHY2lPaUpGVXpJMU5pSXNJblI1Y0NJNkluQmhjM053YjNKMEl"
    "pd2llRFYxSWpvaWFIUjBjSE02THk5M2QzY3VaWGhoYlhCc1pTNWpiMjB2WTJWeWRDNWpaW"
    "ElpZlEuZXlKa1pYTjBJanA3SW5SdUlqcGJJakV5TVRVMU5UVXhNakV6SWwxOUxDSnBZWFF"
    "pT2pFME5ETXlNRGd6TkRVc0ltOXlhV2NpT25zaWRHNGlPaUl4TWpFMU5UVTFNVEl4TWlKO"
    "WZRLjFiRXpremNOYkt2Z3o0UW9NeDBfREoyVDhxRk1EQzFzUHFIUFhsMVd2YmF1elJKUnZ"
    "ZbFpxUTBxZ0dUbFM4dEpfd1hqVmUwN1ozd3ZEcmRBcEhoaFl3Iiwib3JpZyI6eyJ0biI6I"
    "jEyMTU1NTUxMjEyIn19.CHeA9wRnthl7paMe6rP0TARpmFCXjmi_vF_HRz2O_oulB_R-G9"
    "xZNiLVvmvHv4gk6LILaDV2y2VtHTLIEgmHig";

/* T5: RFC 7515 A.3 ES256 JWS: no typ, CRLFs inside the payload. */
const char tv_t5[] =
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogI"
    "mh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOy"
    "KAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/* D2: derived msg PASSporT (RFC 6979 signature, RFC 8946 key). */
const char tv_d2[] =
    "eyJhbGciOiJFUzI1NiIsInBwdCI6Im1zZyIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaH"
    "R0cHM6Ly9jZXJ0LmV4YW1wbGUub3JnL3Bhc3Nwb3J0LmNlciJ9.eyJkZXN0Ijp7InRuIjp"
    "bIjEyMTU1NTUxMjEzIl19LCJpYXQiOjE0NDMyMDgzNDUsIm1zZ2kiOiJzaGEyNTYtTVY5Y"
    "jIzYlFlTVE3aXNBR1Rrb0JaR0VySDg1M3lHazBXL3lVeDFpVTdkTT0iLCJvcmlnIjp7InR"
    "uIjoiMTIxNTU1NTEyMTIifX0.lf7oPr8qvOZiYJkRGIIazHEL3OpF2c8OQEBX5SWPw7fCj"
    "6_Jyq3Lz9me8RqzZtVpOpmEzbor7aEXZeDsveo_kw";
