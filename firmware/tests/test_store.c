/* test_store.c: the two-slot model store against the fake's NOR-like storage: power cut at every
 * storage write of a commit, boot restore and fallback, and validation before anything switches. */
#include <string.h>

#include "harness.h"
#include "hl_crc.h"
#include "hl_wire.h"

#define IMG_BYTES 2500u
#define N_IMAGES 3

static reply_t r[64];
static uint8_t images[N_IMAGES][IMG_BYTES];
static uint32_t crcs[N_IMAGES];
static const char *const names[N_IMAGES] = {"model-a", "model-b", "model-c"};

static void make_images(void)
{
    for (int k = 0; k < N_IMAGES; k++) {
        for (uint32_t i = 0; i < IMG_BYTES; i++) {
            images[k][i] = (uint8_t)(i * (5u + 2u * (uint32_t)k) + 11u * (uint32_t)k);
        }
        images[k][0] = (uint8_t)(0x40 + k); /* the fake engine's model tag */
        crcs[k] = hl_crc32(HL_CRC32_INIT, images[k], IMG_BYTES);
    }
}

/* BEGIN, the chunks (out of order, one repeated), COMMIT. Returns the last reply's error code
 * (-1: MODEL_INFO, i.e. committed) or -2 when nothing came back. */
static int upload(uint16_t *seq, int k)
{
    static uint8_t p[IMG_BYTES + 64];
    size_t name_len = strlen(names[k]);
    hl_put32(p, IMG_BYTES);
    hl_put32(p + 4, crcs[k]);
    p[8] = HL_FMT_TFLITE;
    p[9] = (uint8_t)name_len;
    memcpy(p + 10, names[k], name_len);
    send_frame(HL_MSG_MODEL_BEGIN, 0, (*seq)++, p, 10u + (uint32_t)name_len);
    static const uint32_t order[] = {1000, 0, 500, 0, 1500, 2000}; /* 0 twice: a retransmission */
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        hl_put32(p, order[i]);
        memcpy(p + 4, images[k] + order[i], 500);
        send_frame(HL_MSG_MODEL_CHUNK, 0, (*seq)++, p, 504);
    }
    hl_put32(p, crcs[k]);
    send_frame(HL_MSG_MODEL_COMMIT, 0, (*seq)++, p, 4);
    int n = take_replies(r, 64);
    if (n == 0) {
        return -2;
    }
    return r[n - 1].type == HL_MSG_MODEL_INFO ? -1 : error_code(&r[n - 1]);
}

/* Which image the board runs after boot: index, -1 when none; checks it is whole and consistent. */
static int running(void)
{
    const hl_model_info_t *m = hl_core_active_model();
    if (!m->loaded) {
        CHECK_EQ(fake.activations, 0);
        return -1;
    }
    for (int k = 0; k < N_IMAGES; k++) {
        if (m->crc32 == crcs[k]) {
            CHECK(strcmp(m->name, names[k]) == 0);
            CHECK_EQ(m->size, IMG_BYTES);
            CHECK_EQ(fake.active_size, IMG_BYTES);
            /* what the engine loaded, byte for byte, and its CRC-32 */
            CHECK(memcmp(fake.active, images[k], IMG_BYTES) == 0);
            CHECK_EQ(hl_crc32(HL_CRC32_INIT, fake.active, fake.active_size), crcs[k]);
            CHECK_EQ(fake.model_tag, images[k][0]);
            return k;
        }
    }
    CHECK(!"the board runs a model that was never uploaded");
    return -3;
}

/* Commit images[0..before-1] cleanly, then cut power at mutation `cut` (counted from the start of
 * upload `before`), reboot, and return the image running afterwards. */
static int cut_during(int before, unsigned cut, uint32_t seed, unsigned *points)
{
    fake_reset();
    uint16_t seq = 1;
    for (int k = 0; k < before; k++) {
        CHECK_EQ(upload(&seq, k), -1);
    }
    unsigned m0 = fake.mutations;
    fake.powercut_at = cut ? m0 + cut : 0u;
    fake.rng = seed;
    (void)upload(&seq, before);
    if (points != NULL) {
        *points = fake.mutations - m0;
    }
    CHECK(!fake.contract_violation);
    fake_reboot();
    return running();
}

