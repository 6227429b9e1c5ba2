/* mini_json.h: just enough JSON to read the "# decoded:" lines of protocols/vectors/NAME.hex.
 * Test-only: it parses into a fixed node pool and answers path lookups like "inputs.0.shape.3". */
#ifndef MINI_JSON_H
#define MINI_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } j_type_t;

typedef struct {
    j_type_t type;
    const char *key; /* member name (NUL-terminated copy) when the parent is an object */
    double num;
    bool boolean;
    char *str;       /* NUL-terminated, escapes resolved (\" \\ \/ \n \t and \u00XX only) */
    int first_child; /* -1 when none */
    int next;        /* next sibling, -1 at the end */
} j_node_t;

typedef struct {
    j_node_t nodes[512];
    int n;
    char text[8192]; /* string storage */
    size_t used;
} j_doc_t;

bool j_parse(j_doc_t *doc, const char *src);
/* Node at a dotted path from the root ("" is the root); NULL when absent. */
const j_node_t *j_get(const j_doc_t *doc, const char *path);
int j_count(const j_doc_t *doc, const char *path); /* children of an array/object, -1 if absent */

#endif
