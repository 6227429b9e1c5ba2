/* mini_json.c: see mini_json.h. */
#include "mini_json.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    j_doc_t *doc;
    const char *p;
    bool ok;
} j_parser_t;

static void ws(j_parser_t *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') {
        ps->p++;
    }
}

static char *store(j_parser_t *ps, const char *s, size_t n)
{
    j_doc_t *d = ps->doc;
    if (d->used + n + 1 > sizeof d->text) {
        ps->ok = false;
        return NULL;
    }
    char *out = d->text + d->used;
    memcpy(out, s, n);
    out[n] = '\0';
    d->used += n + 1;
    return out;
}

static char *string(j_parser_t *ps)
{
    char tmp[2048];
    size_t n = 0;
    ps->p++; /* opening quote */
    while (*ps->p && *ps->p != '"' && n < sizeof tmp - 1) {
        char c = *ps->p++;
        if (c == '\\') {
            char e = *ps->p++;
            if (e == 'n') {
                c = '\n';
            } else if (e == 't') {
                c = '\t';
            } else if (e == 'u') {
                char hex[5] = {0};
                memcpy(hex, ps->p, 4);
                ps->p += 4;
                c = (char)strtol(hex, NULL, 16);
            } else {
                c = e;
            }
        }
        tmp[n++] = c;
    }
    if (*ps->p != '"') {
        ps->ok = false;
        return NULL;
    }
    ps->p++;
    return store(ps, tmp, n);
}

static int value(j_parser_t *ps, const char *key);

static int new_node(j_parser_t *ps, j_type_t t, const char *key)
{
    j_doc_t *d = ps->doc;
    if (d->n >= (int)(sizeof d->nodes / sizeof d->nodes[0])) {
        ps->ok = false;
        return -1;
    }
    j_node_t *nd = &d->nodes[d->n];
    memset(nd, 0, sizeof *nd);
    nd->type = t;
    nd->key = key;
    nd->first_child = -1;
    nd->next = -1;
    return d->n++;
}

static int container(j_parser_t *ps, const char *key, bool object)
{
    int id = new_node(ps, object ? J_OBJ : J_ARR, key);
    if (id < 0) {
        return -1;
    }
    ps->p++;
    ws(ps);
    int prev = -1;
    char close = object ? '}' : ']';
    while (ps->ok && *ps->p != close) {
        const char *k = NULL;
        if (object) {
            ws(ps);
            if (*ps->p != '"') {
                ps->ok = false;
                return -1;
            }
            k = string(ps);
            ws(ps);
            if (*ps->p++ != ':') {
                ps->ok = false;
                return -1;
            }
        }
        int child = value(ps, k);
        if (child < 0) {
            return -1;
        }
        if (prev < 0) {
            ps->doc->nodes[id].first_child = child;
        } else {
            ps->doc->nodes[prev].next = child;
        }
        prev = child;
        ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            ws(ps);
        }
    }
    if (*ps->p != close) {
        ps->ok = false;
        return -1;
    }
    ps->p++;
    return id;
}

static int value(j_parser_t *ps, const char *key)
{
    ws(ps);
    char c = *ps->p;
    if (c == '{' || c == '[') {
        return container(ps, key, c == '{');
    }
    if (c == '"') {
        int id = new_node(ps, J_STR, key);
        if (id >= 0) {
            ps->doc->nodes[id].str = string(ps);
        }
        return id;
    }
    if (strncmp(ps->p, "true", 4) == 0 || strncmp(ps->p, "false", 5) == 0) {
        int id = new_node(ps, J_BOOL, key);
        bool t = *ps->p == 't';
        ps->p += t ? 4 : 5;
        if (id >= 0) {
            ps->doc->nodes[id].boolean = t;
        }
        return id;
    }
    if (strncmp(ps->p, "null", 4) == 0) {
        ps->p += 4;
        return new_node(ps, J_NULL, key);
    }
    char *end;
    double v = strtod(ps->p, &end);
    if (end == ps->p) {
        ps->ok = false;
        return -1;
    }
    ps->p = end;
    int id = new_node(ps, J_NUM, key);
    if (id >= 0) {
        ps->doc->nodes[id].num = v;
    }
    return id;
}

bool j_parse(j_doc_t *doc, const char *src)
{
    memset(doc, 0, sizeof *doc);
    j_parser_t ps = {doc, src, true};
    int root = value(&ps, NULL);
    return ps.ok && root == 0;
}

const j_node_t *j_get(const j_doc_t *doc, const char *path)
{
    if (doc->n == 0) {
        return NULL;
    }
    const j_node_t *cur = &doc->nodes[0];
    char part[64];
    while (*path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof part) {
            return NULL;
        }
        memcpy(part, path, n);
        part[n] = '\0';
        path += n + (path[n] == '.');
        int child = cur->first_child;
        if (cur->type == J_ARR) {
            long idx = strtol(part, NULL, 10);
            while (child >= 0 && idx-- > 0) {
                child = doc->nodes[child].next;
            }
        } else if (cur->type == J_OBJ) {
            while (child >= 0 && strcmp(doc->nodes[child].key, part) != 0) {
                child = doc->nodes[child].next;
            }
        } else {
            return NULL;
        }
        if (child < 0) {
            return NULL;
        }
        cur = &doc->nodes[child];
    }
    return cur;
}

int j_count(const j_doc_t *doc, const char *path)
{
    const j_node_t *nd = j_get(doc, path);
    if (nd == NULL || (nd->type != J_ARR && nd->type != J_OBJ)) {
        return -1;
    }
    int n = 0;
    for (int c = nd->first_child; c >= 0; c = doc->nodes[c].next) {
        n++;
    }
    return n;
}
