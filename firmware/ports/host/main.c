/* main.c: hl-host, the board core as a Linux process.
 *
 *   hl-host --pty   [--backend CMD] [--state-dir DIR] [--markers FILE] [--powercut-at N]
 *   hl-host --stdio [...]
 *
 * --pty creates a pseudo-terminal and prints its path on the first line of stdout; a host opens it
 * like a board's serial port. --stdio serves the protocol on stdin/stdout. The camera, admission
 * and inference come from the helper started with --backend (default: the hostlink emulator's
 * host-port helper for the coralmicro profile). Diagnostics go to stderr.
 *
 * The model store is DIR/store.bin: with --state-dir the board keeps its model across restarts.
 * --powercut-at N (or HL_POWERCUT_AT=N; HL_POWERCUT_SEED picks the tear) cuts the power at the Nth
 * storage erase or write: part of it lands and the process exits with status 99 at once. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "helper_link.h"
#include "hl_decode.h"
#include "hl_hostport.h"
#include "port_host.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: hl-host (--pty | --stdio) [--backend CMD] [--state-dir DIR] [--markers FILE]\n"
            "  --backend CMD    helper answering protocols/hostport.py requests\n"
            "                   (default: python3 -m hostlink.emulator.hostport --board coralmicro)\n"
            "  --state-dir DIR  where the staging and active model slots live (default: a new /tmp dir)\n"
            "  --markers FILE   append \"<time_us> <stage>\" at every stage change\n"
            "  --powercut-at N  tear the Nth model-store erase/write and exit 99, as a power cut would\n"
            "                   (also HL_POWERCUT_AT=N; HL_POWERCUT_SEED=S varies how much lands)\n");
}

static int open_pty(int *master, int *slave, const char **path)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0) {
        perror("hl-host: posix_openpt");
        return -1;
    }
    const char *name = ptsname(m);
    /* hold the slave open ourselves: otherwise the master reads EIO whenever no host has it open */
    int s = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
    struct termios t;
    if (s < 0 || tcgetattr(s, &t) != 0) {
        perror("hl-host: open pty slave");
        return -1;
    }
    cfmakeraw(&t); /* binary protocol: no echo, no line discipline */
    if (tcsetattr(s, TCSANOW, &t) != 0) {
        perror("hl-host: tcsetattr");
        return -1;
    }
    *master = m;
    *slave = s;
    *path = name;
    return 0;
}