static void test_power_cut_at_every_write(void)
{
    /* a clean run counts the storage mutations (erases + writes) of one commit */
    unsigned points = 0;
    CHECK_EQ(cut_during(2, 0, 1, &points), 2);
    fake_reset();
    uint16_t seq = 1;
    CHECK_EQ(upload(&seq, 0), -1);
    CHECK_EQ(upload(&seq, 1), -1);
    unsigned e0 = fake.staging_opens, w0 = fake.staging_writes;
    CHECK_EQ(upload(&seq, 2), -1);
    unsigned erases = fake.staging_opens - e0, writes = fake.staging_writes - w0;
    CHECK_EQ(erases + writes, points);
    CHECK_EQ(writes, 5u + 2u); /* five distinct 500-byte chunks (the retransmission programs nothing), header, commit word */

    unsigned old_wins = 0, new_wins = 0, trials = 0;
    for (int before = 0; before < N_IMAGES; before++) {
        for (unsigned cut = 1; cut <= points; cut++) {
            for (uint32_t seed = 1; seed <= 4u; seed++) {
                int got = cut_during(before, cut, seed * 2654435761u + cut, NULL);
                trials++;
                if (before == 0) {
                    CHECK(got == -1 || got == 0); /* nothing was committed yet: none, or the new one */
                } else {
                    CHECK(got == before - 1 || got == before); /* never corrupt, never missing */
                }
                if (cut < points) {
                    CHECK_EQ(got, before - 1); /* the commit word is the last write: nothing before it counts */
                }
                if (got == before) {
                    new_wins++;
                } else {
                    old_wins++;
                }
                /* the board takes the next upload normally after the cut */
                uint16_t seq2 = 500;
                CHECK_EQ(upload(&seq2, (before + 1) % N_IMAGES), -1);
                fake_reboot();
                CHECK_EQ(running(), (before + 1) % N_IMAGES);
            }
        }
    }
    CHECK(new_wins > 0 && old_wins > 0);
    printf("model store: power cut at each of %u storage writes of a commit (%u erase + %u program), "
           "%u trials: %u old model, %u new model, 0 corrupt or missing\n",
           points, erases, writes, trials, old_wins, new_wins);
}

static void test_boot_takes_newest_valid_slot(void)
{
    fake_reset();
    CHECK_EQ(running(), -1); /* erased storage: no model */
    uint16_t seq = 1;
    CHECK_EQ(upload(&seq, 0), -1);
    CHECK_EQ(upload(&seq, 1), -1);
    fake_reboot();
    CHECK_EQ(running(), 1);
    CHECK_EQ(fake.checks, 1);

    /* flip one image byte of the newest slot: its CRC fails, the board boots the older one */
    size_t at = 0;
    for (size_t i = 0; i + IMG_BYTES <= FAKE_REGION_BYTES; i++) {
        if (memcmp(fake.store + i, images[1], IMG_BYTES) == 0) {
            at = i;
            break;
        }
    }
    CHECK(at != 0);
    fake.store[at + 1234] ^= 0x10u;
    fake_reboot();
    CHECK_EQ(running(), 0);
    fake.store[at + 1234] ^= 0x10u;
    fake_reboot();
    CHECK_EQ(running(), 1);

    /* a damaged header (a bit in the name) is not a model either */
    size_t hdr = at - 296u; /* header at the slot start: 283-byte area + commit word, 8-aligned */
    CHECK_EQ(fake.store[hdr + 24], 'm');
    fake.store[hdr + 24] ^= 0x01u;
    fake_reboot();
    CHECK_EQ(running(), 0);
    fake.store[hdr + 24] ^= 0x01u;

    /* the port no longer admits the newest (another engine build): the older one runs */
    fake_reboot();
    fake.refuse_tag = images[1][0];
    hl_core_init(&fake_board);
    CHECK_EQ(running(), 0);

    /* the next upload goes into the slot not running (the refused newest), with a higher sequence */
    fake.refuse_tag = 0;
    seq = 1;
    CHECK_EQ(upload(&seq, 2), -1);
    fake_reboot();
    CHECK_EQ(running(), 2);
}

static void test_validation_before_anything_switches(void)
{
    fake_reset();
    uint16_t seq = 1;
    CHECK_EQ(upload(&seq, 0), -1);
    unsigned writes = fake.staging_writes;

    /* the port admits it but the core cannot describe it: refused, nothing switched or committed */
    fake.check_outputs = (uint8_t)(HL_CFG_MAX_OUTPUTS + 1u);
    CHECK_EQ(upload(&seq, 1), HL_ERR_MODEL_OP_UNSUPPORTED);
    CHECK_EQ(fake.activations, 1);
    CHECK_EQ(fake.staging_writes - writes, 5u); /* the chunks; no header, no commit word */
    CHECK_EQ(running(), 0);
    fake_reboot();
    CHECK_EQ(running(), 0);

    /* the port refuses at admission: same */
    fake.activate_refusal = HL_ERR_MODEL_NOT_INT8;
    CHECK_EQ(upload(&seq, 1), HL_ERR_MODEL_NOT_INT8);
    fake.activate_refusal = HL_OK;
    fake_reboot();
    CHECK_EQ(running(), 0);

    /* the switch fails after the commit: the slot is withdrawn, the old model stays, also after boot */
    fake.switch_refusal = HL_ERR_INFERENCE_FAILED;
    CHECK_EQ(upload(&seq, 1), HL_ERR_INFERENCE_FAILED);
    CHECK_EQ(running(), 0);
    fake_reboot();
    CHECK_EQ(running(), 0);
    CHECK(!fake.contract_violation);
}

void run_store_tests(void)
{
    make_images();
    test_power_cut_at_every_write();
    test_boot_takes_newest_valid_slot();
    test_validation_before_anything_switches();
}
