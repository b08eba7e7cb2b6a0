/*
 * proto/proto_api.c - the POST /v1/messages body and the API's answers.
 *
 * The body bytes are what msgi covers (DESIGN.md 3.1: for HTTP, the
 * decoded body), so "body" is taken as the exact UTF-8 bytes jansson
 * decoded, NULs included (JSON_ALLOW_NUL), and "body_base64" as the exact
 * decoded octets; neither is normalized.
 */
#include "proto/proto_api.h"

#include "proto/proto_b64.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
proto_api_limits_default(proto_api_limits_t *self)
{
    self->max_recipients = 100;
    self->max_body = 65536;
    self->max_identity = 8;
}

static sg_rc s_fail(proto_api_err_t *err, const char *reason, const char *fmt,
                    ...) SG_PRINTF(3, 4);

static sg_rc
s_fail(proto_api_err_t *err, const char *reason, const char *fmt, ...)
{
    va_list ap;

    err->reason = reason;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    /* Messages quote outside text (jansson's "near ..."): keep them plain
     * ASCII so they are safe in a log line and valid in the error JSON. */
    for (char *c = err->message; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    return SG_REFUSED;
}

/*
 * A string that will sit in a SIP header field or a log: 1..max bytes, no
 * NUL, no control character (HTAB included: nothing here needs one), no
 * DEL.  UTF-8 beyond ASCII is allowed (jansson has checked it).
 */
static int
s_text_ok(json_t *v, size_t max)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (s == NULL || n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

/* RFC 3261 token characters, for the media type's type and subtype. */
static int
s_is_token(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-.!%*_+`'~", c) != NULL);
}

/* type "/" subtype, then anything printable (parameters). */
static int
s_media_ok(json_t *v)
{
    const char *s = json_string_value(v);
    size_t i = 0;

    if (!s_text_ok(v, PROTO_API_CTYPE_MAX))
        return 0;
    while (s_is_token((unsigned char)s[i]))
        i++;
    if (i == 0 || s[i] != '/')
        return 0;
    if (!s_is_token((unsigned char)s[++i]))
        return 0;
    while (s_is_token((unsigned char)s[i]))
        i++;
    for (; s[i]; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

/*
 * A string or an array of 1..max strings, each passing s_text_ok: copied
 * into a new vector.  Returns SG_OK or refuses naming `name`.
 */
static sg_rc
s_strings(json_t *v, const char *name, size_t max, size_t maxlen,
          const char *too_many, char ***out, size_t *nout, proto_api_err_t *err)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;

    if (!json_is_string(v) && !json_is_array(v))
        return s_fail(err, "bad_field",
                      "%s: expected a string or an array of strings", name);
    if (n == 0)
        return s_fail(err, "bad_field", "%s: empty array", name);
    if (n > max)
        return s_fail(err, too_many, "%s: more than %zu entries", name, max);
    *out = sg_calloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(v) ? json_array_get(v, i) : v;

        if (!json_is_string(s) || !s_text_ok(s, maxlen))
            return s_fail(err, "bad_field",
                          "%s: entry %zu is not a string of 1..%zu bytes "
                          "without control characters",
                          name, i, maxlen);
        (*out)[i] = sg_strndup(json_string_value(s), json_string_length(s));
        *nout = i + 1;
    }
    return SG_OK;
}

static const char *const s_members[] = {
    "from",        "to",       "content_type", "body",
    "body_base64", "identity", "expires",      "idempotency_id",
    "status_url",
};

static sg_rc
s_body(json_t *body, json_t *b64, const proto_api_limits_t *lim,
       proto_api_msg_t *out, proto_api_err_t *err)
{
    if (body && b64)
        return s_fail(err, "bad_field",
                      "give exactly one of body and body_base64");
    if (!body && !b64)
        return s_fail(err, "missing_field", "body or body_base64 is required");
    if (body) {
        if (!json_is_string(body))
            return s_fail(err, "bad_field", "body: expected a string");
        if (json_string_length(body) > lim->max_body)
            return s_fail(err, "body_too_large", "body: more than %zu bytes",
                          lim->max_body);
        out->body_len = json_string_length(body);
        out->body = sg_memdup(json_string_value(body), out->body_len);
        return SG_OK;
    }

    const char *s = json_string_value(b64);
    size_t n = json_string_length(b64), max;

    if (!json_is_string(b64))
        return s_fail(err, "bad_field", "body_base64: expected a string");
    /* Refuse before decoding what cannot fit: a padded group of 4 gives at
     * least 1 octet, so n / 4 - 1 groups give at least 3 each. */
    if (n / 4 > lim->max_body / 3 + 1)
        return s_fail(err, "body_too_large",
                      "body_base64: more than %zu "
                      "bytes decoded",
                      lim->max_body);
    max = proto_b64_dec_max(n);
    out->body = sg_malloc(max);
    if (proto_b64_decode(s, n, 0, out->body, &out->body_len) != SG_OK)
        return s_fail(err, "bad_field",
                      "body_base64: not standard padded base64");
    if (out->body_len > lim->max_body)
        return s_fail(err, "body_too_large",
                      "body_base64: more than %zu bytes decoded",
                      lim->max_body);
    return SG_OK;
}

static sg_rc
s_parse(json_t *root, const proto_api_limits_t *lim, proto_api_msg_t *out,
        proto_api_err_t *err)
{
    const char *key;
    json_t *v;
    sg_rc rc;

    json_object_foreach(root, key, v)
    {
        size_t i;

        for (i = 0; i < SG_NELEM(s_members); i++)
            if (strcmp(key, s_members[i]) == 0)
                break;
        if (i == SG_NELEM(s_members)) {
            char q[64];

            /* At most a prefix of the name: it came from outside. */
            snprintf(q, sizeof(q), "%.40s", key);
            return s_fail(err, "unknown_field", "unknown member \"%s\"", q);
        }
    }

    v = json_object_get(root, "from");
    if (v == NULL)
        return s_fail(err, "missing_field", "from is required");
    if (!json_is_string(v) || !s_text_ok(v, PROTO_API_ADDR_MAX))
        return s_fail(err, "bad_field",
                      "from: expected a string of 1..%d bytes without "
                      "control characters",
                      PROTO_API_ADDR_MAX);
    out->from = sg_strndup(json_string_value(v), json_string_length(v));

    v = json_object_get(root, "to");
    if (v == NULL)
        return s_fail(err, "missing_field", "to is required");
    rc = s_strings(v, "to", lim->max_recipients, PROTO_API_ADDR_MAX,
                   "too_many_recipients", &out->to, &out->nto, err);
    if (rc != SG_OK)
        return rc;

    v = json_object_get(root, "content_type");
    if (v && (!json_is_string(v) || !s_media_ok(v)))
        return s_fail(err, "bad_field",
                      "content_type: expected a media type such as "
                      "\"text/plain\"");
    out->content_type = sg_strdup(v ? json_string_value(v) : "text/plain");

    rc = s_body(json_object_get(root, "body"),
                json_object_get(root, "body_base64"), lim, out, err);
    if (rc != SG_OK)
        return rc;

    v = json_object_get(root, "identity");
    if (v) {
        rc = s_strings(v, "identity", lim->max_identity, PROTO_API_IDENTITY_MAX,
                       "bad_field", &out->identity, &out->nidentity, err);
        if (rc != SG_OK)
            return rc;
    }

    v = json_object_get(root, "expires");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > UINT32_MAX)
            return s_fail(err, "bad_field",
                          "expires: expected an integer in 0..4294967295");
        out->has_expires = 1;
        out->expires = (uint32_t)json_integer_value(v);
    }

    v = json_object_get(root, "idempotency_id");
    if (v) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        int ok = json_is_string(v) && n >= 1 && n <= PROTO_API_IDEMP_MAX;

        for (size_t i = 0; ok && i < n; i++)
            ok = s[i] >= 0x20 && s[i] <= 0x7e;
        if (!ok)
            return s_fail(err, "bad_field",
                          "idempotency_id: expected 1..%d printable ASCII "
                          "characters",
                          PROTO_API_IDEMP_MAX);
        out->idempotency_id = sg_strndup(s, n);
    }

    /* Where deliver reports the final state (the delivery issue). */
    v = json_object_get(root, "status_url");
    if (v) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        int ok = json_is_string(v) && n >= 1 && n <= PROTO_API_STATUS_URL_MAX &&
                 (strncmp(s, "http://", 7) == 0 ||
                  strncmp(s, "https://", 8) == 0);

        for (size_t i = 0; ok && i < n; i++)
            ok = s[i] > 0x20 && s[i] <= 0x7e;
        if (!ok)
            return s_fail(err, "bad_field",
                          "status_url: expected an http:// or https:// URL "
                          "of 1..%d printable ASCII characters, no spaces",
                          PROTO_API_STATUS_URL_MAX);
        out->status_url = sg_strndup(s, n);
    }
    return SG_OK;
}

sg_rc
proto_api_parse(const char *buf, size_t n, const proto_api_limits_t *lim,
                proto_api_msg_t *out, proto_api_err_t *err)
{
    json_error_t je;
    json_t *root;
    sg_rc rc;

    memset(out, 0, sizeof(*out));
    err->reason = NULL;
    err->message[0] = '\0';
    /* Duplicates refused: two "to" members must not mean whichever came
     * last.  NULs allowed inside strings for "body"; other members are
     * checked for them. */
    root = json_loadb(buf, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (root == NULL)
        return s_fail(err, "malformed_json", "line %d, column %d: %s", je.line,
                      je.column, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return s_fail(err, "malformed_json", "expected a JSON object");
    }
    rc = s_parse(root, lim, out, err);
    json_decref(root);
    if (rc != SG_OK)
        proto_api_msg_clear(out);
    return rc;
}

void
proto_api_msg_clear(proto_api_msg_t *self)
{
    if (self == NULL)
        return;
    sg_free(self->from);
    for (size_t i = 0; i < self->nto; i++)
        sg_free(self->to[i]);
    sg_free(self->to);
    sg_free(self->content_type);
    sg_free(self->body);
    for (size_t i = 0; i < self->nidentity; i++)
        sg_free(self->identity[i]);
    sg_free(self->identity);
    sg_free(self->idempotency_id);
    sg_free(self->status_url);
    memset(self, 0, sizeof(*self));
}

static char *
s_dump(json_t *root)
{
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);

    json_decref(root);
    if (s == NULL)
        sg_panic("json_dumps: out of memory");
    return s;
}

/* A string member from our own text; invalid UTF-8 must not drop it. */
static json_t *
s_str(const char *s)
{
    json_t *v = json_string(s ? s : "");

    return v ? v : json_string("?");
}

char *
proto_api_accepted_json(const proto_api_accepted_t *msgs, size_t n,
                        const char *verstat, const char *reason)
{
    json_t *root = json_object(), *a = json_array();
    size_t ndup = 0;

    for (size_t i = 0; i < n; i++) {
        json_t *m = json_object();

        json_object_set_new(m, "id", s_str(msgs[i].id));
        json_object_set_new(m, "to", s_str(msgs[i].to));
        if (msgs[i].duplicate) {
            json_object_set_new(m, "duplicate", json_true());
            ndup++;
        }
        json_array_append_new(a, m);
    }
    json_object_set_new(root, "messages", a);
    json_object_set_new(root, "verstat", s_str(verstat));
    if (reason)
        json_object_set_new(root, "reason", s_str(reason));
    if (n > 0 && ndup == n)
        json_object_set_new(root, "duplicate", json_true());
    return s_dump(root);
}

static const char *
s_get_str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v ? v : "";
}

/* Copy member `k` of `from` into `to` when present. */
static void
s_copy(json_t *to, json_t *from, const char *k, const char *as)
{
    json_t *v = json_object_get(from, k);

    if (v != NULL)
        json_object_set(to, as ? as : k, v);
}

/* The client's status word for a store state (see proto_api.h). */
static const char *
s_status_word(const char *state, json_int_t attempts, const char *dead)
{
    if (strcmp(state, "queued") == 0)
        return attempts > 0 ? "deferred" : "queued";
    if (strcmp(state, "leased") == 0)
        return "delivering";
    if (strcmp(state, "held") == 0)
        return "held";
    if (strcmp(state, "done") == 0)
        return "delivered";
    if (strcmp(state, "dead") == 0)
        return strcmp(dead, "failed") == 0 ? "rejected" : "expired";
    return NULL;
}

int
proto_api_status_json(const char *show, size_t n, const char *peer,
                      char **out)
{
    json_error_t je;
    json_t *j = json_loadb(show, n, 0, &je), *o;
    json_int_t attempts;
    const char *word, *state;
    int rc = -1;

    *out = NULL;
    if (j == NULL || !json_is_object(j) ||
        !json_is_string(json_object_get(j, "id")) ||
        !json_is_integer(json_object_get(j, "attempts")))
        goto out;
    if (strcmp(s_get_str(j, "peer"), peer ? peer : "") != 0) {
        rc = 1;
        goto out;
    }
    state = s_get_str(j, "state");
    attempts = json_integer_value(json_object_get(j, "attempts"));
    if ((word = s_status_word(state, attempts, s_get_str(j, "dead_reason"))) ==
        NULL)
        goto out;
    if ((o = json_object()) == NULL)
        sg_panic("jansson: out of memory");
    s_copy(o, j, "id", NULL);
    json_object_set_new(o, "status", s_str(word));
    s_copy(o, j, "state", NULL);
    s_copy(o, j, "attempts", NULL);
    json_object_set_new(o, "last_error", s_str(s_get_str(j, "last_error")));
    if (strcmp(state, "queued") == 0)
        s_copy(o, j, "next_due_ms", "next_attempt_ms");
    if (strcmp(state, "done") == 0)
        s_copy(o, j, "updated_ms", "delivered_ms");
    s_copy(o, j, "updated_ms", NULL);
    if (json_integer_value(json_object_get(j, "expires_ms")) > 0)
        s_copy(o, j, "expires_ms", NULL);
    s_copy(o, j, "from", NULL);
    s_copy(o, j, "to", NULL);
    s_copy(o, j, "verstat", NULL);
    s_copy(o, j, "reason", NULL);
    s_copy(o, j, "delivery_verstat", NULL);
    s_copy(o, j, "delivery_reason", NULL);
    *out = s_dump(o);
    rc = 0;
out:
    json_decref(j);
    return rc;
}

char *
proto_api_error_json(const char *reason, const char *message)
{
    json_t *root = json_object();

    json_object_set_new(root, "reason", s_str(reason));
    json_object_set_new(root, "message", s_str(message));
    return s_dump(root);
}
