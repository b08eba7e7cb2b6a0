/* deliver/deliver_route.c - routes and dead destinations (deliver_route.h). */
#include "deliver/deliver_route.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *
deliver_route_parse_sip(const char *hop, deliver_route_t *r)
{
    const char *h, *colon;
    size_t hl;
    char *end;
    long port;

    if (strncmp(hop, "udp:", 4) == 0)
        r->kind = DELIVER_HOP_UDP;
    else if (strncmp(hop, "tcp:", 4) == 0)
        r->kind = DELIVER_HOP_TCP;
    else
        return "SIP next hop must start with udp: or tcp:";
    h = hop + 4;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (close == NULL || close[1] != ':')
            return "SIP next hop: bad [IPv6] host";
        h++;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(h, ':');
        if (colon == NULL)
            return "SIP next hop needs :PORT";
        hl = (size_t)(colon - h);
    }
    if (hl == 0 || hl > DELIVER_HOST_MAX)
        return "SIP next hop: bad host length";
    for (size_t i = 0; i < hl; i++)
        if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-' &&
            h[i] != ':')
            return "SIP next hop: bad character in host";
    port = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || port < 1 ||
        port > 65535)
        return "SIP next hop: bad port";
    memcpy(r->host, h, hl);
    r->host[hl] = '\0';
    r->port = (int)port;
    return NULL;
}

static int
s_has_prefix(const char *s, size_t n, const char *p)
{
    size_t pl = strlen(p);

    return n >= pl && strncasecmp(s, p, pl) == 0;
}

void
deliver_route_dest(const char *to, size_t n, char *tn, size_t tnsz,
                   char *host, size_t hostsz)
{
    const char *p = to, *e = to + n, *user, *ue, *at;
    size_t k = 0, digits = 0;
    int tel = 0, bad = 0;

    tn[0] = '\0';
    host[0] = '\0';
    if (p < e && *p == '<')
        p++;
    if (s_has_prefix(p, (size_t)(e - p), "sip:"))
        p += 4;
    else if (s_has_prefix(p, (size_t)(e - p), "sips:"))
        p += 5;
    else if (s_has_prefix(p, (size_t)(e - p), "tel:")) {
        p += 4;
        tel = 1;
    }
    user = p;
    at = tel ? NULL : memchr(p, '@', (size_t)(e - p));
    ue = at ? at : e;
    /* The user part ends at its parameters (";user=phone" lives after the
     * host, but a tel URI or a user part may carry ";phone-context"). */
    for (const char *q = user; q < ue; q++)
        if (*q == ';' || *q == '>') {
            ue = q;
            break;
        }
    for (const char *q = user; q < ue; q++) {
        if (*q == '+' && q == user)
            continue;
        if (*q == '-' || *q == '.' || *q == '(' || *q == ')')
            continue;
        if (*q >= '0' && *q <= '9') {
            if (k + 1 < tnsz)
                tn[k++] = *q;
            digits++;
            continue;
        }
        bad = 1;
        break;
    }
    tn[bad || digits == 0 ? 0 : k] = '\0';
    if (at != NULL) {
        const char *h = at + 1, *he = h;
        size_t hl;
        while (he < e && *he != ':' && *he != ';' && *he != '>' && *he != '?')
            he++;
        hl = (size_t)(he - h);
        if (hl < hostsz) {
            memcpy(host, h, hl);
            host[hl] = '\0';
        }
    }
}

static int
s_match(const deliver_route_t *r, const char *tn, const char *host)
{
    if (r->match_prefix != NULL && r->match_prefix[0] != '\0') {
        const char *pf = r->match_prefix;
        if (*pf == '+')
            pf++;
        if (tn[0] == '\0' || strncmp(tn, pf, strlen(pf)) != 0)
            return 0;
    }
    if (r->match_domain != NULL && r->match_domain[0] != '\0') {
        if (host[0] == '\0' || strcasecmp(host, r->match_domain) != 0)
            return 0;
    }
    return 1;
}

long
deliver_route_match(const deliver_route_t *routes, size_t n, const char *to,
                    size_t to_len)
{
    char tn[64], host[DELIVER_HOST_MAX + 1];

    deliver_route_dest(to, to_len, tn, sizeof(tn), host, sizeof(host));
    for (size_t i = 0; i < n; i++)
        if (s_match(&routes[i], tn, host))
            return (long)i;
    return -1;
}

deliver_route_gate
deliver_route_admit(deliver_route_t *r, uint64_t now_ms,
                    const deliver_route_policy *p, uint64_t *wait_ms)
{
    *wait_ms = 0;
    if (!r->down)
        return DELIVER_GATE_SEND;
    if (!r->probing && now_ms >= r->next_probe_ms) {
        r->probing = 1;
        return DELIVER_GATE_PROBE;
    }
    /* Come back around the next probe: by then it may be up again. */
    *wait_ms = r->next_probe_ms > now_ms ? r->next_probe_ms - now_ms
                                         : p->probe_interval_ms;
    return DELIVER_GATE_WAIT;
}

deliver_route_change
deliver_route_report(deliver_route_t *r, sg_rc rc, int was_probe,
                     uint64_t now_ms, const deliver_route_policy *p)
{
    if (was_probe)
        r->probing = 0;
    if (rc != SG_AGAIN) {
        /* The peer answered: alive, whatever it thought of the message. */
        r->failures = 0;
        if (r->down) {
            r->down = 0;
            return DELIVER_ROUTE_CAME_UP;
        }
        return DELIVER_ROUTE_SAME;
    }
    r->failures++;
    if (r->down) {
        if (was_probe)
            r->next_probe_ms = now_ms + p->probe_interval_ms;
        return DELIVER_ROUTE_SAME;
    }
    if (r->failures >= p->down_after) {
        r->down = 1;
        r->next_probe_ms = now_ms + p->probe_interval_ms;
        return DELIVER_ROUTE_WENT_DOWN;
    }
    return DELIVER_ROUTE_SAME;
}
