/* port_mps2.c: the core on a bare-metal Cortex-M in QEMU (mps2-an386 = M4F, mps2-an500 = M7).
 *
 *   link     CMSDK UART0 (qemu -serial pty puts it on a host pty); its RX interrupt only queues
 *            bytes into a ring, the protocol loop drains it and sleeps in WFI when it is empty
 *   clock    SysTick on the 25 MHz processor clock, a 1 ms period counted in its interrupt
 *   markers  the stage id on the FPGA IO user LEDs
 *   models   two 1 MiB RAM slots. With HL_PORT_HAS_STORAGE (the default build) they are the storage
 *            region of the core's power-safe store, programmed like NOR flash; without it, A/B
 *            staging where activation flips one index after the image is verified
 *   frames   host inputs only (no camera). With tflite-micro linked in (engine_tflm.cc, `make -C
 *            firmware qemu-tflm`) the image admits and runs INT8 TFLite models; the default build
 *            (engine_none.c, what CI builds without a tflite-micro checkout) runs the protocol
 *            (framing, upload, commit, cache, errors) and answers INFERENCE_FAILED, saying why.
 */
#include <string.h>

#include "engine.h"
#include "hl_core.h"
#include "mps2.h"

#ifndef HL_MPS2_SLOT_BYTES
#define HL_MPS2_SLOT_BYTES (1024u * 1024u)
#endif

#if defined(__ARM_ARCH_7EM__) && defined(__ARM_FP) && (__ARM_FP & 8)
#define MPS2_NAME "hostlink core on qemu mps2-an500 (Cortex-M7)"
#else
#define MPS2_NAME "hostlink core on qemu mps2-an386 (Cortex-M4F)"
#endif

static uint8_t model_slots[2][HL_MPS2_SLOT_BYTES] __attribute__((section(".model_slots"), aligned(16)));
#if !HL_PORT_HAS_STORAGE
static uint8_t active_slot;
#endif
static volatile uint32_t systick_ms;

#define RX_RING 4096u /* a power of two */
static uint8_t rx_ring[RX_RING];
static volatile uint32_t rx_head; /* written by the ISR only */
static uint32_t rx_tail;          /* written by the protocol loop only */

#define SYSTICK_RELOAD (MPS2_SYSCLK_HZ / 1000u - 1u)

void SysTick_Handler(void);
void SysTick_Handler(void) { systick_ms++; }

void UART0_RX_Handler(void);
void UART0_RX_Handler(void)
{
    UART_INTCLEAR = UART_INT_RX; /* first: a byte landing while we drain raises the line again */
    while (UART_STATE & UART_STATE_RXFULL) {
        if (rx_head - rx_tail == RX_RING) {
            /* ring full: leave the byte in the UART, which holds off the sender (QEMU stops reading
             * the pty), and stop interrupting until the protocol loop has made room */
            UART_CTRL &= ~UART_CTRL_RXIRQ;
            break;
        }
        rx_ring[rx_head & (RX_RING - 1u)] = (uint8_t)UART_DATA;
        rx_head++;
    }
}

static const hl_memory_region_t memory[] = {{"ssram1", 4u << 20}, {"ssram23", 4u << 20}};
static const uint8_t frame_stages[] = {HL_STAGE_INFERENCE}; /* host-input frames: no sensor stages */
static hl_board_info_t board = {
    .kind = HL_BOARD_UNKNOWN,
    .name = MPS2_NAME,
    .serial = "QEMU0001",
    .fw_version = {HL_CORE_VERSION_MAJOR, HL_CORE_VERSION_MINOR, HL_CORE_VERSION_PATCH},
    .capabilities = HL_CAP_MARKERS | HL_CAP_EMULATED,
    .link_bps = 115200u, /* what BAUDDIV is set to; QEMU delivers about that, so host deadlines fit */
    .formats = HL_FORMATS_TFLITE,
    .n_memory = 2,
    .memory = memory,
    .n_stages = 0,
    .stages = NULL,
};

uint64_t hl_port_time_us(void)
{
    uint32_t ms;
    uint32_t val;
    do {
        ms = systick_ms;
        val = SYST_CVR;
    } while (ms != systick_ms);
    return (uint64_t)ms * 1000u + (SYSTICK_RELOAD - val) / (MPS2_SYSCLK_HZ / 1000000u);
}

size_t hl_port_link_read(uint8_t *buf, size_t cap, uint32_t timeout_us)
{
    uint64_t deadline = hl_port_time_us() + timeout_us;
    for (;;) {
        size_t n = 0;
        __asm volatile("cpsid i" ::: "memory");
        while (n < cap && rx_tail != rx_head) {
            buf[n++] = rx_ring[rx_tail & (RX_RING - 1u)];
            rx_tail++;
        }
        /* bytes the ISR left behind (ring was full) or raced past: take them here */
        while (n < cap && rx_tail == rx_head && (UART_STATE & UART_STATE_RXFULL)) {
            buf[n++] = (uint8_t)UART_DATA;
        }
        if (rx_tail == rx_head) {
            UART_CTRL |= UART_CTRL_RXIRQ;
        }
        __asm volatile("cpsie i" ::: "memory");
        if (n > 0 || hl_port_time_us() >= deadline) {
            return n;
        }
        __asm volatile("wfi"); /* the UART or the 1 ms tick wakes us; a missed edge costs 1 ms */
    }
}

hl_status_t hl_port_link_write(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while (UART_STATE & UART_STATE_TXFULL) {
        }
        UART_DATA = data[i];
    }
    return HL_OK;
}

