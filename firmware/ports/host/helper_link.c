/* helper_link.c: request/reply over two pipes to the helper process.
 *
 * Requests are PortRequest (op u8, body length u32, body), replies PortReply (status u16, body
 * length u32, body); see protocols/hostport.py. The reply buffer is static, like everything the
 * core touches; 64 MiB of .bss costs nothing until a reply that large arrives. */
#include "helper_link.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hl_core.h"
#include "hl_hostport.h"
#include "hl_wire.h"

#define HL_HELPER_REPLY_MAX (64u << 20)

static uint8_t reply_buf[HL_HELPER_REPLY_MAX];
static int to_helper = -1;
static int from_helper = -1;
static pid_t helper_pid = -1;

int hl_helper_start(const char *cmd)
{
    int down[2];
    int up[2];
    if (pipe(down) != 0 || pipe(up) != 0) {
        perror("hl-host: pipe");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("hl-host: fork");
        return -1;
    }
    if (pid == 0) {
        dup2(down[0], STDIN_FILENO);
        dup2(up[1], STDOUT_FILENO);
        close(down[0]);
        close(down[1]);
        close(up[0]);
        close(up[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        perror("hl-host: exec /bin/sh");
        _exit(127);
    }
    close(down[0]);
    close(up[1]);
    to_helper = down[1];
    from_helper = up[0];
    helper_pid = pid;
    signal(SIGPIPE, SIG_IGN); /* a dead helper shows up as EPIPE on write, handled below */
    return 0;
}

void hl_helper_stop(void)
{
    if (to_helper >= 0) {
        close(to_helper);
        to_helper = -1;
    }
    if (from_helper >= 0) {
        close(from_helper);
        from_helper = -1;
    }
    if (helper_pid > 0) {
        int status;
        while (waitpid(helper_pid, &status, 0) < 0 && errno == EINTR) {
        }
        helper_pid = -1;
    }
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static hl_status_t dead(void)
{
    return hl_core_refuse(HL_ERR_INTERNAL, "the host-port helper process is gone (see hl-host's stderr)");
}

hl_status_t hl_helper_call(uint8_t op, const struct iovec *parts, int nparts, const uint8_t **reply,
                           size_t *reply_len)
{
    if (to_helper < 0) {
        return dead();
    }
    size_t body = 0;
    for (int i = 0; i < nparts; i++) {
        body += parts[i].iov_len;
    }
    uint8_t head[HL_PORT_REQUEST_FIXED_PREFIX + HL_PORT_REQUEST_BODY_PREFIX];
    head[HL_PORT_REQUEST_OP_OFF] = op;
    hl_put32(head + HL_PORT_REQUEST_FIXED_PREFIX, (uint32_t)body);
    if (write_all(to_helper, head, sizeof head) != 0) {
        return dead();
    }
    for (int i = 0; i < nparts; i++) {
        if (write_all(to_helper, (const uint8_t *)parts[i].iov_base, parts[i].iov_len) != 0) {
            return dead();
        }
    }
    uint8_t rhead[HL_PORT_REPLY_FIXED_PREFIX + HL_PORT_REPLY_BODY_PREFIX];
    if (read_all(from_helper, rhead, sizeof rhead) != 0) {
        return dead();
    }
    hl_status_t status = (hl_status_t)hl_le16(rhead + HL_PORT_REPLY_STATUS_OFF);
    uint32_t len = hl_le32(rhead + HL_PORT_REPLY_FIXED_PREFIX);
    if (len > sizeof reply_buf) {
        return hl_core_refuse(HL_ERR_INTERNAL, "the host-port helper sent a reply larger than 64 MiB");
    }
    if (read_all(from_helper, reply_buf, len) != 0) {
        return dead();
    }
    if (status != HL_OK) {
        static char message[HL_CFG_TEXT_MAX + 1];
        hl_rd_t rd;
        hl_rd_init(&rd, reply_buf, len);
        size_t n = hl_rd_u16(&rd);
        const uint8_t *text = hl_rd_bytes(&rd, n);
        size_t keep = text == NULL ? 0 : (n < HL_CFG_TEXT_MAX ? n : HL_CFG_TEXT_MAX);
        if (keep > 0) {
            memcpy(message, text, keep);
        }
        message[keep] = '\0';
        return hl_core_refuse(status, keep > 0 ? message : "the host-port helper refused the request");
    }
    *reply = reply_buf;
    *reply_len = len;
    return HL_OK;
}
