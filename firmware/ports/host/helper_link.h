/* helper_link.h: the Linux port's pipe to its Python helper (protocols/hostport.py). */
#ifndef HL_HELPER_LINK_H
#define HL_HELPER_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "hl_protocol.h"

/* Start `/bin/sh -c cmd` with its stdin and stdout on pipes; its stderr is ours. */
int hl_helper_start(const char *cmd);
/* Close the pipes and reap the helper. */
void hl_helper_stop(void);

/* One request (op + body gathered from parts) and its reply. On OK, *reply points at the reply
 * body (valid until the next call). On any other status the helper's message has been recorded
 * with hl_core_refuse(), so the caller just returns the status. */
hl_status_t hl_helper_call(uint8_t op, const struct iovec *parts, int nparts, const uint8_t **reply,
                           size_t *reply_len);

#endif /* HL_HELPER_LINK_H */