void hl_port_marker(uint8_t stage) { MPS2_FPGAIO_LED = stage; }

#if HL_PORT_HAS_STORAGE
/* The two slots as one storage region for the core's power-safe store (core/src/hl_store.c),
 * programmed like NOR flash: an erase sets bytes to 0xFF and a write can only clear bits, so a
 * write over unerased bytes shows up as a CRC failure here just as it would on a board. */
static uint8_t *const store = &model_slots[0][0];
static const hl_storage_geometry_t geometry = {
    .size = 2u * HL_MPS2_SLOT_BYTES,
    .erase_block = 4096u,
    .write_align = 16u, /* images start 16-byte aligned: tflite-micro reads the flatbuffer in place */
    .erased = 0xFFu,
};

const hl_storage_geometry_t *hl_port_storage_geometry(void) { return &geometry; }

static bool in_region(uint32_t offset, size_t len) { return offset <= geometry.size && len <= geometry.size - offset; }

hl_status_t hl_port_storage_erase(uint32_t offset, uint32_t len)
{
    if (!in_region(offset, len) || offset % geometry.erase_block != 0u || len % geometry.erase_block != 0u) {
        return hl_core_refuse(HL_ERR_INTERNAL, "model store erase outside the region or not block-aligned");
    }
    memset(store + offset, geometry.erased, len);
    return HL_OK;
}

hl_status_t hl_port_storage_write(uint32_t offset, const uint8_t *data, size_t len)
{
    if (!in_region(offset, len)) {
        return hl_core_refuse(HL_ERR_INTERNAL, "model store write outside the region");
    }
    for (size_t i = 0; i < len; i++) {
        store[offset + i] &= data[i];
    }
    return HL_OK;
}

hl_status_t hl_port_storage_read(uint32_t offset, uint8_t *data, size_t len)
{
    if (!in_region(offset, len)) {
        return hl_core_refuse(HL_ERR_INTERNAL, "model store read outside the region");
    }
    memcpy(data, store + offset, len);
    return HL_OK;
}

/* the core's slots are the two halves of the region, so the half an image lies in names its
 * engine slot (interpreter and arena) */
static uint8_t engine_slot(uint32_t offset) { return offset < HL_MPS2_SLOT_BYTES ? 0u : 1u; }

hl_status_t hl_port_model_check(uint32_t offset, hl_model_info_t *info)
{
    if (!in_region(offset, info->size)) {
        return hl_core_refuse(HL_ERR_INTERNAL, "model image outside the store");
    }
    return hl_engine_admit(engine_slot(offset), store + offset, info->size, info);
}

hl_status_t hl_port_model_switch(uint32_t offset, const hl_model_info_t *info)
{
    (void)info;
    hl_engine_activate(engine_slot(offset));
    return HL_OK;
}
#else
hl_status_t hl_port_staging(hl_staging_op_t op, uint32_t offset, uint8_t *data, size_t len)
{
    uint8_t *slot = model_slots[active_slot ^ 1u];
    if (op == HL_STAGING_OPEN) {
        return len <= HL_MPS2_SLOT_BYTES ? HL_OK : hl_core_refuse(HL_ERR_MODEL_TOO_LARGE, "the model slot holds 1 MiB");
    }
    if (offset > HL_MPS2_SLOT_BYTES || len > HL_MPS2_SLOT_BYTES - offset) {
        return HL_ERR_INTERNAL;
    }
    if (op == HL_STAGING_WRITE) {
        memcpy(slot + offset, data, len);
    } else {
        memcpy(data, slot + offset, len);
    }
    return HL_OK;
}

hl_status_t hl_port_model_activate(hl_model_info_t *info)
{
    const uint8_t *img = model_slots[active_slot ^ 1u];
    hl_status_t st = hl_engine_admit((uint8_t)(active_slot ^ 1u), img, info->size, info);
    if (st != HL_OK) {
        return st;
    }
    active_slot ^= 1u; /* the whole activation: one store, then the engine follows */
    hl_engine_activate(active_slot);
    return HL_OK;
}
#endif

hl_status_t hl_port_tensor(hl_tensor_kind_t kind, uint8_t index, uint8_t **data, size_t *len)
{
    return hl_engine_tensor(kind, index, data, len);
}

hl_status_t hl_port_camera_capture(hl_stages_t *st, uint32_t frame_index)
{
    (void)st;
    (void)frame_index;
    return hl_core_refuse(HL_ERR_SOURCE_UNSUPPORTED, "the qemu image has no camera");
}

hl_status_t hl_port_invoke(hl_stages_t *st, bool from_host)
{
    (void)st;
    if (!from_host) {
        return hl_core_refuse(HL_ERR_SOURCE_UNSUPPORTED, "the qemu image has no camera");
    }
    return hl_engine_invoke();
}

void hl_port_reboot(uint8_t mode)
{
    (void)mode;
    REG32(0xE000ED0Cu) = 0x05FA0004u; /* AIRCR.SYSRESETREQ */
    for (;;) {
    }
}

int main(void)
{
    SYST_RVR = SYSTICK_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 0x7u; /* processor clock, interrupt on wrap, enable */
    UART_BAUDDIV = MPS2_SYSCLK_HZ / board.link_bps;
    UART_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_RXIRQ;
    NVIC_ISER0 = 1u << UART0_RX_IRQ;
    if (hl_engine_present) {
        board.capabilities |= HL_CAP_HOST_INPUT;
        board.n_stages = (uint8_t)sizeof frame_stages;
        board.stages = frame_stages;
    }
    hl_core_init(&board);
    for (;;) {
        hl_core_poll(1000);
    }
}