int main(int argc, char **argv)
{
    const char *backend = "python3 -m hostlink.emulator.hostport --board coralmicro";
    const char *state_dir = NULL;
    const char *markers_path = NULL;
    int mode = 0; /* 1 pty, 2 stdio */
    const char *powercut = getenv("HL_POWERCUT_AT");
    const char *seed_text = getenv("HL_POWERCUT_SEED");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pty") == 0) {
            mode = 1;
        } else if (strcmp(argv[i], "--stdio") == 0) {
            mode = 2;
        } else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
            backend = argv[++i];
        } else if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc) {
            state_dir = argv[++i];
        } else if (strcmp(argv[i], "--markers") == 0 && i + 1 < argc) {
            markers_path = argv[++i];
        } else if (strcmp(argv[i], "--powercut-at") == 0 && i + 1 < argc) {
            powercut = argv[++i];
        } else {
            usage();
            return 2;
        }
    }
    if (mode == 0) {
        usage();
        return 2;
    }
    unsigned powercut_at = 0;
    uint32_t powercut_seed = 1;
    if (powercut != NULL && *powercut != '\0') {
        char *end;
        unsigned long v = strtoul(powercut, &end, 10);
        if (*end != '\0' || v == 0 || v > 0xFFFFFFFFul) {
            fprintf(stderr, "hl-host: --powercut-at / HL_POWERCUT_AT wants a write number from 1, got '%s'\n", powercut);
            return 2;
        }
        powercut_at = (unsigned)v;
        powercut_seed = (uint32_t)v;
    }
    if (seed_text != NULL && *seed_text != '\0') {
        char *end;
        unsigned long v = strtoul(seed_text, &end, 10);
        if (*end != '\0') {
            fprintf(stderr, "hl-host: HL_POWERCUT_SEED wants a number, got '%s'\n", seed_text);
            return 2;
        }
        powercut_seed = (uint32_t)v;
    }

    static char made_dir[] = "/tmp/hl-host-XXXXXX";
    bool own_dir = state_dir == NULL;
    if (own_dir && (state_dir = mkdtemp(made_dir)) == NULL) {
        perror("hl-host: mkdtemp");
        return 1;
    }
    FILE *markers = NULL;
    if (markers_path != NULL && (markers = fopen(markers_path, "a")) == NULL) {
        perror("hl-host: --markers");
        return 1;
    }

    if (hl_helper_start(backend) != 0) {
        return 1;
    }
    const uint8_t *reply;
    size_t reply_len;
    if (hl_helper_call(HL_PORT_OP_INFO, NULL, 0, &reply, &reply_len) != HL_OK) {
        fprintf(stderr, "hl-host: the helper (%s) did not answer INFO\n", backend);
        hl_helper_stop();
        return 1;
    }
    static hl_device_info_t profile;
    hl_rd_t rd;
    hl_rd_init(&rd, reply, reply_len);
    bool ok = hl_dec_device_info(&rd, &profile);
    uint32_t store_bytes = hl_rd_u32(&rd);
    if (!ok || !rd.ok) {
        fprintf(stderr, "hl-host: malformed INFO reply from the helper\n");
        hl_helper_stop();
        return 1;
    }

    static char board_name[300];
    snprintf(board_name, sizeof board_name, "hostlink C core, Linux port (%s rules)", profile.name);
    static const uint8_t stages[] = {HL_STAGE_CAPTURE, HL_STAGE_PREPROCESS, HL_STAGE_INFERENCE, HL_STAGE_TRANSFER};
    hl_board_info_t board = profile.board;
    board.kind = HL_BOARD_HOST;
    board.name = board_name;
    board.fw_version[0] = HL_CORE_VERSION_MAJOR;
    board.fw_version[1] = HL_CORE_VERSION_MINOR;
    board.fw_version[2] = HL_CORE_VERSION_PATCH;
    board.capabilities = (profile.board.capabilities & (HL_CAP_SENSOR_CAPTURE | HL_CAP_HOST_INPUT)) |
                         HL_CAP_EMULATED | (markers ? HL_CAP_MARKERS : 0u);
    board.link_bps = 0;
    board.n_stages = (uint8_t)sizeof stages;
    board.stages = stages;

    int in_fd = STDIN_FILENO;
    int out_fd = STDOUT_FILENO;
    int slave = -1;
    if (mode == 1) {
        const char *path;
        if (open_pty(&in_fd, &slave, &path) != 0) {
            hl_helper_stop();
            return 1;
        }
        out_fd = in_fd;
        printf("%s\n", path);
        fflush(stdout);
    }
    if (hl_host_port_open(in_fd, out_fd, state_dir, store_bytes, markers, powercut_at, powercut_seed) != 0) {
        hl_helper_stop();
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    hl_core_init(&board);
    fprintf(stderr, "hl-host: hostlink core %d.%d.%d serving protocol v%u (max payload %u) for %s\n",
            HL_CORE_VERSION_MAJOR, HL_CORE_VERSION_MINOR, HL_CORE_VERSION_PATCH, (unsigned)HL_PROTO_VERSION,
            (unsigned)HL_CFG_MAX_PAYLOAD, profile.name);
    const hl_model_info_t *restored = hl_core_active_model();
    if (restored->loaded) {
        fprintf(stderr, "hl-host: restored model '%s' (%u bytes, CRC-32 %08x) from %s/store.bin\n", restored->name,
                (unsigned)restored->size, (unsigned)restored->crc32, state_dir);
    }
    while (!stop && !hl_host_port_eof()) {
        hl_core_poll(200000);
    }

    hl_host_port_close(!own_dir);
    hl_helper_stop();
    if (slave >= 0) {
        close(slave);
        close(in_fd);
    }
    if (markers != NULL) {
        fclose(markers);
    }
    if (own_dir) {
        rmdir(state_dir);
    }
    const hl_rx_stats_t *s = hl_core_rx_stats();
    fprintf(stderr, "hl-host: %u frames, %u header errors, %u CRC errors, %u oversize, %u bytes skipped, "
            "%u storage erases+writes\n",
            (unsigned)s->frames, (unsigned)s->header_errors, (unsigned)s->crc_errors, (unsigned)s->oversize,
            (unsigned)s->skipped_bytes, hl_host_port_storage_ops());
    return 0;
}
